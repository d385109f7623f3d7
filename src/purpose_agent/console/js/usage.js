// Usage: requests, tokens and estimated cost per day, stacked by provider, as a chart and as a table
// (the table is the chart's text alternative). From GET /api/admin/usage.

import * as api from "./api.js";
import { field, fill, h, heading, replace, table } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
// Distinguishable for common colour blindness (Okabe–Ito), each with a name in the legend too.
const COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442"];
const METRICS = {
  requests: { label: "Requests", of: (row) => row.requests, format: (value) => String(value) },
  tokens: { label: "Tokens", of: (row) => row.prompt_tokens + row.completion_tokens, format: (value) => String(value) },
  cost: { label: "Estimated cost (USD)", of: (row) => row.cost_usd ?? 0, format: (value) => `$${value.toFixed(4)}` },
};

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  element.append(...children.map((child) => (child instanceof Node ? child : document.createTextNode(String(child)))));
  return element;
}

function everyDay(since, until) {
  const days = [];
  for (let day = new Date(`${since}T00:00:00Z`); day <= new Date(`${until}T00:00:00Z`); day.setUTCDate(day.getUTCDate() + 1)) {
    days.push(day.toISOString().slice(0, 10));
  }
  return days;
}

/** A bar per day, stacked by provider; its legend names each colour. */
function chart(report, metric) {
  const days = everyDay(report.since, report.until);
  const providers = [...new Set(report.days.map((row) => row.provider ?? "failed"))].sort();
  const totals = new Map(days.map((day) => [day, new Map()]));
  for (const row of report.days) {
    const perProvider = totals.get(row.day);
    if (!perProvider) continue;
    const provider = row.provider ?? "failed";
    perProvider.set(provider, (perProvider.get(provider) ?? 0) + metric.of(row));
  }
  const highest = Math.max(0, ...[...totals.values()].map((perProvider) => [...perProvider.values()].reduce((a, b) => a + b, 0)));
  const width = 720;
  const height = 240;
  const left = 56;
  const bottom = 24;
  const slot = (width - left) / days.length;
  const scale = highest > 0 ? (height - bottom - 8) / highest : 0;
  const bars = [];
  days.forEach((day, index) => {
    let y = height - bottom;
    for (const [position, provider] of providers.entries()) {
      const value = totals.get(day).get(provider) ?? 0;
      if (value <= 0) continue;
      const barHeight = Math.max(1, value * scale);
      y -= barHeight;
      bars.push(
        svg(
          "rect",
          { x: left + index * slot + slot * 0.15, y, width: Math.max(1, slot * 0.7), height: barHeight, fill: COLOURS[position % COLOURS.length], class: "bar" },
          svg("title", {}, `${day} · ${provider}: ${metric.format(value)}`),
        ),
      );
    }
  });
  const labelEvery = Math.ceil(days.length / 8);
  const dayLabels = days
    .map((day, index) =>
      index % labelEvery === 0
        ? svg("text", { x: left + index * slot + slot / 2, y: height - 6, "text-anchor": "middle", class: "axis" }, day.slice(5))
        : null,
    )
    .filter(Boolean);
  const figure = svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${metric.label} per day by provider, ${report.since} to ${report.until}` },
    svg("line", { x1: left, y1: height - bottom, x2: width, y2: height - bottom, class: "axis-line" }),
    svg("text", { x: left - 6, y: 14, "text-anchor": "end", class: "axis" }, metric.format(highest)),
    svg("text", { x: left - 6, y: height - bottom, "text-anchor": "end", class: "axis" }, metric.format(0)),
    ...bars,
    ...dayLabels,
  );
  const legend = h(
    "ul",
    { class: "legend", "aria-label": "Providers" },
    providers.map((provider, position) =>
      h("li", {}, svg("svg", { viewBox: "0 0 10 10", width: 12, height: 12, "aria-hidden": "true" }, svg("rect", { width: 10, height: 10, fill: COLOURS[position % COLOURS.length] })), ` ${provider}`),
    ),
  );
  return h("figure", { class: "chart" }, figure, legend);
}

export const usagePage = {
  path: "/usage",
  title: "Usage",
  role: "admin",
  async render(main) {
    const slot = h("div");
    const range = field({ label: "Days", name: "days", value: "30", options: [["7", "7 days"], ["30", "30 days"], ["90", "90 days"]] });
    const measure = field({ label: "Measure", name: "metric", options: Object.entries(METRICS).map(([name, metric]) => [name, metric.label]) });
    const controls = h("form", { class: "inline-form", "aria-label": "Usage to show" }, range, measure);
    controls.addEventListener("submit", (event) => event.preventDefault());

    async function load() {
      const metric = METRICS[controls.elements.metric.value];
      await fill(slot, () => api.get("/api/admin/usage", { days: controls.elements.days.value }), (report) => [
        report.days.length === 0 ? h("p", { class: "empty" }, "No answer in these days yet.") : chart(report, metric),
        table({
          caption: "Usage per day and model",
          rows: [...report.days].reverse(),
          columns: [
            { label: "Day (UTC)", value: (row) => row.day },
            { label: "Model", value: (row) => row.model_used ?? "none answered" },
            { label: "Requests", value: (row) => String(row.requests) },
            { label: "Prompt tokens", value: (row) => String(row.prompt_tokens) },
            { label: "Completion tokens", value: (row) => String(row.completion_tokens) },
            { label: "Failed attempts", value: (row) => String(row.failed_attempts) },
            { label: "Estimated cost", value: (row) => (row.cost_usd == null ? "—" : `$${row.cost_usd.toFixed(4)}`) },
          ],
        }),
        h("p", { class: "hint" }, "Per agent and per key: not reported by the API yet. Costs are estimates from LLM_PRICES."),
      ]);
    }
    controls.addEventListener("change", load);
    replace(main, heading("Usage"), controls, slot);
    await load();
  },
};
