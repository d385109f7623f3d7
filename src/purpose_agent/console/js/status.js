// The service's readiness: each dependency's check, and each LLM provider with its breaker's state.

import * as api from "./api.js";
import { h, heading, problemBox, replace, table } from "./dom.js";

const REFRESH_MS = 10_000;

export const statusPage = {
  path: "/status",
  title: "Status",
  role: "admin",
  async render(main) {
    const slot = h("div", { "aria-live": "polite" });
    async function load() {
      let ready;
      try {
        ready = await api.get("/health/ready");
      } catch (problem) {
        // A 503 is a problem naming what is down: show it as the service says it.
        replace(slot, problemBox(problem));
        return;
      }
      replace(
        slot,
        h("p", { class: `overall status-${ready.status}` }, `The service is ${ready.status}.`),
        h("h2", {}, "Dependencies"),
        table({
          caption: "Readiness checks",
          rows: Object.entries(ready.checks).map(([name, check]) => ({ name, ...check })),
          columns: [
            { label: "Check", value: (check) => check.name },
            { label: "Status", value: (check) => h("span", { class: `status status-${check.status}` }, check.status) },
            { label: "Latency", value: (check) => (check.latency_ms == null ? "—" : `${check.latency_ms.toFixed(1)} ms`) },
            { label: "Detail", value: (check) => check.detail ?? "" },
          ],
        }),
        h("h2", {}, "LLM providers"),
        table({
          caption: "LLM providers",
          rows: Object.entries(ready.providers).map(([name, provider]) => ({ name, ...provider })),
          columns: [
            { label: "Provider", value: (provider) => provider.name },
            { label: "Configured", value: (provider) => (provider.configured ? "yes" : "no") },
            { label: "In the chain", value: (provider) => (provider.in_chain ? "yes" : "no") },
            { label: "Model", value: (provider) => provider.model },
            { label: "Breaker", value: (provider) => h("span", { class: `status status-${provider.breaker}` }, provider.breaker) },
          ],
        }),
        h("p", { class: "hint" }, `Refreshed every ${REFRESH_MS / 1000} s.`),
      );
    }
    replace(main, heading("Status"), slot);
    await load();
    const timer = setInterval(load, REFRESH_MS);
    return () => clearInterval(timer);
  },
};
