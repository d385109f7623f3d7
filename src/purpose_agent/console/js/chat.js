// The chat playground: pick an agent, ask, watch the answer stream in, open the passages it cites.

import * as api from "./api.js";
import { announce, field, h, heading, openDialog, problemBox, replace } from "./dom.js";

/** The answer's text with each `[n]` that names a citation turned into a button opening it. */
export function withCitationMarks(text, citations, open) {
  const byIndex = new Map(citations.map((citation) => [citation.index, citation]));
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    const citation = byIndex.get(Number(match[1]));
    if (!citation) continue;
    parts.push(text.slice(last, match.index));
    parts.push(citationMark(citation, open));
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

function citationMark(citation, open) {
  const page = citation.page == null ? "" : `, page ${citation.page}`;
  return h(
    "button",
    {
      type: "button",
      class: "cite",
      "aria-label": `Source ${citation.index}: ${citation.source}${page}`,
      onclick: () => open(citation),
    },
    String(citation.index),
  );
}

/** The cited passage: its document, page and heading, and the passage itself. */
function openCitation(citation) {
  openDialog(
    `Source ${citation.index}`,
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Document"),
      h("dd", {}, citation.source),
      h("dt", {}, "Page"),
      h("dd", { "data-testid": "citation-page" }, citation.page == null ? "— (no pages in this format)" : String(citation.page)),
      h("dt", {}, "Heading"),
      h("dd", {}, citation.heading || "—"),
      h("dt", {}, "Score"),
      h("dd", {}, citation.score.toFixed(3)),
      h("dt", {}, "Passage"),
      h("dd", {}, h("blockquote", { class: "passage" }, citation.snippet)),
    ),
  );
}

function describeDone(done) {
  const facts = [`model ${done.model_used}`, `${Math.round(done.latency_ms)} ms`];
  if (done.usage) facts.push(`${done.usage.prompt_tokens} + ${done.usage.completion_tokens} tokens`);
  if (done.grounded === true) facts.push("grounded");
  if (done.grounded === false) facts.push(`not grounded (${done.unsupported.length} unsupported)`);
  if (done.abstained) facts.push("abstained: the knowledge holds no answer");
  if (done.extractive_reason) facts.push(`quoted passages (${done.extractive_reason.replaceAll("_", " ")})`);
  return facts.join(" · ");
}

/** One exchange in the log: the question, then the answer as it streams. */
function exchangeView(question) {
  const answerText = h("p", { class: "answer-text" });
  const meta = h("p", { class: "answer-meta" });
  const sources = h("div", { class: "sources" });
  const status = h("div", { class: "answer-status" });
  const article = h(
    "article",
    { class: "exchange" },
    h("p", { class: "question" }, h("span", { class: "who-said" }, "You: "), question),
    h("div", { class: "answer", "aria-busy": "true" }, h("span", { class: "who-said" }, "Agent: "), answerText, status, meta, sources),
  );
  let streamed = "";
  return {
    element: article,
    token(text) {
      streamed += text;
      answerText.textContent = streamed;
    },
    finish(done) {
      article.querySelector(".answer").setAttribute("aria-busy", "false");
      replace(answerText, withCitationMarks(streamed, done.citations ?? [], openCitation));
      meta.textContent = describeDone(done);
      if ((done.citations ?? []).length > 0) {
        replace(
          sources,
          h("h3", { class: "sources-title" }, "Sources"),
          h(
            "ol",
            {},
            done.citations.map((citation) =>
              h(
                "li",
                { value: citation.index },
                citationMark(citation, openCitation),
                ` ${citation.source}`,
                citation.page == null ? "" : `, page ${citation.page}`,
                citation.heading ? ` — ${citation.heading}` : "",
              ),
            ),
          ),
        );
      }
    },
    fail(problem) {
      article.querySelector(".answer").setAttribute("aria-busy", "false");
      replace(status, problemBox(problem));
    },
    stopped() {
      article.querySelector(".answer").setAttribute("aria-busy", "false");
      replace(status, h("p", { class: "notice" }, "Stopped: this answer was not kept in the conversation."));
    },
  };
}

