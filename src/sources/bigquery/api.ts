import { retryAfterSeconds } from "../../lib/http";
import { WarehouseError, type WarehouseErrorCode } from "../errors";
import type { WarehouseOptions } from "../source";
import { accessToken, dropAccessToken } from "./auth";
import type { ServiceAccountKey } from "./key-file";

/**
 * The BigQuery REST API v2 (https://cloud.google.com/bigquery/docs/reference/rest): JSON over
 * HTTPS with the service account's Bearer token. Errors come as
 * `{"error": {"code", "message", "errors": [{"reason", "message"}], "status"}}`; the `reason`s
 * are listed in https://cloud.google.com/bigquery/docs/error-messages. Back-off follows the
 * troubleshooting guide (https://cloud.google.com/bigquery/docs/troubleshoot-quotas): 403
 * `rateLimitExceeded` / `jobRateLimitExceeded`, 429 and 5xx are retried, after Retry-After when
 * given, else 1 s, 2 s, 4 s, 8 s (the SLA's minimum back-off is 1 s, doubling).
 */

/** Where and as whom the source calls the API. */
export interface BigqueryClient {
  /** The API's base URL, `https://bigquery.googleapis.com` unless `config.endpoint` replaces it. */
  base: string;
  project: string;
  location?: string;
  key: ServiceAccountKey;
  opts: WarehouseOptions;
}

/** A column of a result schema (TableFieldSchema). */
export interface TableField {
  name: string;
  /** Legacy or standard names: INTEGER/INT64, FLOAT/FLOAT64, BOOLEAN/BOOL, RECORD/STRUCT, STRING, … */
  type: string;
  mode?: "NULLABLE" | "REQUIRED" | "REPEATED";
  fields?: TableField[];
}

const MAX_ATTEMPTS = 5;
const MAX_WAIT_SECONDS = 10;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const RATE_REASONS = new Set(["rateLimitExceeded", "jobRateLimitExceeded"]);

/** When an operation of this source must have finished: the statement timeout plus the connect timeout. */
export function deadlineOf(opts: WarehouseOptions): number {
  return Date.now() + opts.statementTimeoutMs + (opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
}

/**
 * One API call; the JSON object it answered. Retries rate limits and server errors (see the module
 * comment) and a refused cached token once; never past `deadline`. Throws {@link WarehouseError}.
 */
export async function callApi(
  client: BigqueryClient,
  method: "GET" | "POST",
  path: string,
  deadline: number,
  request: { params?: Record<string, string | number | boolean | undefined>; body?: unknown } = {},
): Promise<Record<string, unknown>> {
  const url = new URL(`${client.base}/bigquery/v2${path}`);
  for (const [name, value] of Object.entries(request.params ?? {})) if (value !== undefined) url.searchParams.set(name, String(value));
  let refreshed = false;
  for (let attempt = 1; ; attempt++) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new WarehouseError("timeout", `BigQuery did not finish within the statement timeout`);
    const token = await accessToken(client.key, Math.min(remaining, DEFAULT_CONNECT_TIMEOUT_MS));
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(request.body === undefined ? {} : { "content-type": "application/json" }) },
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
        signal: AbortSignal.timeout(remaining),
        // A redirect could lead past the SSRF guard to a host it would refuse.
        redirect: "manual",
      });
    } catch (err) {
      if (err instanceof Error && err.name === "TimeoutError")
        throw new WarehouseError("timeout", "BigQuery did not answer within the statement timeout", { cause: err });
      throw new WarehouseError("unreachable", `could not reach BigQuery at ${url.host}: ${String(err)}`, { cause: err });
    }
    const text = await response.text().catch(() => "");
    const json = parseObject(text);
    if (response.ok && json) return json;
    if (response.status >= 300 && response.status < 400)
      throw new WarehouseError(
        "invalid_connection_string",
        `BigQuery's endpoint answered with a redirect (HTTP ${response.status}); use the final URL`,
      );
    const error = errorBody(json);
    if (response.status === 401 && !refreshed) {
      // A cached token revoked or expired early: one new grant, then the answer stands.
      refreshed = true;
      dropAccessToken(client.key, token);
      continue;
    }
    const retry = response.status === 429 || response.status >= 500 || (response.status === 403 && RATE_REASONS.has(error.reason));
    if (retry && attempt < MAX_ATTEMPTS) {
      const waitMs = Math.min(MAX_WAIT_SECONDS, retryAfterSeconds(response.headers) ?? 2 ** (attempt - 1)) * 1000;
      if (Date.now() + waitMs < deadline) {
        await new Promise((resolve) => setTimeout(resolve, waitMs));
        continue;
      }
    }
    throw bigqueryError(response.status, error, response.ok ? "BigQuery answered something that is not JSON" : undefined);
  }
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The `error` object's message and first reason (empty when the body is not BigQuery's). */
function errorBody(json: Record<string, unknown> | undefined): { message: string; reason: string } {
  const error = json?.error;
  if (typeof error !== "object" || error === null) return { message: "", reason: "" };
  const e = error as { message?: unknown; errors?: unknown };
  const first = Array.isArray(e.errors) ? (e.errors[0] as { reason?: unknown } | undefined) : undefined;
  return { message: typeof e.message === "string" ? e.message : "", reason: typeof first?.reason === "string" ? first.reason : "" };
}

// Reasons (https://cloud.google.com/bigquery/docs/error-messages) onto our codes.
const REASONS: Record<string, WarehouseErrorCode> = {
  authError: "auth_failed",
  timeout: "timeout",
  stopped: "timeout",
  invalidQuery: "query_failed",
  invalid: "query_failed",
  responseTooLarge: "query_failed",
  resourcesExceeded: "query_failed",
  duplicate: "query_failed",
  rateLimitExceeded: "unreachable",
  jobRateLimitExceeded: "unreachable",
  quotaExceeded: "unreachable",
  backendError: "unreachable",
  internalError: "unreachable",
};

/** An error answer (or a failed job's `errorResult`) as a {@link WarehouseError}. */
function bigqueryError(status: number, error: { message: string; reason: string }, fallback?: string): WarehouseError {
  const message = `BigQuery: ${(error.message || fallback || `HTTP ${status}`).slice(0, 2000)}`;
  if (status === 401) return new WarehouseError("auth_failed", message);
  if (error.reason === "accessDenied" || (status === 403 && !REASONS[error.reason])) {
    // Without bigquery.jobs.create on the project the source cannot run anything: its settings are at fault.
    const code = /^Access Denied: Project|bigquery\.jobs\.create/i.test(error.message) ? "auth_failed" : "permission_denied";
    return new WarehouseError(code, message);
  }
  if (error.reason === "notFound" || status === 404)
    return new WarehouseError(/^Not found: Project/i.test(error.message) ? "database_not_found" : "query_failed", message);
  const code = REASONS[error.reason];
  if (code) return new WarehouseError(code, message);
  if (status === 429 || status >= 500) return new WarehouseError("unreachable", message);
  return new WarehouseError("query_failed", message);
}
