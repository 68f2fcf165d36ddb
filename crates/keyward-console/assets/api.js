// The console's only way to the server: the public HTTP API with the session cookie.
// Writes echo the session's CSRF token in X-CSRF-Token; every error answer becomes an
// ApiError whose message is the problem+json `detail`, so views can show it in words.

export class ApiError extends Error {
  constructor(status, problem) {
    const detail = problem && (problem.detail || problem.title);
    super(detail || (status ? `The server answered HTTP ${status}.` : "The server could not be reached."));
    this.status = status;
    this.code = problem && problem.code;
  }
}

let csrfToken = null;
let sessionExpired = () => {};

export function setCsrfToken(token) {
  csrfToken = token;
}

// Called once with the handler for a 401 on any call made while logged in.
export function onSessionExpired(handler) {
  sessionExpired = handler;
}

function csrfFromCookie() {
  for (const part of document.cookie.split(";")) {
    const [name, value] = part.trim().split("=");
    if (name === "keyward_csrf") return value;
  }
  return "";
}

// `options.anonymous`: a 401 is the caller's business (login), not an ended session.
export async function api(method, path, body, options = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken || csrfFromCookie();
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (e) {
    throw new ApiError(0, { detail: `The server could not be reached (${e.message}).` });
  }
  let data = null;
  if ((response.headers.get("content-type") || "").includes("json")) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && !options.anonymous) sessionExpired(error);
    throw error;
  }
  const csrf = response.headers.get("x-csrf-token");
  if (csrf) csrfToken = csrf;
  return data;
}

export const get = (path, options) => api("GET", path, undefined, options);
export const post = (path, body, options) => api("POST", path, body === undefined ? {} : body, options);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path) => api("DELETE", path);

// A query string from an object; arrays repeat their key, empty values are left out.
export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null && v !== "") q.append(key, String(v));
    }
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
