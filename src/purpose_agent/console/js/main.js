// The console's shell: sign-in, the pages a role may use, and hash routing between them (#/chat).
//
// Plain ES modules loaded by the browser as committed: there is no bundler and no build step (see
// ../README.md). Pages are modules exporting {path, title, role, render(main) -> cleanup?}.

import * as api from "./api.js";
import { announce, h, replace } from "./dom.js";
import { renderSignIn } from "./signin.js";
import { chatPage } from "./chat.js";
import { searchPage } from "./search.js";
import { personasPage } from "./personas.js";
import { knowledgePage } from "./knowledge.js";
import { keysPage } from "./keys.js";
import { usersPage } from "./users.js";
import { usagePage } from "./usage.js";
import { auditPage } from "./audit.js";
import { statusPage } from "./status.js";

const PAGES = [chatPage, searchPage, personasPage, knowledgePage, keysPage, usersPage, usagePage, auditPage, statusPage];
const END_MESSAGES = {
  expired: "Your session has expired. Sign in again to go on.",
  refused: "The service no longer accepts your credentials (expired, revoked or disabled). Sign in again.",
  "signed-out": "You are signed out.",
};

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
let principal = null; // {id, name, role} from GET /api/auth/me
let cleanup = null;

function mayUse(page) {
  return principal !== null && (page.role === "user" || principal.role === "admin");
}

function pageOf(hash) {
  const path = hash.replace(/^#/, "") || "/chat";
  return PAGES.find((page) => page.path === path) ?? null;
}

function showSignIn(message) {
  cleanup?.();
  cleanup = null;
  principal = null;
  nav.hidden = true;
  who.hidden = true;
  replace(nav);
  replace(who);
  document.title = "Sign in · Purpose-Agent console";
  renderSignIn(main, { message, onSignedIn: started });
}

async function started(me) {
  principal = me;
  replace(
    nav,
    h(
      "ul",
      {},
      PAGES.filter(mayUse).map((page) => h("li", {}, h("a", { href: `#${page.path}`, "data-page": page.path }, page.title))),
    ),
  );
  replace(
    who,
    h("span", {}, `${me.name} · ${me.role}`),
    h("button", { type: "button", class: "secondary small", onclick: () => api.endSession("signed-out") }, "Sign out"),
  );
  nav.hidden = false;
  who.hidden = false;
  await route();
}

async function route() {
  if (principal === null) return;
  const page = pageOf(window.location.hash);
  cleanup?.();
  cleanup = null;
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.page === page?.path) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (page === null || !mayUse(page)) {
    // The API refuses these pages' calls anyway; the console does not offer them.
    document.title = "Not available · Purpose-Agent console";
    replace(
      main,
      h("h1", { tabindex: "-1", class: "page-title" }, "Not available"),
      h("p", {}, page === null ? "There is no such page." : `The ${page.title} page needs the admin role.`),
    );
    main.querySelector("h1").focus();
    return;
  }
  document.title = `${page.title} · Purpose-Agent console`;
  replace(main);
  cleanup = (await page.render(main, { principal })) ?? null;
  main.querySelector("h1")?.focus();
  announce(`${page.title} page`);
}

api.onSessionEnd((reason) => showSignIn(END_MESSAGES[reason] ?? END_MESSAGES.refused));
window.addEventListener("hashchange", () => route());
showSignIn(null);
// When the first form can be used: what bench/console.py measures as "interactive".
performance.mark("console-interactive");
