// Building the page from data without ever parsing data as HTML.
//
// Every string given to `h` becomes a text node or an attribute value: a persona named
// `<img src=x onerror=alert(1)>` shows those characters. The page's policy requires Trusted Types,
// so an `innerHTML = string` anywhere would be refused by the browser, not only avoided here.

/** An element: `h("button", {class: "x", onclick: f}, "text", child, [more])`. */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      element.className = value;
    } else if (name === "value" || name === "checked" || name === "selected") {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace what `parent` holds. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
  return parent;
}

let ids = 0;
/** An id unique on the page, for label/input and aria-describedby pairs. */
export function uid(prefix = "f") {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** Say `text` to screen readers without moving focus. */
export function announce(text) {
  const region = document.getElementById("announcer");
  region.textContent = "";
  // A new text node after a tick is what makes every screen reader speak a repeated message.
  setTimeout(() => {
    region.textContent = text;
  }, 30);
}

/** The API's problem as a block: its title, its detail, and where the service said to wait. */
export function problemBox(problem) {
  const retry = problem.retryAfter ? ` Try again in ${problem.retryAfter} s.` : "";
  return h(
    "div",
    { class: "problem", role: "alert" },
    h("strong", {}, problem.title ?? "Something went wrong"),
    problem.detail || retry ? h("span", {}, ` ${problem.detail ?? ""}${retry}`) : null,
  );
}

/** Show `problem` in `slot` (an element kept for it), or clear the slot when problem is null. */
export function showProblem(slot, problem) {
  if (problem === null) replace(slot);
  else replace(slot, problemBox(problem));
}

/**
 * A labelled field: `{label, name, type, value, hint, options, attrs}`; `options` makes a select,
 * `type: "textarea"` a textarea. Its error slot is filled by `showFieldErrors`.
 */
export function field({ label, name, type = "text", value = "", hint, options, attrs = {} }) {
  const id = uid(name);
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  const describedBy = [hintId, errorId].filter(Boolean).join(" ");
  let control;
  if (options) {
    control = h(
      "select",
      { id, name, "aria-describedby": describedBy, ...attrs },
      options.map((option) => {
        const [optionValue, text] = Array.isArray(option) ? option : [option, option];
        return h("option", { value: optionValue, selected: String(optionValue) === String(value) }, text);
      }),
    );
  } else if (type === "textarea") {
    control = h("textarea", { id, name, "aria-describedby": describedBy, ...attrs });
    control.value = value ?? "";
  } else if (type === "checkbox") {
    control = h("input", { id, name, type, checked: Boolean(value), "aria-describedby": describedBy, ...attrs });
  } else {
    control = h("input", { id, name, type, value: value ?? "", "aria-describedby": describedBy, ...attrs });
  }
  const wrapper = h(
    "div",
    { class: type === "checkbox" ? "field checkbox" : "field", "data-field": name },
    type === "checkbox" ? [control, h("label", { for: id }, label)] : [h("label", { for: id }, label), control],
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    h("p", { class: "field-error", id: errorId }),
  );
  return wrapper;
}

/**
 * Put each of the problem's field errors (`body.temperature`, `query.since`, …) next to its field in
 * `form`; returns the errors no field of the form could take, for the form's own problem box.
 */
export function showFieldErrors(form, problem) {
  clearFieldErrors(form);
  const unplaced = [];
  let first = null;
  for (const error of problem?.errors ?? []) {
    const name = String(error.field ?? "").split(".").slice(1).join(".") || String(error.field ?? "");
    const wrapper = form.querySelector(`[data-field="${CSS.escape(name.split(".")[0])}"]`);
    if (!wrapper) {
      unplaced.push(error);
      continue;
    }
    const slot = wrapper.querySelector(".field-error");
    slot.textContent = slot.textContent ? `${slot.textContent} ${error.message}` : error.message;
    const control = wrapper.querySelector("input, select, textarea");
    control.setAttribute("aria-invalid", "true");
    first ??= control;
  }
  first?.focus();
  return unplaced;
}

export function clearFieldErrors(form) {
  for (const slot of form.querySelectorAll(".field-error")) slot.textContent = "";
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
}

/**
 * A table of `rows` with `columns` = [{label, value(row) -> text or Node}], in a region that scrolls
 * sideways on a narrow screen (focusable, so the keyboard can scroll it too).
 */
export function table({ caption, columns, rows, empty = "Nothing here yet." }) {
  if (rows.length === 0) return h("p", { class: "empty" }, empty);
  return h(
    "div",
    { class: "table-scroll", role: "region", "aria-label": caption, tabindex: "0" },
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, columns.map((column) => h("th", { scope: "col" }, column.label)))),
      h(
        "tbody",
        {},
        rows.map((row) => h("tr", {}, columns.map((column) => h("td", {}, column.value(row) ?? "")))),
      ),
    ),
  );
}

