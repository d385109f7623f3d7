// API keys: create (the secret shown once), list, change scope and quotas, read usage, revoke.
//
// What a key has is described once, in KEY_COLUMNS (the table) and KEY_FIELDS (the forms): each of
// its scope and quota fields is one entry in both lists.

import * as api from "./api.js";
import { confirmDialog, field, fill, h, heading, onSubmit, openDialog, replace, showProblem, table, when } from "./dom.js";

const ROLES = ["user", "admin"];
const OPERATIONS = ["chat", "search", "mcp"];
const QUOTAS = {
  requests_per_day: { label: "Requests per day", format: (value) => Math.round(value).toLocaleString("en") },
  tokens_per_day: { label: "Tokens per day", format: (value) => Math.round(value).toLocaleString("en") },
  cost_per_month_usd: { label: "Cost per month", format: (value) => `$${Number(value).toFixed(4)}` },
};

function keyState(key) {
  if (key.revoked_at) return "revoked";
  if (key.expires_at && new Date(key.expires_at) <= new Date()) return "expired";
  return "live";
}

/** A comma-separated list as the API wants it: a list, or null (no limit) when empty. */
function listOf(value) {
  const items = value
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
  return items.length ? items : null;
}

/** A number field as the API wants it: a number, null (no limit) when empty, else the text (the API names it). */
function numberOf(value) {
  const raw = value.trim();
  if (raw === "") return null;
  const number = Number(raw);
  return Number.isNaN(number) ? raw : number;
}

function quotasOf(key) {
  const set = Object.entries(QUOTAS).filter(([name]) => key[name] != null);
  if (set.length === 0) return "none";
  return set.map(([name, quota]) => `${quota.label.toLowerCase()}: ${quota.format(key[name])}`).join("; ");
}

export const KEY_COLUMNS = [
  { label: "Name", value: (key) => key.name },
  { label: "Prefix", value: (key) => h("code", {}, key.prefix) },
  { label: "Role", value: (key) => key.role },
  { label: "Agents", value: (key) => (key.agents ? key.agents.join(", ") : "all") },
  { label: "Operations", value: (key) => (key.operations ? key.operations.join(", ") || "none" : "all") },
  { label: "Quotas", value: quotasOf },
  { label: "State", value: (key) => h("span", { class: `status status-${keyState(key)}` }, keyState(key)) },
  { label: "Expires", value: (key) => (key.expires_at ? when(key.expires_at) : "never") },
  { label: "Last used", value: (key) => when(key.last_used_at) },
];

/**
 * The forms' fields: how each shows a key's value (`shown`), how its text goes into the request body
 * (`read`), and whether it can be changed once the key exists (`editable`: PATCH /api/keys/{id}).
 */
export const KEY_FIELDS = [
  {
    field: { label: "Name", name: "name", hint: "Who or what uses it, e.g. support widget." },
    shown: (key) => key.name,
    read: (value) => value,
    editable: true,
  },
  { field: { label: "Role", name: "role", options: ROLES }, shown: (key) => key.role, read: (value) => value },
  {
    field: { label: "Expires in days (1–3650)", name: "expires_in_days", hint: "Empty: never.", attrs: { inputmode: "numeric" } },
    read: numberOf,
  },
  {
    field: { label: "Agents", name: "agents", hint: "Persona ids, comma-separated. Empty: every agent." },
    shown: (key) => (key.agents ?? []).join(", "),
    read: listOf,
    editable: true,
  },
  {
    field: { label: "Operations", name: "operations", hint: `Any of ${OPERATIONS.join(", ")}, comma-separated. Empty: every one.` },
    shown: (key) => (key.operations ?? []).join(", "),
    read: listOf,
    editable: true,
  },
  ...Object.entries(QUOTAS).map(([name, quota]) => ({
    field: { label: quota.label, name, hint: name === "cost_per_month_usd" ? "US dollars, estimated. Empty: no quota." : "Empty: no quota.", attrs: { inputmode: name === "cost_per_month_usd" ? "decimal" : "numeric" } },
    shown: (key) => (key[name] == null ? "" : String(key[name])),
    read: numberOf,
    editable: true,
  })),
];

function bodyOf(form, entries) {
  return Object.fromEntries(entries.map((entry) => [entry.field.name, entry.read(form.elements[entry.field.name].value)]));
}

function secretBox(created) {
  const secret = h("code", { class: "secret", "data-testid": "new-key" }, created.key);
  const copy = h("button", { type: "button", class: "small secondary" }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(created.key);
      copy.textContent = "Copied";
    } catch {
      copy.textContent = "Select and copy it";
    }
  });
  return h(
    "div",
    { class: "card secret-box", role: "status" },
    h("h2", {}, `Key “${created.name}” created`),
    h("p", {}, "Copy it now: this is the only time it is shown. Only its digest is stored."),
    h("p", {}, secret, " ", copy),
  );
}

