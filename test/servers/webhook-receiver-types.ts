/**
 * Shapes of the fake webhook receiver (webhook-receiver.ts), shared by the server (Node) and the
 * tests, stress suites and bench that drive it (workerd, Node): no Node imports here.
 */

/** A canned answer for the next hook request(s): a status (with Retry-After / body) and/or a delay. */
export interface Fault {
  /** Answer with this status instead of applying the batch; without it the batch is applied after the delay. */
  status?: number;
  retry_after?: string;
  body?: unknown;
  /** Wait this long before answering (timeouts). */
  delay_ms?: number;
  /** How many requests this fault answers; default 1. */
  times?: number;
  /**
   * Connection reset: destroy the socket instead of answering, either before applying the batch
   * ("before": nothing applied) or after applying it ("after": applied, the client never hears).
   */
  reset?: "before" | "after";
  /** Name under which /state counts the requests this fault answered (`faults_served`). */
  label?: string;
}

/** How a test configures one endpoint (`POST /config/{name}` replaces the config, keeps the rows). */
export interface WebhookConfig {
  /** Rows refused one by one (200 with `results[].ok=false`); the others are applied. */
  fail_keys?: Record<string, string>;
  /** A batch holding any of these keys is refused whole: 400 `{error}`, nothing applied. */
  reject_keys?: Record<string, string>;
  /** Secret to verify X-Signature with; unsigned or wrongly signed requests get 401. */
  signing_secret?: string;
  /**
   * Honour Idempotency-Key like a careful API: a key whose request was applied is answered again
   * from the stored answer, never applied twice. Off by default (every request is applied).
   */
  idempotent?: boolean;
  /** Canned answers consumed in order by the next hook requests. */
  faults?: Fault[];
  /** A fault is not spent on a request whose Idempotency-Key was already faulted this often (0: no cap). */
  max_faults_per_key?: number;
  /** Every request gets this answer, nothing applied (outages, auth failures). */
  always?: { status: number; retry_after?: string; body?: unknown };
  /** Hold every applied request this long before answering. */
  delay_ms?: number;
  /** Requests accepted per rolling second; beyond, 429 with `Retry-After: 1`. */
  accept_rps?: number;
  /** Random failures: `rate` of the requests, drawn from a generator seeded by `seed`. */
  chaos?: { seed: number; rate: number; hold_ms?: number; retry_after?: string };
  /** Keep request bodies in the log (`GET /state/{name}?bodies=1` returns them). */
  keep_bodies?: boolean;
}

/** Kinds of random failure, in the order the generator picks them. */
export const CHAOS_KINDS = ["server_error", "rate_limited", "timeout_before", "timeout_after", "record_errors"] as const;
export type ChaosKind = (typeof CHAOS_KINDS)[number];

/** One hook request as the receiver saw it, faulted or not. */
export interface Delivery {
  /** Arrival order on this endpoint, from 0. */
  seq: number;
  /** Arrival and answer times (epoch ms, the receiver's clock). */
  at: number;
  end: number;
  batch_id: string | null;
  idempotency_key: string | null;
  signature: string | null;
  /** Whether `signature` is the HMAC of the exact body under the configured secret (null: no secret set). */
  signature_valid: boolean | null;
  content_type: string | null;
  /** Every request header, lower-cased names. */
  headers: Record<string, string>;
  /** Keys of the batch's operations. */
  keys: string[];
  /** Status answered (0: connection reset, or not answered yet). */
  status: number;
  /** applied | replayed | rejected | refused (always) | throttled | bad_signature | reset | fault:<kind or label> */
  outcome: string;
  body?: unknown;
}

/** An endpoint's counters since it was created (never reset by /config). */
export interface ReceiverStats {
  faults_served: Record<string, number>;
  replays: number;
  /** Same Idempotency-Key with a different body: a sender reusing a key for other data. */
  idempotency_conflicts: number;
  record_rejections: number;
  batch_rejections: number;
  /** `create` applied to a key the receiver already held. */
  duplicate_creates: number;
  /** `update` applied to a key the receiver did not hold. */
  updates_of_missing: number;
  /** `delete` applied to a key the receiver did not hold. */
  deletes_of_missing: number;
  /** Most hook requests the receiver held at once (arrived, not yet answered), counted as they came. */
  peak_in_flight: number;
}

/** `GET /state/{name}`: the destination's rows and its history. */
export interface ReceiverState {
  rows: Record<string, Record<string, unknown>>;
  /** Requests whose batch was applied (faulted, refused, rejected and replayed ones not counted). */
  requests: number;
  operations: number;
  /** Times each key was created: a `create` applied, or another write that found no row. */
  creates: Record<string, number>;
  /** Batch ids of the applied requests, in order. */
  batch_ids: string[];
  deliveries: Delivery[];
  faults_pending: number;
  stats: ReceiverStats;
}

/** `GET /state/{name}?summary=1`: the counters without rows and deliveries (large endpoints). */
export interface ReceiverSummary {
  requests: number;
  operations: number;
  row_count: number;
  faults_pending: number;
  stats: ReceiverStats;
}
