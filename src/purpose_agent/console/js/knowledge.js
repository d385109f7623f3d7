// Knowledge: categories, uploads by drag and drop with each ingestion's live progress, and the
// documents with their status, filters and re-ingestion.

import * as api from "./api.js";
import { busy, confirmDialog, field, fill, h, heading, onSubmit, pager, problemBox, replace, showProblem, table, when } from "./dom.js";

const POLL_MS = 500;
const PAGE_SIZE = 20;
const STATUSES = ["queued", "processing", "ready", "failed"];
const FINAL_JOB_STATES = new Set(["succeeded", "failed", "cancelled", "aborted"]);

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** One uploaded file's row: its name, a progress bar and what the service says of it. */
function uploadRow(file) {
  const bar = h("progress", { max: "1", value: "0", "aria-label": `Progress of ${file.name}` });
  const state = h("span", { class: "upload-state" }, "uploading…");
  const detail = h("div", { class: "upload-detail" });
  const element = h("li", { class: "upload" }, h("span", { class: "upload-name" }, file.name), bar, state, detail);
  return {
    element,
    progress(job) {
      const progress = job.progress ?? { pages_parsed: 0, chunks_embedded: 0, chunks_total: 0 };
      const documentStatus = job.document?.status ?? job.status;
      state.textContent = `${documentStatus}: ${progress.pages_parsed} pages parsed, ${progress.chunks_embedded} of ${progress.chunks_total} chunks embedded`;
      element.dataset.status = documentStatus;
      if (progress.chunks_total > 0) {
        bar.max = progress.chunks_total;
        bar.value = progress.chunks_embedded;
      }
      if (documentStatus === "ready") {
        bar.max = 1;
        bar.value = 1;
      }
      replace(detail, job.error ? problemBox({ title: "Ingestion failed", detail: job.error }) : null);
    },
    settled(text, status) {
      state.textContent = text;
      element.dataset.status = status;
      bar.max = 1;
      bar.value = 1;
    },
    refused(problem) {
      element.dataset.status = "refused";
      state.textContent = "refused";
      bar.remove();
      replace(detail, problemBox(problem));
    },
  };
}

async function followJob(jobId, row, signal) {
  while (!signal.aborted) {
    try {
      const job = await api.get(`/api/jobs/${jobId}`);
      row.progress(job);
      if (FINAL_JOB_STATES.has(job.status)) return;
    } catch (problem) {
      row.refused(problem);
      return;
    }
    await sleep(POLL_MS, signal);
  }
}

async function uploadOne(file, category, row, signal) {
  const form = new FormData();
  form.append("category", category);
  form.append("file", file, file.name);
  try {
    const accepted = await api.call("POST", "/api/knowledge/documents", { form, signal });
    if (accepted.outcome === "unchanged" || accepted.job_id === null) {
      row.settled(`unchanged: the same file is already ${accepted.status}`, accepted.status);
      return;
    }
    await followJob(accepted.job_id, row, signal);
  } catch (problem) {
    if (problem.name !== "AbortError") row.refused(problem);
  }
}

