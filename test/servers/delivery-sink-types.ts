/** Shapes shared by the delivery sink (Node) and the tests that drive it (workerd): no Node imports here. */

/** How a test configures one sink destination (`POST /config/{name}`). */
export interface SinkConfig {
  /** Rows refused one by one (200 with `results[].ok=false`); the others are applied. */
  fail_keys?: Record<string, string>;
  /** A batch holding any of these keys is refused whole: 400 `{error}`, nothing applied. */
  reject_keys?: Record<string, string>;
  /** Every request gets this answer, nothing applied (outages, auth failures). */
  always?: { status: number; retry_after?: string; body?: unknown };
  /** Hold every request this long before answering (applied, then answered). */
  delay_ms?: number;
  /** Requests accepted per rolling second; beyond, 429 with `Retry-After: 1`. */
  accept_rps?: number;
  /** Random failures: `rate` of the requests, drawn from a generator seeded by `seed`. */
  chaos?: { seed: number; rate: number; hold_ms?: number; retry_after?: string };
  /** Keep request bodies in the log (for tests that replay a message). */
  keep_bodies?: boolean;
}

/** Kinds of random failure, in the order the generator picks them. */
export const CHAOS_KINDS = ["server_error", "rate_limited", "timeout_before", "timeout_after", "record_errors"] as const;
export type ChaosKind = (typeof CHAOS_KINDS)[number];

/** One request as the sink saw it. */
export interface SinkRequest {
  seq: number;
  /** Arrival and answer times (epoch ms, this process's clock). */
  at: number;
  end: number;
  batch_id: string | null;
  idempotency_key: string | null;
  keys: string[];
  status: number;
  /** applied | replayed | rejected | refused (always) | throttled | fault:<kind> */
  outcome: string;
  body?: unknown;
}
