// The console's only way to the service: the public HTTP API, with the caller's credentials.
//
// The credentials live in this module's memory and nowhere else (never localStorage, sessionStorage
// or a cookie): a reload or a closed tab signs out, and a script injected elsewhere finds nothing
// stored. Every failure reaches the caller as a Problem with the API's own title, detail and
// per-field errors (RFC 9457), so that pages can show them next to what caused them.

// {kind: "key" | "token", secret, expiresAt?, confirmed}: confirmed once the service has accepted
// them; a 401 before that is a failed sign-in, after it the end of the session.
let credentials = null;
let expiryTimer = null;
const endListeners = new Set();

export class Problem extends Error {
  constructor({ title, detail = "", status = 0, errors = [], type = "about:blank", retryAfter = null }) {
    super(detail ? `${title}: ${detail}` : title);
    this.title = title;
    this.detail = detail;
    this.status = status;
    this.errors = Array.isArray(errors) ? errors : [];
    this.type = type;
    this.retryAfter = retryAfter;
  }
}

/** Call `listener(reason)` when the session ends: "expired", "refused" (a 401) or "signed-out". */
export function onSessionEnd(listener) {
  endListeners.add(listener);
}

export function signedIn() {
  return credentials?.confirmed === true;
}

/** Mark the credentials as accepted (the sign-in succeeded): a 401 from now on ends the session. */
export function confirmSession() {
  if (credentials !== null) credentials.confirmed = true;
}

/** Use an API key from now on. */
export function useKey(secret) {
  setCredentials({ kind: "key", secret, confirmed: false });
}

/** Exchange a username and password for a token, and use it until it expires. */
export async function signInWithPassword(username, password) {
  const body = await call("POST", "/api/auth/token", { json: { username, password }, anonymous: true });
  setCredentials({ kind: "token", secret: body.access_token, confirmed: false, expiresAt: Date.now() + body.expires_in * 1000 });
  // The service refuses the token from then on; the console says so at that moment, not at the next click.
  expiryTimer = setTimeout(() => endSession("expired"), body.expires_in * 1000);
  return body;
}

export function endSession(reason = "signed-out") {
  if (credentials === null) return;
  const wasConfirmed = credentials.confirmed;
  setCredentials(null);
  if (wasConfirmed) for (const listener of endListeners) listener(reason);
}

function setCredentials(value) {
  clearTimeout(expiryTimer);
  expiryTimer = null;
  credentials = value;
}

function authHeaders() {
  if (credentials === null) return {};
  return credentials.kind === "key"
    ? { "X-API-Key": credentials.secret }
    : { Authorization: `Bearer ${credentials.secret}` };
}

function urlOf(path, query) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  return url;
}

async function send(method, path, { json, form, query, signal, accept, anonymous = false } = {}) {
  const headers = { Accept: accept ?? "application/json", ...(anonymous ? {} : authHeaders()) };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form; // multipart: the browser writes the boundary
  }
  let response;
  try {
    response = await fetch(urlOf(path, query), { method, headers, body, signal, cache: "no-store" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new Problem({ title: "The service cannot be reached", detail: String(error.message ?? error) });
  }
  if (response.status === 401 && !anonymous && credentials?.confirmed) {
    const problem = await problemOf(response);
    endSession("refused");
    throw problem;
  }
  if (!response.ok) throw await problemOf(response);
  return response;
}

/** A JSON call; resolves to the body (null for 204), rejects with a Problem. */
export async function call(method, path, options = {}) {
  const response = await send(method, path, options);
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path, query) => call("GET", path, { query });
export const post = (path, json) => call("POST", path, { json });
export const put = (path, json) => call("PUT", path, { json });
export const patch = (path, json) => call("PATCH", path, { json });
export const del = (path, query) => call("DELETE", path, { query });

export async function problemOf(response) {
  const retryAfter = response.headers.get("Retry-After");
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's page): the status says what there is to say.
  }
  if (body && typeof body.title === "string") {
    return new Problem({ ...body, status: response.status, retryAfter });
  }
  return new Problem({ title: `HTTP ${response.status}`, detail: response.statusText, status: response.status, retryAfter });
}

/**
 * POST a chat question to the SSE stream and hand each event to `onEvent(name, data)` as it arrives.
 * Resolves when the stream ends; rejects with a Problem when the question is refused before it starts,
 * or with an AbortError when `signal` stops it.
 */
export async function streamChat(body, onEvent, signal) {
  const response = await send("POST", "/api/chat/stream", { json: body, signal, accept: "text/event-stream" });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replaceAll("\r\n", "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = parseEvent(block);
      if (event) onEvent(event.name, event.data);
    }
  }
}

function parseEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue; // a heartbeat
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  if (data.length === 0) return null;
  return { name, data: JSON.parse(data.join("\n")) };
}
