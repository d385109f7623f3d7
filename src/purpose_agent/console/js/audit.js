// The audit log, newest first, with the API's filters (actor, action or action prefix, target,
// outcome, time range) and paging.

import * as api from "./api.js";
import { field, h, heading, onSubmit, pager, replace, table, when } from "./dom.js";

const PAGE_SIZE = 50;

/** A datetime-local value (the browser's local time) as ISO 8601 with an offset, as the API wants. */
function isoOf(local) {
  return local ? new Date(local).toISOString() : undefined;
}

export const auditPage = {
  path: "/audit",
  title: "Audit log",
  role: "admin",
  async render(main) {
    const problem = h("div", { class: "problem-slot" });
    const results = h("div");
    let offset = 0;
    const form = h(
      "form",
      { class: "card", novalidate: true, "aria-label": "Filter the audit log" },
      h(
        "div",
        { class: "grid" },
        field({ label: "Actor", name: "actor", hint: "e.g. key:<uuid>, user:<uuid>, a username" }),
        field({ label: "Action", name: "action", hint: "persona.create, or a prefix such as persona." }),
        field({ label: "Target", name: "target" }),
        field({ label: "Outcome", name: "outcome", hint: "ok, failed, refused…" }),
        field({ label: "Since", name: "since", type: "datetime-local" }),
        field({ label: "Until", name: "until", type: "datetime-local" }),
      ),
      problem,
      h("button", { type: "submit" }, "Apply filters"),
    );

    // Throws the API's problem: the form's submit handler shows it next to the filter it names.
    async function load() {
      const query = {
        actor: form.elements.actor.value.trim(),
        action: form.elements.action.value.trim(),
        target: form.elements.target.value.trim(),
        outcome: form.elements.outcome.value.trim(),
        since: isoOf(form.elements.since.value),
        until: isoOf(form.elements.until.value),
        limit: PAGE_SIZE,
        offset,
      };
      const page = await api.get("/api/admin/audit", query);
      replace(
        results,
        table({
          caption: "Audit entries",
          empty: "No entry matches.",
          rows: page.items,
          columns: [
            { label: "When", value: (entry) => when(entry.at) },
            { label: "Actor", value: (entry) => h("span", {}, entry.details?.actor_name ? `${entry.details.actor_name} (${entry.actor})` : entry.actor) },
            { label: "Action", value: (entry) => h("code", {}, entry.action) },
            { label: "Target", value: (entry) => entry.target ?? "—" },
            { label: "Outcome", value: (entry) => entry.outcome },
            { label: "Address", value: (entry) => entry.client_address ?? "—" },
            { label: "Request", value: (entry) => entry.request_id ?? "—" },
            { label: "Details", value: (entry) => (entry.details ? h("code", { class: "details" }, JSON.stringify(entry.details)) : "—") },
          ],
        }),
        pager(page, PAGE_SIZE, (to) => {
          offset = to;
          form.requestSubmit();
        }, ["Newer", "Older"]),
      );
    }

    onSubmit(form, problem, load);
    form.addEventListener("input", () => {
      offset = 0; // new filters start from the newest entry
    });
    replace(main, heading("Audit log"), form, results);
    form.requestSubmit();
  },
};
