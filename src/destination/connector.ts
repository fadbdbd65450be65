import type { DestinationType } from "../db/schema";

/** What a sync asks a destination to do with one row. */
export const OPERATION_KINDS = ["create", "update", "upsert", "delete"] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

/** One row's change, keyed by the model's primary key; `fields` are the mapped destination fields. */
export interface Operation {
  op: OperationKind;
  key: string;
  fields: Record<string, unknown>;
}

/** A destination batch: what one queue message (and usually one API request) carries. */
export interface Batch {
  sync_id: string;
  run_id: string;
  /** Stable across redeliveries: the destination's idempotency key. */
  batch_id: string;
  operations: Operation[];
}

/** Outcome of one row of a batch. `error` is the destination's own message. */
export type RowResult = { key: string; ok: true } | { key: string; ok: false; error: string };

/**
 * How a send ended, classified so the delivery layer knows what to do:
 * - `results`: the destination answered per row (some rows may have failed permanently);
 * - `retry`: a transient failure of the whole batch (network, timeout, 408, 429, 5xx), to retry later;
 * - `rejected`: the destination refused the whole batch permanently (4xx); split it to find the bad row;
 * - `auth_failed`: credentials refused (401/403): the run fails and the sync goes to `error`.
 */
export type SendOutcome =
  | { kind: "results"; results: RowResult[] }
  | { kind: "retry"; error: string; retryAfterSeconds?: number }
  | { kind: "rejected"; error: string }
  | { kind: "auth_failed"; error: string };

/** What a connector gets to do its work. */
export interface ConnectorContext<Config, Credentials> {
  config: Config;
  credentials: Credentials;
  /** Private/loopback addresses allowed (ALLOW_PRIVATE_DESTINATIONS). */
  allowPrivate: boolean;
  /** The fetch to use (the global one in production). */
  fetch: typeof fetch;
}

/** One destination type. Each lives in its own file under connectors/; a new one touches nothing else but the registry. */
export interface Connector<Config = Record<string, unknown>, Credentials = Record<string, unknown>> {
  type: DestinationType;
  /** Most operations one send may carry (the vendor's documented batch limit). */
  maxBatchSize(config: Config): number;
  /** The vendor's documented limits, used when the destination sets none. */
  defaultRateLimit: { requestsPerSecond: number; concurrency: number };
  /** Checks that the destination accepts the credentials (and the object/table exists). */
  testConnection(ctx: ConnectorContext<Config, Credentials>): Promise<{ ok: true } | { ok: false; error: string }>;
  /** Sends one batch and classifies the outcome; never throws for destination or network errors. */
  send(ctx: ConnectorContext<Config, Credentials>, batch: Batch): Promise<SendOutcome>;
}
