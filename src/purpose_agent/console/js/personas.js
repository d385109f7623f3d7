// Personas: list, create, edit, delete, and import/export of a personas file, with the API's
// validation messages next to the fields they concern.

import * as api from "./api.js";
import { busy, confirmDialog, download, field, h, heading, onSubmit, problemBox, replace, table } from "./dom.js";

/** A number field's value as the API wants it: a number, or left out (its default) when empty. */
function numberOf(form, name) {
  const raw = form.elements[name].value.trim();
  if (raw === "") return undefined;
  const value = Number(raw);
  return Number.isNaN(value) ? raw : value; // the API names a non-number as such
}

function textOrNull(form, name) {
  const value = form.elements[name].value.trim();
  return value === "" ? null : value;
}

function personaFrom(form, creating) {
  const chain = form.elements.llm_chain.value
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  const persona = {
    name: form.elements.name.value,
    description: form.elements.description.value,
    instructions: form.elements.instructions.value,
    retrieval: form.elements.retrieval.checked,
    knowledge_category: textOrNull(form, "knowledge_category"),
    temperature: numberOf(form, "temperature"),
    max_tokens: numberOf(form, "max_tokens"),
    top_k: numberOf(form, "top_k"),
    min_score: numberOf(form, "min_score"),
    llm_chain: chain.length ? chain : null,
    llm_model: textOrNull(form, "llm_model"),
  };
  if (creating) persona.id = form.elements.id.value.trim();
  return persona;
}

function personaForm(persona, categories, { onSaved, onCancel }) {
  const creating = persona === null;
  const p = persona ?? {};
  const problem = h("div", { class: "problem-slot" });
  const save = h("button", { type: "submit" }, creating ? "Create persona" : "Save changes");
  const form = h(
    "form",
    { class: "card persona-form", novalidate: true, "aria-labelledby": "persona-form-title" },
    h("h2", { id: "persona-form-title" }, creating ? "New persona" : `Edit ${p.id}`),
    creating
      ? field({ label: "Id", name: "id", hint: "Lowercase letters, digits and dashes: the agent_id questions name." })
      : null,
    field({ label: "Name", name: "name", value: p.name ?? "" }),
    field({ label: "Description", name: "description", value: p.description ?? "" }),
    field({
      label: "Instructions (style and tone)",
      name: "instructions",
      type: "textarea",
      value: p.instructions ?? "",
      attrs: { rows: "4" },
    }),
    field({
      label: "Answers from its knowledge (retrieval)",
      name: "retrieval",
      type: "checkbox",
      value: p.retrieval ?? true,
    }),
    field({
      label: "Knowledge category",
      name: "knowledge_category",
      value: p.knowledge_category ?? "",
      hint: categories.length ? `Existing: ${categories.join(", ")}` : "Needed when it answers from its knowledge.",
    }),
    h(
      "div",
      { class: "grid" },
      field({ label: "Temperature (0–2)", name: "temperature", value: p.temperature ?? "", attrs: { inputmode: "decimal" } }),
      field({ label: "Max tokens (1–32000)", name: "max_tokens", value: p.max_tokens ?? "", attrs: { inputmode: "numeric" } }),
      field({ label: "Passages per question (1–50)", name: "top_k", value: p.top_k ?? "", attrs: { inputmode: "numeric" } }),
      field({ label: "Minimum similarity (-1–1)", name: "min_score", value: p.min_score ?? "", attrs: { inputmode: "decimal" } }),
    ),
    field({
      label: "Providers, in order",
      name: "llm_chain",
      value: (p.llm_chain ?? []).join(", "),
      hint: "Comma-separated; empty: the service's chain.",
    }),
    field({ label: "Model", name: "llm_model", value: p.llm_model ?? "", hint: "Empty: each provider's own." }),
    problem,
    h(
      "div",
      { class: "actions" },
      save,
      h("button", { type: "button", class: "secondary", onclick: onCancel }, "Cancel"),
    ),
  );
  onSubmit(form, problem, async () => {
    const data = personaFrom(form, creating);
    const saved = creating
      ? await api.post("/api/personas", data)
      : await api.put(`/api/personas/${encodeURIComponent(p.id)}`, data);
    await onSaved(saved, creating ? "created" : "saved");
  });
  return form;
}

/** The persona as a personas file holds it: its fields in the API's order, without timestamps. */
function asFileEntry({ created_at: _created, updated_at: _updated, ...persona }) {
  return persona;
}

async function importFile(file, existing) {
  const text = await file.text();
  let entries;
  try {
    entries = JSON.parse(text).personas;
  } catch (error) {
    return [{ id: file.name, outcome: "refused", problem: { title: "Not a JSON personas file", detail: String(error.message) } }];
  }
  if (!Array.isArray(entries)) {
    return [{ id: file.name, outcome: "refused", problem: { title: "Not a personas file", detail: 'It needs {"personas": [...]}.' } }];
  }
  const results = [];
  for (const [position, entry] of entries.entries()) {
    const id = typeof entry?.id === "string" ? entry.id : `#${position + 1}`;
    try {
      if (existing.has(id)) {
        const { id: _, ...fields } = entry;
        await api.put(`/api/personas/${encodeURIComponent(id)}`, fields);
        results.push({ id, outcome: "updated" });
      } else {
        await api.post("/api/personas", entry);
        results.push({ id, outcome: "created" });
      }
    } catch (problem) {
      results.push({ id, outcome: "refused", problem });
    }
  }
  return results;
}

