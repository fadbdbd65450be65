import { hmacSign } from "../../lib/crypto";
import { classifyStatus, httpRequest, type HttpResponse, isRecord, parseJson, truncate } from "../../lib/http";
import type { Batch, Connector, ConnectorContext, RowResult, SendOutcome } from "../destination";
import { type PlannedRequest, planRequests } from "./request";
import { parseResponsePath, valueForRow } from "./response-path";
import type { HttpConfig, HttpCredentials } from "./schema";

type Ctx = ConnectorContext<HttpConfig, HttpCredentials>;

/**
 * Generic HTTP destination: each row (or each batch of rows) becomes a request whose URL and JSON
 * body are Liquid templates of the config (see request.ts for the scopes).
 *
 * - Headers: `config.headers`, `credentials.headers`, `Authorization` (bearer or basic),
 *   `Content-Type: application/json` with a body, `Idempotency-Key` (the batch id, stable across
 *   redeliveries) and, with `credentials.hmac_secret`, the signature of the exact body.
 * - 2xx: every row ok, or per row as `success_path` says. 401/403 `auth_failed`; 408, 429, 5xx,
 *   network errors and timeouts `retry` (Retry-After honoured); another 4xx fails the row of a
 *   one-row request with the response's message, and rejects a batch request (the delivery layer
 *   splits it). A row whose URL or body cannot be rendered fails with the template's message.
 * - Update mode: a one-row `update` answered 404 (or 410) is `not_found` (no record to update).
 */
