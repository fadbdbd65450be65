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

/** `max_retries` of the deliveries consumer (wrangler.toml): attempts after the first, then the dead-letter queue. */
const QUEUE_MAX_RETRIES = 8;
/** Attempts the queue makes of one message before it dead-letters it. */
export const QUEUE_MAX_ATTEMPTS = QUEUE_MAX_RETRIES + 1;

/** Longest one attempt of a batch takes: the slowest destination timeout (60 s) plus the consumer's rate-limit waits (5 s polling, a slot at most 5 s ahead), with margin. */
export const ATTEMPT_SECONDS = 90;

/** The last thing the run heard of a batch: enqueued, or a transient failure or wait announced by the consumer. */
export interface BatchSign {
  /** Epoch ms. */
  at: number;
  /** The wait the consumer announced before the next attempt (backoff, Retry-After, rate limit), in seconds. */
  waitSeconds?: number;
}

/**
 * When a batch's report is overdue (epoch ms): after its last sign, the announced wait (capped like
 * the queue caps a delay), then everything the consumer does without telling the run: up to
 * `maxRetries` retries of its own failures (RPC, D1, R2) at the policy's backoff, and `maxRetries + 1`
 * attempts of {@link ATTEMPT_SECONDS}. A report missing after that was lost with its message.
 */
export function reportOverdueAt(sign: BatchSign, policy: BackoffPolicy, maxRetries = QUEUE_MAX_RETRIES): number {
  const announced = Math.min(Math.max(0, sign.waitSeconds ?? 0), MAX_QUEUE_DELAY_SECONDS);
  let silentBackoff = 0;
  for (let attempt = 1; attempt <= maxRetries; attempt++) {
    silentBackoff += Math.min(policy.maxSeconds, policy.baseSeconds * 2 ** (attempt - 1));
  }
  return sign.at + (announced + silentBackoff + (maxRetries + 1) * ATTEMPT_SECONDS) * 1000;
}
