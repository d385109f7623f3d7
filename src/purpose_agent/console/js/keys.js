// API keys: create (the secret shown once), list, revoke.
//
// What a key has is described once, in KEY_COLUMNS (the table) and KEY_FIELDS (the form): when keys
// gain scopes and quotas in the API, each is one more entry in both lists and nothing else changes.

import * as api from "./api.js";
import { confirmDialog, field, fill, h, heading, onSubmit, replace, showProblem, table, when } from "./dom.js";

const ROLES = ["user", "admin"];

function keyState(key) {
  if (key.revoked_at) return "revoked";
  if (key.expires_at && new Date(key.expires_at) <= new Date()) return "expired";
  return "live";
}

export const KEY_COLUMNS = [
  { label: "Name", value: (key) => key.name },
  { label: "Prefix", value: (key) => h("code", {}, key.prefix) },
  { label: "Role", value: (key) => key.role },
  { label: "State", value: (key) => h("span", { class: `status status-${keyState(key)}` }, keyState(key)) },
  { label: "Created", value: (key) => when(key.created_at) },
  { label: "Expires", value: (key) => (key.expires_at ? when(key.expires_at) : "never") },
  { label: "Last used", value: (key) => when(key.last_used_at) },
];

/** The form's fields, each with how its value goes into the request body. */
export const KEY_FIELDS = [
  { field: { label: "Name", name: "name", hint: "Who or what uses it, e.g. support widget." }, read: (value) => value },
  { field: { label: "Role", name: "role", options: ROLES }, read: (value) => value },
  {
    field: { label: "Expires in days (1–3650)", name: "expires_in_days", hint: "Empty: never.", attrs: { inputmode: "numeric" } },
    read: (value) => (value.trim() === "" ? undefined : Number(value)),
  },
];

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

export const keysPage = {
  path: "/keys",
  title: "Keys",
  role: "admin",
  async render(main) {
    const listSlot = h("div");
    const created = h("div");
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
      const body = Object.fromEntries(KEY_FIELDS.map((entry) => [entry.field.name, entry.read(form.elements[entry.field.name].value)]));
      replace(created, secretBox(await api.post("/api/keys", body)));
      form.reset();
      await load();
    });

    async function revoke(key) {
      if (!(await confirmDialog("Revoke key", `Revoke ${key.name} (${key.prefix}…)? It is refused from its next request.`, "Revoke"))) return;
      try {
        await api.del(`/api/keys/${key.id}`);
        await load();
      } catch (failure) {
        showProblem(problem, failure);
      }
    }

    async function load() {
      await fill(
        listSlot,
        () => api.get("/api/keys", { limit: 100 }),
        (page) => [
          table({
            caption: "API keys",
            rows: page.items,
            columns: [
              ...KEY_COLUMNS,
              {
                label: "Actions",
                value: (key) =>
                  keyState(key) === "live"
                    ? h("button", { type: "button", class: "small danger", "aria-label": `Revoke ${key.name}`, onclick: () => revoke(key) }, "Revoke")
                    : "",
              },
            ],
          }),
          page.total > page.items.length ? h("p", { class: "hint" }, `The newest ${page.items.length} of ${page.total} keys.`) : null,
        ],
      );
    }

    replace(main, heading("Keys"), created, form, listSlot);
    await load();
  },
};