/** A readable local time for an ISO timestamp; "—" for none. */
export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return h("time", { datetime: iso }, date.toLocaleString());
}

/** Disable `button` while `work` runs, so a double click sends one request. */
export async function busy(button, work) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

/** A page's heading, focused when the page opens so that screen readers announce the new page. */
export function heading(text) {
  return h("h1", { tabindex: "-1", class: "page-title" }, text);
}

/** A modal dialog with a title, `body` nodes and a Close button; resolves when it closes. */
export function openDialog(title, body, { actions = [] } = {}) {
  const titleId = uid("dialog");
  const dialog = h(
    "dialog",
    { "aria-labelledby": titleId, class: "dialog" },
    h("h2", { id: titleId }, title),
    body,
    h(
      "div",
      { class: "actions" },
      actions,
      h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, "Close"),
    ),
  );
  document.body.append(dialog);
  const closed = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue);
    });
  });
  dialog.showModal();
  return { dialog, closed };
}

/** Ask a yes/no question in a dialog; resolves true when `confirmLabel` is pressed. */
export async function confirmDialog(title, text, confirmLabel) {
  const yes = h("button", { type: "button", class: "danger" }, confirmLabel);
  const { dialog, closed } = openDialog(title, h("p", {}, text), { actions: [yes] });
  yes.addEventListener("click", () => dialog.close("yes"));
  return (await closed) === "yes";
}

/** Save `text` as a file named `name` in the browser's downloads. */
export function download(name, text, type = "application/json") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h("a", { href: url, download: name, class: "visually-hidden" }, name);
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/**
 * Run `work(form)` when `form` is submitted: its submit button busy meanwhile (one request per
 * click), and a failure's problem shown next to the fields it names and in `slot`.
 */
export function onSubmit(form, slot, work) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    showProblem(slot, null);
    await busy(form.querySelector('button[type="submit"]'), async () => {
      try {
        await work(form);
      } catch (problem) {
        if (problem.name === "AbortError") return;
        showFieldErrors(form, problem);
        showProblem(slot, problem);
      }
    });
  });
}

/** Fill `slot` with `build(await fetch())`, or with the problem when the fetch fails. */
export async function fill(slot, fetch, build) {
  let data;
  try {
    data = await fetch();
  } catch (problem) {
    replace(slot, problemBox(problem));
    return;
  }
  replace(slot, build(data));
}

/** Previous/next buttons for a page of the API's `{items, total, offset}`; `move(newOffset)`. */
export function pager(page, size, move, [previous, next] = ["Previous", "Next"]) {
  const shown = page.total ? `${page.offset + 1}–${page.offset + page.items.length} of ${page.total}` : "none";
  return h(
    "div",
    { class: "pager" },
    h("button", { type: "button", class: "secondary small", disabled: page.offset === 0, onclick: () => move(Math.max(0, page.offset - size)) }, previous),
    h("span", {}, shown),
    h("button", { type: "button", class: "secondary small", disabled: page.offset + page.items.length >= page.total, onclick: () => move(page.offset + size) }, next),
  );
}
