/** How long a batch waits between attempts: exponential from `baseSeconds`, never longer than `maxSeconds`. */
export interface BackoffPolicy {
  baseSeconds: number;
  maxSeconds: number;
}

/** Longest delay between two attempts of one batch, by default. */
const MAX_RETRY_DELAY_SECONDS = 15 * 60;

/** 2 s, 4 s, 8 s … up to 15 min: with 8 retries a batch rides out about 8 minutes of outage. */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseSeconds: 2, maxSeconds: MAX_RETRY_DELAY_SECONDS };

/** The queue's own limit on a message delay. */
export const MAX_QUEUE_DELAY_SECONDS = 12 * 60 * 60;

/**
 * The backoff of this deployment: `DELIVERY_RETRY_BASE_SECONDS` and `DELIVERY_RETRY_MAX_SECONDS`
 * (Worker vars), so an operator can match the destinations' recovery time without a code change
 * (and local test runs, where queue delays are real seconds, can keep them short). A missing or
 * unusable value takes the default.
 */
export function backoffPolicy(vars: { DELIVERY_RETRY_BASE_SECONDS?: string; DELIVERY_RETRY_MAX_SECONDS?: string }): BackoffPolicy {
  const number = (value: string | undefined, min: number, max: number): number | undefined => {
    const n = value === undefined || value.trim() === "" ? Number.NaN : Number(value);
    return Number.isFinite(n) && n >= min && n <= max ? n : undefined;
  };
  const baseSeconds = number(vars.DELIVERY_RETRY_BASE_SECONDS, 1, 3600) ?? DEFAULT_BACKOFF.baseSeconds;
  const maxSeconds = number(vars.DELIVERY_RETRY_MAX_SECONDS, 1, MAX_QUEUE_DELAY_SECONDS) ?? DEFAULT_BACKOFF.maxSeconds;
  return { baseSeconds, maxSeconds };
}

/**
 * Whole seconds to wait before attempt `attempts + 1` of a batch: exponential backoff with jitter
 * (between half and all of `base × 2^(attempts-1)`, capped at `maxSeconds`), never sooner than the
 * destination's Retry-After (read by src/lib/http.ts `retryAfterSeconds`), which may exceed the cap. `random` is injectable for tests.
 */
export function retryDelaySeconds(
  attempts: number,
  retryAfterSeconds?: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxSeconds, policy.baseSeconds * 2 ** Math.max(0, attempts - 1));
  const jittered = Math.min(policy.maxSeconds, Math.max(1, Math.ceil(ceiling / 2 + random() * (ceiling / 2))));
  return Math.min(Math.max(jittered, Math.ceil(retryAfterSeconds ?? 0)), MAX_QUEUE_DELAY_SECONDS);
}
