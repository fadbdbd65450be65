// The console's API client: Bearer token from localStorage, JSON in and out, API errors as ApiError.

const TOKEN_KEY = "reverse-etl.token";

/** The token entered once and kept in this browser. */
export const token = {
  get: () => localStorage.getItem(TOKEN_KEY),
  set: (value) => localStorage.setItem(TOKEN_KEY, value),
  clear: () => localStorage.removeItem(TOKEN_KEY),
};

/** An error answer of the API: `{"error":{"code","message","details"?,"request_id"}}`. */
export class ApiError extends Error {
  constructor(status, body) {
    const error = body && typeof body === "object" && body.error ? body.error : {};
    super(error.message ?? `the API answered ${status}`);
    this.status = status;
    this.code = error.code ?? "http_error";
    this.details = Array.isArray(error.details) ? error.details : [];
    this.requestId = error.request_id ?? null;
  }
}

/**
 * Calls /api/v1`path`. Resolves with the parsed body (null for 204), rejects with ApiError.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 */
export async function api(method, path, body) {
  const headers = { authorization: `Bearer ${token.get() ?? ""}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  let res;
  try {
    res = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, { error: { code: "network_error", message: `could not reach the API: ${err.message}` } });
  }
  const text = await res.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { error: { code: "bad_response", message: `the API answered ${res.status} with a non-JSON body` } };
  }
  if (!res.ok) throw new ApiError(res.status, parsed);
  return parsed;
}

/** Every item of a list endpoint, following `next_cursor` (at most `max` items). */
export async function listAll(path, max = 1000) {
  const items = [];
  let cursor = null;
  const sep = path.includes("?") ? "&" : "?";
  do {
    const page = await api("GET", `${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    items.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}