export const knowledgePage = {
  path: "/knowledge",
  title: "Knowledge",
  role: "admin",
  async render(main) {
    const stop = new AbortController();
    let categories = [];
    const filters = { category: "", status: "", offset: 0 };

    // Categories
    const categoriesSlot = h("div");
    const categoryProblem = h("div", { class: "problem-slot" });
    const categoryForm = h(
      "form",
      { class: "inline-form", novalidate: true, "aria-label": "Create a category" },
      field({ label: "New category", name: "name", hint: "Lowercase letters, digits and dashes." }),
      field({ label: "Description", name: "description" }),
      h("button", { type: "submit" }, "Create category"),
    );
    onSubmit(categoryForm, categoryProblem, async () => {
      await api.post("/api/knowledge/categories", {
        name: categoryForm.elements.name.value.trim(),
        description: categoryForm.elements.description.value,
      });
      categoryForm.reset();
      await loadCategories();
    });

    async function loadCategories() {
      await fill(categoriesSlot, async () => (categories = await api.get("/api/knowledge/categories")), () =>
        table({
          caption: "Category list",
          empty: "No category yet: create one to upload documents into.",
          rows: categories,
          columns: [
            { label: "Name", value: (category) => h("code", {}, category.name) },
            { label: "Description", value: (category) => category.description },
            { label: "Documents", value: (category) => String(category.documents) },
            {
              label: "Actions",
              value: (category) =>
                h(
                  "button",
                  {
                    type: "button",
                    class: "small danger",
                    "aria-label": `Delete category ${category.name}`,
                    onclick: async () => {
                      if (!(await confirmDialog("Delete category", `Delete the category ${category.name}?`, "Delete"))) return;
                      try {
                        await api.del(`/api/knowledge/categories/${encodeURIComponent(category.name)}`);
                        await loadCategories();
                      } catch (problem) {
                        showProblem(categoryProblem, problem);
                      }
                    },
                  },
                  "Delete",
                ),
            },
          ],
        }),
      );
      refreshCategoryChoices();
    }

    // Upload
    const uploadCategory = field({ label: "Upload into category", name: "upload-category", options: [] });
    const filterCategory = field({ label: "Category", name: "category", options: [] });
    function refreshCategoryChoices() {
      const names = categories.map((category) => category.name);
      const keep = uploadCategory.querySelector("select").value;
      replace(uploadCategory.querySelector("select"), names.map((name) => h("option", { value: name, selected: name === keep }, name)));
      const keepFilter = filterCategory.querySelector("select").value;
      replace(
        filterCategory.querySelector("select"),
        h("option", { value: "" }, "All categories"),
        names.map((name) => h("option", { value: name, selected: name === keepFilter }, name)),
      );
    }
    const uploads = h("ul", { class: "uploads", "aria-label": "Uploads" });
    const fileInput = h("input", { type: "file", multiple: true, hidden: true, "aria-label": "Files to upload" });
    const dropZone = h(
      "div",
      { class: "drop-zone" },
      h("p", {}, "Drop files here (PDF, DOCX, Markdown, HTML, text), or"),
      h("button", { type: "button", class: "secondary", onclick: () => fileInput.click() }, "Choose files"),
      fileInput,
    );
    function upload(files) {
      const category = uploadCategory.querySelector("select").value;
      if (!category) {
        uploads.prepend(h("li", {}, problemBox({ title: "No category", detail: "Create a category first." })));
        return;
      }
      for (const file of files) {
        const row = uploadRow(file);
        uploads.prepend(row.element);
        uploadOne(file, category, row, stop.signal).then(() => loadDocuments());
      }
    }
    fileInput.addEventListener("change", () => {
      upload([...fileInput.files]);
      fileInput.value = "";
    });
    dropZone.addEventListener("dragover", (event) => {
      event.preventDefault();
      dropZone.classList.add("dragging");
    });
    dropZone.addEventListener("dragleave", () => dropZone.classList.remove("dragging"));
    dropZone.addEventListener("drop", (event) => {
      event.preventDefault();
      dropZone.classList.remove("dragging");
      upload([...event.dataTransfer.files]);
    });

    // Documents
    const documentsSlot = h("div");
    const documentsProblem = h("div", { class: "problem-slot" });
    const statusFilter = field({
      label: "Status",
      name: "status",
      options: [["", "Any status"], ...STATUSES.map((status) => [status, status])],
    });
    const filterForm = h("form", { class: "inline-form", "aria-label": "Filter documents" }, filterCategory, statusFilter);
    filterForm.addEventListener("change", () => {
      filters.category = filterForm.elements.category.value;
      filters.status = filterForm.elements.status.value;
      filters.offset = 0;
      loadDocuments();
    });
    filterForm.addEventListener("submit", (event) => event.preventDefault());

    async function loadDocuments() {
      const query = { category: filters.category, status: filters.status, limit: PAGE_SIZE, offset: filters.offset };
      await fill(documentsSlot, () => api.get("/api/knowledge/documents", query), (page) => [
        table({
          caption: "Document list",
          empty: "No document matches.",
          rows: page.items,
          columns: [
            { label: "Document", value: (doc) => doc.source_name },
            { label: "Category", value: (doc) => doc.category },
            {
              label: "Status",
              value: (doc) =>
                h("span", { class: `status status-${doc.status}` }, doc.status, doc.error ? h("span", { class: "doc-error" }, `: ${doc.error}`) : null),
            },
            { label: "Pages", value: (doc) => (doc.pages == null ? "—" : String(doc.pages)) },
            { label: "Chunks", value: (doc) => String(doc.chunk_count) },
            { label: "Updated", value: (doc) => when(doc.updated_at) },
            {
              label: "Actions",
              value: (doc) =>
                h(
                  "div",
                  { class: "row-actions" },
                  h(
                    "button",
                    {
                      type: "button",
                      class: "small secondary",
                      "aria-label": `Re-ingest ${doc.source_name}`,
                      onclick: async (event) => {
                        const row = uploadRow({ name: doc.source_name });
                        uploads.prepend(row.element);
                        await busy(event.currentTarget, async () => {
                          try {
                            const accepted = await api.post(`/api/knowledge/documents/${doc.id}/reingest`, {});
                            if (accepted.job_id !== null) await followJob(accepted.job_id, row, stop.signal);
                          } catch (problem) {
                            row.refused(problem);
                          }
                        });
                        await loadDocuments();
                      },
                    },
                    "Re-ingest",
                  ),
                  h(
                    "button",
                    {
                      type: "button",
                      class: "small danger",
                      "aria-label": `Delete ${doc.source_name}`,
                      onclick: async () => {
                        if (!(await confirmDialog("Delete document", `Delete ${doc.source_name} and its passages?`, "Delete"))) return;
                        try {
                          await api.del(`/api/knowledge/documents/${doc.id}`);
                        } catch (problem) {
                          showProblem(documentsProblem, problem);
                        }
                        await loadDocuments();
                        await loadCategories();
                      },
                    },
                    "Delete",
                  ),
                ),
            },
          ],
        }),
        pager(page, PAGE_SIZE, (to) => {
          filters.offset = to;
          loadDocuments();
        }),
      ]);
    }

    replace(
      main,
      heading("Knowledge"),
      h("section", { "aria-labelledby": "categories-title" }, h("h2", { id: "categories-title" }, "Categories"), categoriesSlot, categoryForm, categoryProblem),
      h("section", { "aria-labelledby": "upload-title" }, h("h2", { id: "upload-title" }, "Upload"), uploadCategory, dropZone, uploads),
      h("section", { "aria-labelledby": "documents-title" }, h("h2", { id: "documents-title" }, "Documents"), filterForm, documentsProblem, documentsSlot),
    );
    await loadCategories();
    await loadDocuments();
    return () => stop.abort();
  },
};
