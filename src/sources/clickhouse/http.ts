import { WarehouseError, type WarehouseErrorCode } from "../errors";
import type { WarehouseOptions } from "../source";

/**
 * The ClickHouse HTTP interface (https://clickhouse.com/docs/interfaces/http): one POST per
 * statement, the SQL as the body, settings as URL parameters. Every statement carries
 * `max_execution_time` (the statement timeout, whole seconds) and then `readonly=1`, so the server
 * refuses writes, DDL and setting changes whatever the SQL says.
 */

/** Where and as whom a ClickHouse source connects (its config and credentials together). */
export type ClickhouseSettings = {
  url: string;
  database: string;
  username: string;
  password: string;
};

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const MAX_ATTEMPTS = 3;
const MAX_RETRY_AFTER_MS = 10_000;

/** The statement timeout as ClickHouse's `max_execution_time` (seconds; 18.16 takes whole ones). */
export function executionSeconds(opts: WarehouseOptions): number {
  return Math.max(1, Math.ceil(opts.statementTimeoutMs / 1000));
}

/**
 * Sends one statement and returns the response once its headers arrived with status 200; the
 * caller reads (or cancels) the body. 429 and 503 are retried after their Retry-After (at most 3
 * attempts). The request is aborted when the statement timeout plus the connect timeout has
 * passed, body included. Throws {@link WarehouseError}.
 */
export async function clickhouseRequest(
  settings: ClickhouseSettings,
  sql: string,
  opts: WarehouseOptions,
  maxSeconds = executionSeconds(opts),
): Promise<{ response: Response; done: () => void }> {
  const url = requestUrl(settings, maxSeconds);
  const deadlineMs = maxSeconds * 1000 + (opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  for (let attempt = 1; ; attempt++) {
    const abort = new AbortController();
    // The reason is what a pending read of the body rejects with.
    const timer = setTimeout(
      () => abort.abort(new WarehouseError("timeout", `ClickHouse did not finish within ${deadlineMs} ms`)),
      deadlineMs,
    );
    const done = () => clearTimeout(timer);
    let response: Response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: {
          authorization: basicAuth(settings.username, settings.password),
          "content-type": "text/plain; charset=utf-8",
        },
        body: sql,
        signal: abort.signal,
        // A redirect could lead past the SSRF guard to a host it would refuse.
        redirect: "manual",
      });
    } catch (err) {
      done();
      if (abort.signal.aborted) throw new WarehouseError("timeout", `ClickHouse did not answer within ${deadlineMs} ms`, { cause: err });
      // A kept-alive connection the server had closed fails before any answer (seen in workerd
      // under `wrangler dev`, bench/sources.mjs): every statement is read-only, so send it again.
      if (attempt < MAX_ATTEMPTS && /connection lost|connection reset/i.test(String(err))) continue;
      throw new WarehouseError("unreachable", `could not reach ClickHouse at ${new URL(settings.url).host}: ${String(err)}`, {
        cause: err,
      });
    }
    if (response.ok) return { response, done };
    if (response.status >= 300 && response.status < 400) {
      done();
      await response.body?.cancel();
      throw new WarehouseError(
        "invalid_connection_string",
        `ClickHouse's URL answered with a redirect (HTTP ${response.status}); use the final URL`,
      );
    }
    const text = await response.text().catch(() => "");
    done();
    if ((response.status === 429 || response.status === 503) && attempt < MAX_ATTEMPTS) {
      await new Promise((resolve) => setTimeout(resolve, retryAfterMs(response.headers.get("retry-after"))));
      continue;
    }
    throw clickhouseError(text, response.status);
  }
}

/** The statement's URL: the source's URL with the database and settings (readonly last, so the others still apply). */
function requestUrl(settings: ClickhouseSettings, maxSeconds: number): string {
  const url = new URL(settings.url);
  url.searchParams.set("database", settings.database);
  url.searchParams.set("max_execution_time", String(maxSeconds));
  // Results are gzipped when the client accepts it (fetch does, and decompresses).
  url.searchParams.set("enable_http_compression", "1");
  url.searchParams.set("readonly", "1");
  return url.toString();
}

/** HTTP Basic credentials (UTF-8), which every ClickHouse release accepts. */
function basicAuth(username: string, password: string): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return `Basic ${btoa(binary)}`;
}

function retryAfterMs(header: string | null): number {
  const seconds = Number(header);
  if (header && Number.isFinite(seconds)) return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, seconds * 1000));
  const date = header ? Date.parse(header) : Number.NaN;
  return Number.isFinite(date) ? Math.min(MAX_RETRY_AFTER_MS, Math.max(0, date - Date.now())) : 1000;
}

// ClickHouse error codes (src/Common/ErrorCodes.cpp) onto ours; the rest are the model's fault.
const codes = new Map<number, WarehouseErrorCode>([
  [192, "auth_failed"], // UNKNOWN_USER
  [193, "auth_failed"], // WRONG_PASSWORD
  [194, "auth_failed"], // REQUIRED_PASSWORD
  [195, "auth_failed"], // IP_ADDRESS_NOT_ALLOWED
  [516, "auth_failed"], // AUTHENTICATION_FAILED (current releases)
  [81, "database_not_found"], // UNKNOWN_DATABASE
  [159, "timeout"], // TIMEOUT_EXCEEDED
  [164, "read_only"], // READONLY
  [497, "permission_denied"], // ACCESS_DENIED
  [202, "unreachable"], // TOO_MANY_SIMULTANEOUS_QUERIES
  [209, "connection_lost"], // SOCKET_TIMEOUT
  [210, "connection_lost"], // NETWORK_ERROR
]);

/** Matches ClickHouse's exception text: `Code: 62, e.displayText() = DB::Exception: …` (18.x) or `Code: 62. DB::Exception: …`. */
export const EXCEPTION_TEXT = /^Code: (\d+)[.,] (?:e\.displayText\(\) = )?DB::Exception: ?([\s\S]*?)(?:, e\.what\(\) = DB::Exception)?\s*$/;

/** A ClickHouse error response (or exception text at the end of a streamed body) as a {@link WarehouseError}. */
export function clickhouseError(text: string, status: number): WarehouseError {
  const m = EXCEPTION_TEXT.exec(text.trim());
  const message = (m?.[2] ?? text.trim()).slice(0, 2000) || `HTTP ${status}`;
  const code = m ? codes.get(Number(m[1])) : undefined;
  if (code) return new WarehouseError(code, `ClickHouse: ${message}`);
  if (status === 401 || status === 403) return new WarehouseError("auth_failed", `ClickHouse: ${message}`);
  if (status === 429 || status >= 502) return new WarehouseError("unreachable", `ClickHouse answered HTTP ${status}: ${message}`);
  if (!m)
    return new WarehouseError("unreachable", `not a ClickHouse answer (HTTP ${status}): ${message.slice(0, 200)}`, { retryable: false });
  return new WarehouseError("query_failed", `ClickHouse: ${message}`);
}
