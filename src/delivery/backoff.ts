/** Longest delay between two attempts of one batch. */
export const MAX_RETRY_DELAY_SECONDS = 15 * 60;
const BASE_DELAY_SECONDS = 2;

/**
 * Seconds to wait before attempt `attempts + 1` of a batch: exponential backoff with full jitter,
 * never sooner than the destination's Retry-After. `random` is injectable for tests.
 */
export function retryDelaySeconds(attempts: number, retryAfterSeconds?: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_RETRY_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** Math.max(0, attempts - 1));
  const jittered = Math.ceil(ceiling / 2 + random() * (ceiling / 2));
  return Math.min(Math.max(jittered, Math.ceil(retryAfterSeconds ?? 0)), 12 * 60 * 60);
}

/** Retry-After as seconds: either delta-seconds or an HTTP date. Undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}
