// The search tester: a query against the knowledge, each hit with its scores and its rank on each side
// of hybrid search (vector and keyword), in whichever mode is chosen.

import * as api from "./api.js";
import { field, h, heading, onSubmit, replace, table } from "./dom.js";

const score = (value) => (value == null ? "—" : value.toFixed(3));
const rank = (value) => (value == null ? "—" : String(value));

export const searchPage = {
  path: "/search",
  title: "Search",
  role: "user",
  async render(main) {
    const problem = h("div", { class: "problem-slot" });
    const results = h("div", { "aria-live": "polite" });
    const form = h(
      "form",
      { class: "card", novalidate: true, "aria-label": "Search the knowledge" },
      field({ label: "Query", name: "query", attrs: { maxlength: "2000" } }),
      h(
        "div",
        { class: "grid" },
        field({ label: "Category", name: "category", hint: "Empty: every category." }),
        field({ label: "Mode", name: "mode", options: ["hybrid", "vector", "keyword"] }),
        field({ label: "Results (1–50)", name: "top_k", value: "5", attrs: { inputmode: "numeric" } }),
        field({ label: "Minimum score (-1–1)", name: "min_score", attrs: { inputmode: "decimal" } }),
      ),
      problem,
      h("button", { type: "submit" }, "Search"),
    );
    onSubmit(form, problem, async () => {
      const number = (name) => (form.elements[name].value.trim() === "" ? undefined : Number(form.elements[name].value));
      const body = {
        query: form.elements.query.value,
        category: form.elements.category.value.trim() || undefined,
        mode: form.elements.mode.value,
        top_k: number("top_k"),
        min_score: number("min_score"),
      };
      const found = await api.post("/api/knowledge/search", body);
      replace(
            results,
            h("h2", {}, `${found.results.length} passages (${body.mode})`),
            table({
              caption: "Search results",
              empty: "No passage matches.",
              rows: found.results.map((result, index) => ({ ...result, rank: index + 1 })),
              columns: [
                { label: "Rank", value: (hit) => String(hit.rank) },
                { label: "Document", value: (hit) => `${hit.source_name}${hit.page == null ? "" : `, page ${hit.page}`}` },
                { label: "Heading", value: (hit) => hit.heading_path.join(" › ") },
                { label: "Score", value: (hit) => score(hit.score) },
                { label: "Similarity", value: (hit) => score(hit.similarity) },
                { label: "Keyword score", value: (hit) => score(hit.keyword_score) },
                { label: "Vector rank", value: (hit) => rank(hit.vector_rank) },
                { label: "Keyword rank", value: (hit) => rank(hit.keyword_rank) },
                { label: "Passage", value: (hit) => h("span", { class: "passage-cell" }, hit.text) },
              ],
            }),
      );
    });
    replace(main, heading("Search"), form, results);
  },
};
