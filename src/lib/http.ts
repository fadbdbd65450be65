import { checkOutboundUrl } from "./ssrf";

/**
 * The HTTP plumbing outbound API calls share (destination connectors today): the SSRF guard, no
 * redirects, a timeout, the one Retry-After reader, and the classification of failures.
 */

/**
 * A request that went wrong as a whole, classified: `retry` (transient: network, timeout, 408,
 * 429, 5xx), `rejected` (permanent: other 4xx, a refused URL, a redirect), `auth_failed` (401/403).
 */
export type FailureOutcome =
  | { kind: "retry"; error: string; retryAfterSeconds?: number }
  /**
   * The account's quota for a long period is spent (Salesforce's rolling 24-hour API allocation):
   * retrying in seconds cannot help, so the batch waits `retryAfterSeconds` without spending a retry.
   */
  | { kind: "quota_exhausted"; error: string; retryAfterSeconds: number }
  | { kind: "rejected"; error: string }
  | { kind: "auth_failed"; error: string };

/** One outbound request. */
export interface HttpRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  timeoutMs: number;
}

/** A response that arrived (any status but 3xx), with its body read as text. */
export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
}

/** What {@link httpRequest} needs from the connector context. */
export interface HttpContext {
  fetch: typeof fetch;
  allowPrivate: boolean;
  /** Told the status, headers and body of every response (the limiter learns from them, the run log keeps them). */
  observe?: (status: number, headers: Headers, body: string) => void;
}

/** What one response said about the destination's rate limit (read by its connector from the vendor's headers). */
export interface RateSignal {
  /** The request was refused for going too fast (HTTP 429). */
  throttled: boolean;
  /** Seconds before the next request may go: `Retry-After`, or a vendor window that is spent. */
  retryAfterSeconds?: number;
  /** Requests per second the vendor says the account allows (e.g. HubSpot's `-Max` per `-Interval-Milliseconds`). */
  allowedPerSecond?: number;
  /** The vendor's counting window in milliseconds (HubSpot: `X-HubSpot-RateLimit-Interval-Milliseconds`). */
  windowMs?: number;
}

/** The signal of a response where the vendor has no rate-limit headers of its own: 429 and `Retry-After`. */
export function standardRateSignal(status: number, headers: Headers): RateSignal {
  if (status !== 429) return { throttled: false };
  const retryAfter = retryAfterSeconds(headers);
  return retryAfter === undefined ? { throttled: true } : { throttled: true, retryAfterSeconds: retryAfter };
}

/**
 * Sends a request with `redirect: "manual"` and a timeout. A response comes back as
 * `{ response }`; anything that prevents one comes back as a classified `{ outcome }`: a refused
 * URL or a redirect is `rejected` (redirects are not followed, so a public URL cannot bounce the
 * request to a private one), a network error or timeout is `retry`. Never throws.
 */
export async function httpRequest(
  ctx: HttpContext,
  req: HttpRequest,
): Promise<{ response: HttpResponse; outcome?: undefined } | { response?: undefined; outcome: FailureOutcome }> {
  const verdict = checkOutboundUrl(req.url, { allowPrivate: ctx.allowPrivate });
  if (!verdict.ok) return { outcome: { kind: "rejected", error: `destination URL refused: ${verdict.reason}` } };
  // Unbound: workerd's fetch throws "Illegal invocation" when called as a method of another object.
  const doFetch = ctx.fetch;
  try {
    const res = await doFetch(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      redirect: "manual",
      signal: AbortSignal.timeout(req.timeoutMs),
    });
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      const location = res.headers.get("location");
      return {
        outcome: {
          kind: "rejected",
          error: `redirects are not followed: HTTP ${res.status}${location ? ` to ${truncate(location, 200)}` : ""}`,
        },
      };
    }
    const text = await res.text();
    ctx.observe?.(res.status, res.headers, text);
    return { response: { status: res.status, headers: res.headers, text } };
  } catch (err) {
    if (isTimeout(err)) return { outcome: { kind: "retry", error: `no response within ${req.timeoutMs} ms` } };
    return { outcome: { kind: "retry", error: `network error: ${messageOf(err)}` } };
  }
}

/**
 * The usual classification of a non-2xx response: 401/403 `auth_failed`; 408, 429 and 5xx
 * `retry` (honouring Retry-After); any other status `rejected`. `detail` is the vendor's message.
 */
export function classifyStatus(res: HttpResponse, detail: string): FailureOutcome {
  const error = `HTTP ${res.status}${detail ? `: ${detail}` : ""}`;
  if (res.status === 401 || res.status === 403) return { kind: "auth_failed", error };
  if (isTransientStatus(res.status)) return retryOutcome(error, retryAfterSeconds(res.headers));
  return { kind: "rejected", error };
}

/** 408, 429 and 5xx: worth trying again later. */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** A `retry` outcome, with `retryAfterSeconds` only when known. */
export function retryOutcome(error: string, retryAfter: number | undefined): FailureOutcome {
  return retryAfter === undefined ? { kind: "retry", error } : { kind: "retry", error, retryAfterSeconds: retryAfter };
}

/**
 * Seconds to wait from a `Retry-After` header: delay-seconds (`120`) or an HTTP date
 * (`Wed, 21 Oct 2015 07:28:00 GMT`, counted from `now`, 0 when past). `undefined` if absent or unreadable.
 */
export function retryAfterSeconds(headers: Headers, now: number = Date.now()): number | undefined {
  const value = headers.get("retry-after")?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value));
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** JSON of a response body, or `undefined` when it is not JSON. */
export function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** A plain object (not an array), for narrowing parsed JSON. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Shortens text for an error message. */
export function truncate(text: string, max = 500): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** The message of anything thrown. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === "TimeoutError" || (err.name === "AbortError" && /timeout|timed out/i.test(err.message)));
}