/** Each quota now: what was used of it in its period, with a meter, and when the period resets. */
function quotaUse(usage) {
  return h(
    "ul",
    { class: "quota-use", "aria-label": "Quotas now" },
    usage.quotas.map((quota) => {
      const kind = QUOTAS[quota.quota];
      const used = kind.format(quota.used);
      if (quota.limit == null) return h("li", {}, h("strong", {}, kind.label), ` ${used} used (no quota)`);
      const share = quota.limit > 0 ? Math.min(1, quota.used / quota.limit) : 1;
      return h(
        "li",
        {},
        h("strong", {}, kind.label),
        ` ${used} of ${kind.format(quota.limit)} used (${Math.round(share * 100)}%), ${kind.format(quota.remaining)} left until `,
        when(quota.reset),
        h("meter", { min: "0", max: "1", low: "0.75", high: "0.9", optimum: "0", value: String(share), "aria-label": `${kind.label} used` }),
      );
    }),
  );
}

function usageView(usage) {
  const used = usage.days.filter((day) => day.requests > 0 || day.total_tokens > 0);
  return [
    quotaUse(usage),
    h(
      "p",
      {},
      `From ${usage.start} to ${usage.end} (UTC): ${usage.total.requests} requests, ${usage.total.total_tokens} tokens `,
      `(${usage.total.prompt_tokens} prompt, ${usage.total.completion_tokens} completion), $${usage.total.cost_usd.toFixed(4)} estimated.`,
    ),
    table({
      caption: `Usage of ${usage.name} per day`,
      empty: "No request in these days.",
      rows: [...used].reverse(),
      columns: [
        { label: "Day (UTC)", value: (day) => day.day },
        { label: "Requests", value: (day) => String(day.requests) },
        { label: "Tokens", value: (day) => String(day.total_tokens) },
        { label: "Estimated cost", value: (day) => `$${day.cost_usd.toFixed(4)}` },
      ],
    }),
  ];
}

function showUsage(key) {
  const slot = h("div", { "aria-live": "polite" }, h("p", {}, "Loading…"));
  openDialog(`Usage of ${key.name}`, slot);
  return fill(slot, () => api.get(`/api/keys/${key.id}/usage`), usageView);
}

export const keysPage = {
  path: "/keys",
  title: "Keys",
  role: "admin",
  async render(main) {
    const listSlot = h("div");
    const created = h("div");
    const status = h("div", { class: "problem-slot", "aria-live": "polite" });
    const problem = h("div", { class: "problem-slot" });
    const form = h(
      "form",
      { class: "card", novalidate: true, "aria-labelledby": "new-key-title" },
      h("h2", { id: "new-key-title" }, "New key"),
      h("div", { class: "grid" }, KEY_FIELDS.map((entry) => field(entry.field))),
      problem,
      h("button", { type: "submit" }, "Create key"),
    );
    onSubmit(form, problem, async () => {
      replace(created, secretBox(await api.post("/api/keys", bodyOf(form, KEY_FIELDS))));
      form.reset();
      await load();
    });

    function edit(key) {
      const editable = KEY_FIELDS.filter((entry) => entry.editable);
      const slot = h("div", { class: "problem-slot" });
      const editForm = h(
        "form",
        { novalidate: true, "aria-label": `Edit ${key.name}` },
        h("div", { class: "grid" }, editable.map((entry) => field({ ...entry.field, value: entry.shown(key) }))),
        slot,
        h("button", { type: "submit" }, "Save changes"),
      );
      const { dialog } = openDialog(`Key ${key.name} (${key.prefix}…)`, editForm);
      onSubmit(editForm, slot, async () => {
        // Every field is sent: an emptied one lifts its limit (null).
        const saved = await api.patch(`/api/keys/${key.id}`, bodyOf(editForm, editable));
        dialog.close();
        replace(status, h("p", { class: "notice success" }, `Key ${saved.name} saved: it holds from its next request.`));
        await load();
      });
    }

    async function revoke(key) {
      if (!(await confirmDialog("Revoke key", `Revoke ${key.name} (${key.prefix}…)? It is refused from its next request.`, "Revoke"))) return;
      try {
        await api.del(`/api/keys/${key.id}`);
        await load();
      } catch (failure) {
        showProblem(problem, failure);
      }
    }

    function actions(key) {
      const live = keyState(key) === "live";
      return h(
        "div",
        { class: "row-actions" },
        live ? h("button", { type: "button", class: "small secondary", "aria-label": `Edit ${key.name}`, onclick: () => edit(key) }, "Edit") : null,
        h("button", { type: "button", class: "small secondary", "aria-label": `Usage of ${key.name}`, onclick: () => showUsage(key) }, "Usage"),
        live ? h("button", { type: "button", class: "small danger", "aria-label": `Revoke ${key.name}`, onclick: () => revoke(key) }, "Revoke") : null,
      );
    }

    async function load() {
      await fill(
        listSlot,
        () => api.get("/api/keys", { limit: 100 }),
        (page) => [
          table({ caption: "API keys", rows: page.items, columns: [...KEY_COLUMNS, { label: "Actions", value: actions }] }),
          page.total > page.items.length ? h("p", { class: "hint" }, `The newest ${page.items.length} of ${page.total} keys.`) : null,
        ],
      );
    }

    replace(main, heading("Keys"), created, status, form, listSlot);
    await load();
  },
};