export const httpConnector: Connector<HttpConfig, HttpCredentials> = {
  maxBatchSize: (config) => (config.request === "batch" ? config.batch_size : 1),
  // An arbitrary API: stay gentle unless the destination sets its own limit.
  defaultRateLimit: { requestsPerSecond: 10, concurrency: 4 },

  /**
   * A `GET` of the URL's literal part (`https://api.example.com/users/` of `…/users/{{ id }}`),
   * sending nothing: it passes when the host answers and does not refuse the credentials.
   */
  async test(ctx) {
    const tag = ctx.config.url.search(/\{\{|\{%/);
    const url = tag === -1 ? ctx.config.url : ctx.config.url.slice(0, tag);
    const { response, outcome } = await httpRequest(ctx, {
      method: "GET",
      url,
      headers: await headersOf(ctx, undefined, `connection_test_${crypto.randomUUID()}`),
      timeoutMs: ctx.config.timeout_ms,
    });
    if (outcome) return { ok: false, error: outcome.error };
    if (response.status === 401 || response.status === 403 || response.status >= 500) {
      return { ok: false, error: classifyStatus(response, detailOf(response.text)).error };
    }
    return { ok: true };
  },

  async send(ctx, batch) {
    const plan = planRequests(ctx.config, batch);
    // A batch body that does not render may be one row's doing: rejected, the batch is split until that row is alone.
    const [renderError] = plan.failed.values();
    if (ctx.config.request === "batch" && renderError !== undefined && batch.operations.length > 1) {
      return { kind: "rejected", error: renderError };
    }
    const results = new Map<number, RowResult>();
    for (const [index, error] of plan.failed) results.set(index, failed(batch, index, error));
    for (const [n, request] of plan.requests.entries()) {
      const idempotencyKey = plan.requests.length === 1 ? batch.batch_id : `${batch.batch_id}.${n}`;
      const outcome = await sendRequest(ctx, batch, request, idempotencyKey, results);
      if (outcome) return outcome;
    }
    return { kind: "results", results: batch.operations.map((op, i) => results.get(i) ?? { key: op.key, ok: true }) };
  },
};

/** Sends one request and records its rows' results; a failure of the whole batch is returned instead. */
async function sendRequest(
  ctx: Ctx,
  batch: Batch,
  request: PlannedRequest,
  idempotencyKey: string,
  results: Map<number, RowResult>,
): Promise<SendOutcome | undefined> {
  const { config } = ctx;
  const { response, outcome } = await httpRequest(ctx, {
    method: request.method,
    url: request.url,
    headers: await headersOf(ctx, request.body, idempotencyKey),
    ...(request.body === undefined ? {} : { body: request.body }),
    timeoutMs: config.timeout_ms,
  });
  if (outcome) return outcome;
  if (response.status < 200 || response.status >= 300) {
    const failure = classifyStatus(response, detailOf(response.text, config.error_path));
    if (failure.kind !== "rejected" || config.request === "batch") return failure;
    // Update mode never creates: an update whose record is not there is "not found", not a rejection.
    const notFound = batch.mode === "update" && (response.status === 404 || response.status === 410);
    for (const index of request.indexes) {
      const result = failed(batch, index, failure.error);
      results.set(index, notFound && batch.operations[index]?.op === "update" ? { ...result, not_found: true } : result);
    }
    return undefined;
  }
  for (const [row, index] of request.indexes.entries()) {
    const error = rowError(config, response, row);
    results.set(index, error === undefined ? { key: keyOf(batch, index), ok: true } : failed(batch, index, error));
  }
  return undefined;
}

/** The request's headers: config, secret headers, auth, content type, idempotency key and signature. */
async function headersOf(ctx: Ctx, body: string | undefined, idempotencyKey: string): Promise<Record<string, string>> {
  const { config, credentials } = ctx;
  const headers: Record<string, string> = { ...config.headers, ...credentials.headers, "Idempotency-Key": idempotencyKey };
  if (credentials.bearer_token !== undefined) headers.Authorization = `Bearer ${credentials.bearer_token}`;
  if (credentials.basic_username !== undefined && credentials.basic_password !== undefined) {
    headers.Authorization = `Basic ${basicToken(credentials.basic_username, credentials.basic_password)}`;
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (credentials.hmac_secret !== undefined) {
    const { header = "X-Signature", algorithm = "sha256", encoding = "hex", prefix = "" } = config.signature ?? {};
    headers[header] = `${prefix}${await hmacSign(credentials.hmac_secret, body ?? "", algorithm, encoding)}`;
  }
  return headers;
}

/** RFC 7617: base64 of the UTF-8 bytes of `user:password`. */
function basicToken(user: string, password: string): string {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  return btoa(String.fromCharCode(...bytes));
}

/** Why the `row`-th row of a 2xx request failed according to `success_path`, or `undefined` when it succeeded. */
function rowError(config: HttpConfig, response: HttpResponse, row: number): string | undefined {
  if (config.success_path === undefined) return undefined;
  const path = parseResponsePath(config.success_path);
  if (!path.ok) return `config.success_path: ${path.error}`;
  const body = parseJson(response.text);
  if (body === undefined)
    return `HTTP ${response.status} without a JSON body, so ${config.success_path} cannot say whether the row succeeded`;
  const value = valueForRow(path.steps, body, row);
  if (value !== undefined && value !== null && typeof value !== "object" && String(value) === config.success_value) return undefined;
  const message = config.error_path === undefined ? undefined : textAt(config.error_path, body, row);
  if (message) return truncate(message, 1000);
  return value === undefined
    ? `the response has no ${config.success_path} for this row`
    : `${config.success_path} is ${truncate(JSON.stringify(value), 200)}, not ${config.success_value}`;
}

/** The text at `path` for a row (a string as is, another value as JSON), if any. */
function textAt(path: string, body: unknown, row: number): string | undefined {
  const parsed = parseResponsePath(path);
  if (!parsed.ok) return undefined;
  const value = valueForRow(parsed.steps, body, row);
  if (value === undefined || value === null || value === "") return undefined;
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * The message of an error response: at `error_path`, else the usual `message` / `error` /
 * `error.message` / `errors[0].message` / `detail` fields, else the body's text.
 */
function detailOf(text: string, errorPath?: string): string {
  const body = parseJson(text);
  const picked =
    (errorPath !== undefined ? textAt(errorPath, body, 0) : undefined) ??
    [["message"], ["error", "message"], ["error"], ["errors", 0, "message"], ["detail"]]
      .map((path) =>
        path.reduce<unknown>(
          (v, step) => (isRecord(v) || Array.isArray(v) ? (v as Record<string | number, unknown>)[step] : undefined),
          body,
        ),
      )
      .find((v): v is string => typeof v === "string" && v !== "");
  return truncate(picked ?? text);
}

function keyOf(batch: Batch, index: number): string {
  return batch.operations[index]?.key ?? "";
}

function failed(batch: Batch, index: number, error: string): RowResult & { ok: false } {
  return { key: keyOf(batch, index), ok: false, error };
}