export const personasPage = {
  path: "/personas",
  title: "Personas",
  role: "admin",
  async render(main) {
    const listSlot = h("div");
    const editor = h("div");
    const status = h("div", { class: "problem-slot", "aria-live": "polite" });
    let personas = [];
    let categories = [];

    async function load() {
      try {
        [personas, categories] = await Promise.all([
          api.get("/api/personas"),
          api.get("/api/knowledge/categories").then((list) => list.map((category) => category.name)),
        ]);
        showList();
      } catch (problem) {
        replace(listSlot, problemBox(problem));
      }
    }

    function edit(persona) {
      replace(
        editor,
        personaForm(persona, categories, {
          onSaved: async (saved, verb) => {
            replace(editor);
            replace(status, h("p", { class: "notice success" }, `Persona ${saved.id} ${verb}.`));
            await load();
          },
          onCancel: () => replace(editor),
        }),
      );
      editor.querySelector("input, textarea").focus();
    }

    async function remove(persona, button) {
      if (!(await confirmDialog("Delete persona", `Delete ${persona.id} (${persona.name}) and its conversations?`, "Delete"))) return;
      await busy(button, async () => {
        try {
          await api.del(`/api/personas/${encodeURIComponent(persona.id)}`);
        } catch (problem) {
          if (problem.status !== 409) throw problem;
          const force = await confirmDialog("Conversations are live", `${problem.detail} Delete it anyway?`, "Delete anyway");
          if (!force) return;
          await api.del(`/api/personas/${encodeURIComponent(persona.id)}`, { force: "true" });
        }
        replace(status, h("p", { class: "notice success" }, `Persona ${persona.id} deleted.`));
        await load();
      }).catch((problem) => replace(status, problemBox(problem)));
    }

    function showList() {
      replace(
        listSlot,
        table({
          caption: "Persona list",
          empty: "No persona yet.",
          rows: personas,
          columns: [
            { label: "Id", value: (persona) => h("code", {}, persona.id) },
            { label: "Name", value: (persona) => h("span", { class: "persona-name" }, persona.name) },
            { label: "Knowledge", value: (persona) => (persona.retrieval ? persona.knowledge_category : "none (retrieval off)") },
            { label: "Temperature", value: (persona) => String(persona.temperature) },
            {
              label: "Actions",
              value: (persona) =>
                h(
                  "div",
                  { class: "row-actions" },
                  h("button", { type: "button", class: "small", "aria-label": `Edit ${persona.id}`, onclick: () => edit(persona) }, "Edit"),
                  h(
                    "button",
                    {
                      type: "button",
                      class: "small danger",
                      "aria-label": `Delete ${persona.id}`,
                      onclick: (event) => remove(persona, event.currentTarget),
                    },
                    "Delete",
                  ),
                ),
            },
          ],
        }),
      );
    }

    const importInput = h("input", {
      type: "file",
      accept: ".json,application/json",
      hidden: true,
      "aria-label": "Personas file to import",
    });
    importInput.addEventListener("change", async () => {
      const [file] = importInput.files;
      if (!file) return;
      let results;
      try {
        // Which ids exist decides create or replace: asked now, not taken from the list on screen.
        const existing = new Set((await api.get("/api/personas")).map((persona) => persona.id));
        results = await importFile(file, existing);
      } catch (problem) {
        results = [{ id: file.name, outcome: "refused", problem }];
      }
      importInput.value = "";
      replace(
        status,
        h(
          "div",
          { class: "card" },
          h("h2", {}, `Imported ${file.name}`),
          h(
            "ul",
            {},
            results.map((result) =>
              h("li", {}, `${result.id}: ${result.outcome}`, result.problem ? problemBox(result.problem) : null),
            ),
          ),
        ),
      );
      await load();
    });

    replace(
      main,
      heading("Personas"),
      h(
        "div",
        { class: "toolbar" },
        h("button", { type: "button", onclick: () => edit(null) }, "New persona"),
        h(
          "button",
          {
            type: "button",
            class: "secondary",
            // Read afresh: the file holds what the service has now, whatever this page shows.
            onclick: (event) =>
              busy(event.currentTarget, async () => {
                try {
                  const current = await api.get("/api/personas");
                  download("personas.json", `${JSON.stringify({ personas: current.map(asFileEntry) }, null, 2)}\n`);
                } catch (problem) {
                  replace(status, problemBox(problem));
                }
              }),
          },
          "Export personas file",
        ),
        h("button", { type: "button", class: "secondary", onclick: () => importInput.click() }, "Import personas file (JSON)"),
        importInput,
      ),
      status,
      editor,
      listSlot,
    );
    await load();
  },
};