// The conversation on screen, kept while the person visits other pages; dropped at sign-out, so that
// the next person to sign in in this tab never sees it.
let kept = null; // {agentId, sessionId, state, nodes}

export const chatPage = {
  path: "/chat",
  title: "Chat",
  role: "user",
  async render(main) {
    const log = h("div", { class: "chat-log", role: "log", "aria-label": "Conversation", "aria-live": "polite" });
    const pageProblem = h("div", { class: "problem-slot" });
    const conversation = h("p", { class: "conversation-state" }, "A new conversation.");
    const agentField = field({ label: "Agent", name: "agent", options: [] });
    const agentSelect = agentField.querySelector("select");
    const questionField = field({
      label: "Question",
      name: "question",
      type: "textarea",
      hint: "Enter sends; Shift+Enter starts a new line.",
      attrs: { rows: "3", maxlength: "8000" },
    });
    const question = questionField.querySelector("textarea");
    const send = h("button", { type: "submit" }, "Send");
    const stop = h("button", { type: "button", class: "secondary", disabled: true }, "Stop");
    const fresh = h("button", { type: "button", class: "secondary" }, "New conversation");
    const form = h("form", { class: "ask", novalidate: true }, questionField, h("div", { class: "actions" }, send, stop));

    let sessionId = null;
    let running = null; // the AbortController of the answer being streamed

    function newConversation() {
      running?.abort();
      sessionId = null;
      replace(log);
      conversation.textContent = "A new conversation.";
    }

    fresh.addEventListener("click", () => {
      newConversation();
      question.focus();
    });
    // A session belongs to one agent. Focus stays on the picker: arrow keys change it at each step.
    agentSelect.addEventListener("change", newConversation);
    stop.addEventListener("click", () => running?.abort());
    question.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = question.value.trim();
      if (!text || running) return;
      const exchange = exchangeView(text);
      log.append(exchange.element);
      question.value = "";
      running = new AbortController();
      send.disabled = true;
      stop.disabled = false;
      try {
        const body = { agent_id: agentSelect.value, question: text, ...(sessionId ? { session_id: sessionId } : {}) };
        await api.streamChat(
          body,
          (name, data) => {
            if (name === "meta") {
              sessionId = data.session_id;
              conversation.textContent = `Conversation ${sessionId.slice(0, 8)}: each question continues it, until “New conversation”.`;
            } else if (name === "token") exchange.token(data.text);
            else if (name === "done") {
              exchange.finish(data);
              announce("The answer is complete.");
            } else if (name === "error") exchange.fail(data);
          },
          running.signal,
        );
      } catch (problem) {
        if (problem.name === "AbortError") exchange.stopped();
        else exchange.fail(problem);
      } finally {
        running = null;
        send.disabled = false;
        stop.disabled = true;
      }
    });

    replace(
      main,
      heading("Chat"),
      pageProblem,
      h("div", { class: "chat-controls" }, agentField, fresh),
      conversation,
      log,
      form,
    );
    try {
      const agents = await api.get("/api/agents");
      replace(
        agentSelect,
        agents.map((agent) => h("option", { value: agent.id }, agent.name ? `${agent.name} (${agent.id})` : agent.id)),
      );
      if (agents.length === 0) {
        replace(pageProblem, h("p", { class: "notice" }, "There is no agent yet: an admin creates one on the Personas page."));
      }
    } catch (problem) {
      replace(pageProblem, problemBox(problem));
    }
    if (kept && [...agentSelect.options].some((option) => option.value === kept.agentId)) {
      agentSelect.value = kept.agentId;
      sessionId = kept.sessionId;
      conversation.textContent = kept.state;
      log.append(...kept.nodes);
    }
    kept = null;
    return () => {
      running?.abort();
      // Called at sign-out too, once the credentials are gone: then nothing is kept.
      kept = api.signedIn()
        ? { agentId: agentSelect.value, sessionId, state: conversation.textContent, nodes: [...log.childNodes] }
        : null;
    };
  },
};
