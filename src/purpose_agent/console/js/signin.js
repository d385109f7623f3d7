// Sign-in: with an API key (the one `make run` printed), or a username and password for a token.

import * as api from "./api.js";
import { field, h, onSubmit, replace, showFieldErrors } from "./dom.js";

async function whoAmI() {
  const me = await api.get("/api/auth/me");
  api.confirmSession();
  return me;
}

export function renderSignIn(main, { message, onSignedIn }) {
  // Credentials the service refuses are forgotten at once, so that nothing half signed in remains.
  async function signedIn() {
    try {
      const me = await whoAmI();
      await onSignedIn(me);
    } catch (problem) {
      api.endSession("failed-sign-in");
      throw problem;
    }
  }

  const keyProblem = h("div", { class: "problem-slot" });
  const keyForm = h(
    "form",
    { class: "card", novalidate: true, "aria-labelledby": "signin-key-title" },
    h("h2", { id: "signin-key-title" }, "With an API key"),
    field({
      label: "API key",
      name: "key",
      type: "password",
      hint: "Starts with pa_. `make run` prints one the first time it starts.",
      attrs: { autocomplete: "off", required: true, spellcheck: "false" },
    }),
    keyProblem,
    h("button", { type: "submit" }, "Sign in with the key"),
  );
  onSubmit(keyForm, keyProblem, async () => {
    const secret = keyForm.elements.key.value.trim();
    if (!secret) {
      showFieldErrors(keyForm, { errors: [{ field: "body.key", message: "Enter the API key." }] });
      return;
    }
    api.useKey(secret);
    await signedIn();
  });

  const passwordProblem = h("div", { class: "problem-slot" });
  const passwordForm = h(
    "form",
    { class: "card", novalidate: true, "aria-labelledby": "signin-password-title" },
    h("h2", { id: "signin-password-title" }, "With a username and password"),
    field({ label: "Username", name: "username", attrs: { autocomplete: "username", required: true } }),
    field({
      label: "Password",
      name: "password",
      type: "password",
      attrs: { autocomplete: "current-password", required: true },
    }),
    passwordProblem,
    h("button", { type: "submit" }, "Sign in"),
  );
  onSubmit(passwordForm, passwordProblem, async () => {
    await api.signInWithPassword(passwordForm.elements.username.value, passwordForm.elements.password.value);
    await signedIn();
  });

  replace(
    main,
    h("h1", { tabindex: "-1", class: "page-title" }, "Sign in"),
    message ? h("p", { class: "notice", role: "alert" }, message) : null,
    h("p", {}, "Your credentials stay in this tab's memory only: reloading or closing it signs you out."),
    h("div", { class: "signin" }, keyForm, passwordForm),
  );
  keyForm.elements.key.focus();
}
