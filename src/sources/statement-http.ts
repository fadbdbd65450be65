import { retryAfterSeconds } from "../lib/http";
import { WarehouseError } from "./errors";

/**
 * HTTP plumbing for warehouses reached through a statement API (Snowflake's SQL API, Databricks'
 * Statement Execution API; BigQuery's client keeps its own loop, whose retries depend on the error
 * body's reason and whose token is refreshed between attempts): one request with a deadline and no redirects, retried on 429, 503
 * and 504 after the server's Retry-After; and the delays between polls of a running statement.
 */

/** How {@link warehouseFetch} sends and retries. */
export interface WarehouseFetchOptions {
  /** The warehouse's name in error messages ("Snowflake"). */
  vendor: string;
  /** Each attempt is aborted after this long (headers and body). */
  timeoutMs: number;
  /** Attempts in all, the first included (default 4). */
  attempts?: number;
  /** The longest wait between attempts, whatever Retry-After says (default 30 s). */
  maxWaitMs?: number;
  /** Nothing is sent, and no wait begins, after this time (ms since the epoch). */
  deadline?: number;
  /** Aborts the request (e.g. the statement's deadline): its reason is what is thrown. */
  signal?: AbortSignal;
}

const RETRY_STATUSES = new Set([429, 503, 504]);

/** An answer: its status, headers and body (or, for a streamed 200, the body's unread stream). */
export interface WarehouseAnswer {
  status: number;
  headers: Headers;
  body: Uint8Array;
  stream?: ReadableStream<Uint8Array>;
}

/**
 * Sends a request; returns the response of the last attempt with its body read (with `stream`, a
 * 200's body is left unread in `stream`, and `timeoutMs` covers its headers only: the caller bounds
 * its reads). 429, 503 and 504 are tried again after their Retry-After (else 0.5 s, 1 s, 2 s …),
 * until the attempts or the deadline run out; then that response is returned for the caller to
 * classify. A redirect is not followed (it could lead past the SSRF guard):
 * `invalid_connection_string`. A network error is `unreachable`, an attempt past `timeoutMs` is
 * `timeout`.
 */
export async function warehouseFetch(
  url: string,
  init: RequestInit,
  opts: WarehouseFetchOptions & { stream?: boolean },
): Promise<WarehouseAnswer> {
  const attempts = opts.attempts ?? 4;
  const maxWaitMs = opts.maxWaitMs ?? 30_000;
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), opts.timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, abort.signal]) : abort.signal;
    let answer: WarehouseAnswer;
    try {
      const res = await fetch(url, { ...init, signal, redirect: "manual" });
      if (opts.stream && res.status === 200 && res.body)
        return { status: res.status, headers: res.headers, body: new Uint8Array(0), stream: res.body };
      answer = { status: res.status, headers: res.headers, body: new Uint8Array(await res.arrayBuffer()) };
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (abort.signal.aborted)
        throw new WarehouseError("timeout", `${opts.vendor} did not answer within ${opts.timeoutMs} ms`, { cause: err });
      throw new WarehouseError("unreachable", `could not reach ${opts.vendor} at ${new URL(url).host}: ${String(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    const { status, headers } = answer;
    if (status >= 300 && status < 400)
      throw new WarehouseError(
        "invalid_connection_string",
        `${opts.vendor} answered with a redirect (HTTP ${status}) to ${headers.get("location") ?? "?"}; use the final URL`,
      );
    if (!RETRY_STATUSES.has(status) || attempt >= attempts) return answer;
    const after = retryAfterSeconds(headers);
    const waitMs = Math.min(maxWaitMs, after === undefined ? 500 * 2 ** (attempt - 1) : after * 1000);
    if (opts.deadline !== undefined && Date.now() + waitMs >= opts.deadline) return answer;
    await sleep(waitMs);
  }
}

/** The wait before poll number `poll` (0-based) of a running statement: 100 ms doubling to 2 s. */
export function pollDelayMs(poll: number): number {
  return Math.min(2000, 100 * 2 ** Math.min(poll, 5));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
