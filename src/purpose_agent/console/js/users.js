// Users who sign in with a password: create, change role, disable or enable, set a new password.

import * as api from "./api.js";
import { busy, field, fill, h, heading, onSubmit, openDialog, problemBox, replace, table, when } from "./dom.js";

const ROLES = ["user", "admin"];

export const usersPage = {
  path: "/users",
  title: "Users",
  role: "admin",
  async render(main) {
    const listSlot = h("div");
    const status = h("div", { class: "problem-slot", "aria-live": "polite" });
    const problem = h("div", { class: "problem-slot" });
    const form = h(
      "form",
      { class: "card", novalidate: true, "aria-labelledby": "new-user-title" },
      h("h2", { id: "new-user-title" }, "New user"),
      h(
        "div",
        { class: "grid" },
        field({ label: "Username", name: "username", hint: "3–64 letters, digits, . _ -", attrs: { autocomplete: "off" } }),
        field({ label: "Password", name: "password", type: "password", hint: "At least 12 characters.", attrs: { autocomplete: "new-password" } }),
        field({ label: "Role", name: "role", options: ROLES }),
      ),
      problem,
      h("button", { type: "submit" }, "Create user"),
    );
    onSubmit(form, problem, async () => {
      const user = await api.post("/api/admin/users", {
        username: form.elements.username.value,
        password: form.elements.password.value,
        role: form.elements.role.value,
      });
      form.reset();
      replace(status, h("p", { class: "notice success" }, `User ${user.username} created.`));
      await load();
    });

    async function change(user, update, done) {
      try {
        await api.patch(`/api/admin/users/${user.id}`, update);
        replace(status, h("p", { class: "notice success" }, done));
        await load();
      } catch (failure) {
        replace(status, problemBox(failure));
      }
    }

    function setPassword(user) {
      const slot = h("div", { class: "problem-slot" });
      const passwordForm = h(
        "form",
        { novalidate: true },
        field({ label: "New password", name: "password", type: "password", hint: "At least 12 characters.", attrs: { autocomplete: "new-password" } }),
        slot,
        h("button", { type: "submit" }, "Set password"),
      );
      const { dialog } = openDialog(`Password of ${user.username}`, passwordForm);
      onSubmit(passwordForm, slot, async () => {
        await api.patch(`/api/admin/users/${user.id}`, { password: passwordForm.elements.password.value });
        dialog.close();
        replace(status, h("p", { class: "notice success" }, `The password of ${user.username} was changed.`));
      });
    }

    async function load() {
      await fill(
        listSlot,
        () => api.get("/api/admin/users", { limit: 100 }),
        (page) =>
          table({
            caption: "Users",
            empty: "No user yet: everyone signs in with keys.",
            rows: page.items,
            columns: [
              { label: "Username", value: (user) => user.username },
              {
                label: "Role",
                value: (user) => {
                  const select = h(
                    "select",
                    { "aria-label": `Role of ${user.username}` },
                    ROLES.map((role) => h("option", { value: role, selected: role === user.role }, role)),
                  );
                  select.addEventListener("change", () => change(user, { role: select.value }, `${user.username} is now ${select.value}.`));
                  return select;
                },
              },
              { label: "State", value: (user) => (user.disabled ? "disabled" : "active") },
              { label: "Created", value: (user) => when(user.created_at) },
              { label: "Last sign-in", value: (user) => when(user.last_login_at) },
              {
                label: "Actions",
                value: (user) =>
                  h(
                    "div",
                    { class: "row-actions" },
                    h(
                      "button",
                      {
                        type: "button",
                        class: user.disabled ? "small secondary" : "small danger",
                        onclick: (event) =>
                          busy(event.currentTarget, () =>
                            change(user, { disabled: !user.disabled }, `${user.username} ${user.disabled ? "enabled" : "disabled"}.`),
                          ),
                      },
                      user.disabled ? `Enable ${user.username}` : `Disable ${user.username}`,
                    ),
                    h("button", { type: "button", class: "small secondary", onclick: () => setPassword(user) }, "Set password"),
                  ),
              },
            ],
          }),
      );
    }

    replace(main, heading("Users"), status, form, listSlot);
    await load();
  },
};
