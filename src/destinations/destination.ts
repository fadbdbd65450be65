import type { z } from "@hono/zod-openapi";
import type { FailureOutcome, RateSignal } from "../lib/http";
import type { SyncMode } from "../sync/mode";

/**
 * What a destination type is: the interface its connector implements and the plug-in descriptor
 * its folder exports. The registry (./registry.ts) lists the descriptors; everything else about a
 * type (API enum, request bodies, stored type, SSRF check, opening) is derived from them.
 */

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
  /**
   * The sync's mode. In `update` mode an `update` must never create a record: a record that does
   * not exist is a failed row with `not_found` (in mirror mode an update of a missing record may
   * put it back, as the model says it should be).
   */
  mode?: SyncMode;
}

/**
 * Outcome of one row of a batch. `error` is the destination's own message; `not_found` marks an
 * update-only row whose record does not exist (not retried until the row's values change).
 */
export type RowResult = { key: string; ok: true } | { key: string; ok: false; error: string; not_found?: true };

/**
 * How a send ended, classified so the delivery layer knows what to do:
 * - `results`: the destination answered per row (some rows may have failed permanently);
 * - `retry`: a transient failure of the whole batch (network, timeout, 408, 429, 5xx), to retry later;
 * - `rejected`: the destination refused the whole batch permanently (4xx); split it to find the bad row;
 * - `auth_failed`: credentials refused (401/403): the run fails and the sync goes to `error`;
 * - `quota_exhausted`: the account's long-period quota is spent (Salesforce's daily API limit): the
 *   batch waits until the quota allows, without spending a retry.
 */
export type SendOutcome = { kind: "results"; results: RowResult[] } | FailureOutcome;

/** The answer of a connection test: `error` is the destination's own reason when it refused. */
export type ConnectionTest = { ok: true } | { ok: false; error: string };

/** Requests per second and requests in flight allowed against one destination account. */
export interface RateLimit {
  requestsPerSecond: number;
  concurrency: number;
}

/** The value types a destination field may hold; mapped values are cast to them before sending. */
export const FIELD_TYPES = ["string", "number", "integer", "boolean", "date", "datetime", "json"] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

/**
 * One field of the destination's object as its API describes it (Salesforce describe, HubSpot
 * properties, an engagement tool's standard attributes): for mapping suggestions in the console,
 * required-field checks when a sync is saved, and casting.
 */
export interface DestinationField {
  name: string;
  label?: string;
  type: FieldType;
  /** A record cannot be created without it. */
  required: boolean;
  /** The field records are matched by (external id, id property, email...). */
  identifier?: boolean;
}

/**
 * The answer of a field description: `error` is the destination's own reason when it refused;
 * `failure` classifies a failed call like a send's (a 429 or a spent quota is no reason to send
 * uncast values, but one for the batch to wait), absent when the destination answered but the
 * description is unusable.
 */
export type FieldsAnswer =
  | {
      ok: true;
      fields: DestinationField[];
      /**
       * The destination also takes fields it does not list (Braze's and Klaviyo's custom
       * attributes): a mapped field outside the list is not refused, and its value is sent as it is.
       */
      open?: boolean;
    }
  | { ok: false; error: string; failure?: FailureOutcome };

/** What a connector gets to do its work. */
export interface ConnectorContext<Config, Credentials> {
  config: Config;
  credentials: Credentials;
  /** Private/loopback addresses allowed (ALLOW_PRIVATE_DESTINATIONS). */
  allowPrivate: boolean;
  /** The fetch to use (the global one in production). */
  fetch: typeof fetch;
  /** Told the status, headers and body of every response (src/lib/http.ts calls it); the limiter learns from them. */
  observe?: (status: number, headers: Headers, body: string) => void;
  /** The R2 bucket bound to the Worker under `binding`, if there is one (the files destination writes there). */
  bucket?: (binding: string) => R2Bucket | undefined;
}

/**
 * A run whose deliveries are all settled, as {@link Connector.finishRun} gets it: `fields` are the
 * sync's mapped destination fields, in mapping order.
 */
export interface FinishedRun {
  sync_id: string;
  run_id: string;
  /** When the run started (ISO 8601). */
  started_at: string;
  fields: string[];
}

/** The implementation of one destination type, given its parsed config and decrypted credentials. */
export interface Connector<Config, Credentials> {
  /** Most operations one send may carry (the vendor's documented batch limit). */
  maxBatchSize(config: Config): number;
  /** The vendor's documented limits, used when the destination sets none. */
  defaultRateLimit: RateLimit;
  /** Checks that the destination accepts the credentials (and the object/table exists). */
  test(ctx: ConnectorContext<Config, Credentials>): Promise<ConnectionTest>;
  /**
   * Sends one batch and classifies the outcome (see {@link SendOutcome}): errors are answers, so
   * it never throws for destination or network errors.
   */
  send(ctx: ConnectorContext<Config, Credentials>, batch: Batch): Promise<SendOutcome>;
  /**
   * What a response says about the account's rate limit, read from the vendor's own headers
   * (HubSpot's `X-HubSpot-RateLimit-*`). Without it, a 429 and its `Retry-After` are the signal.
   */
  rateSignal?(status: number, headers: Headers): RateSignal;
  /** The destination object's fields, where its API describes them (see {@link DestinationField}). */
  fields?(ctx: ConnectorContext<Config, Credentials>): Promise<FieldsAnswer>;
  /**
   * Called once every batch of a run is settled, before the run commits (the files destination
   * assembles its files and manifest). It may run again for the same run after a crash, so it must
   * be idempotent; an error fails the run with that reason and nothing is committed (the next run
   * sends the rows again).
   */
  finishRun?(ctx: ConnectorContext<Config, Credentials>, run: FinishedRun): Promise<ConnectionTest>;
  /**
   * The destination casts values to its fields' types itself (Postgres, through the table's row
   * type, exactly for numerics and bigints): delivery then sends mapped values as they are.
   */
  castsValues?: boolean;
}

/** One destination field as a sync fills it: from a model column (`source`), a constant or a template. */
interface MappingOfSync {
  source?: string;
  destination: string;
}

/** What a sync sends to a destination: its mappings, its mode and the model's primary key column. */
export interface SyncShape {
  mappings: readonly MappingOfSync[];
  mode: SyncMode;
  primaryKey: string;
}

/** A URL a destination will contact, with the dotted request path it comes from (e.g. "config.url"). */
export interface DestinationHost {
  path: string;
  url: string;
  /** Why it is refused when its host is private and the deployment does not allow that (a default otherwise). */
  refusal?: string;
}

/** The settings every destination config may carry, whatever its type. */
interface CommonConfig {
  /** Overrides of the connector's default rate limit (see fields.ts `rateLimit`). */
  rate_limit?: { requests_per_second?: number; concurrency?: number };
}

/**
 * A destination plug-in: what its folder's index.ts exports. `config` is stored and returned as
 * is; `credentials` are encrypted at rest and only ever returned masked.
 */
export interface Destination<Type extends string, Config extends CommonConfig, Credentials> {
  type: Type;
  /** Validates a config and applies its defaults; its OpenAPI name shows in the document. */
  config: z.ZodType<Config>;
  /** Validates credentials. */
  credentials: z.ZodType<Credentials>;
  /** The sync modes this destination can apply (a sync in another mode is refused when saved). */
  modes: readonly SyncMode[];
  /** False when the type works without credentials (the connector then gets `credentials.parse({})`). */
  credentialsRequired: boolean;
  /**
   * Every URL the destination will contact, for the save-time private-address refusal (the
   * connector re-checks resolved addresses at send time with src/lib/ssrf.ts). Credentials are
   * `null` when they are not being set.
   */
  hosts(config: Config, credentials: Credentials | null): DestinationHost[];
  /**
   * Problems with a sync that would write here (e.g. HubSpot: `id_property` must be mapped), as
   * `{path, message}` with paths from the sync body (`field_mappings`); checked when a sync is saved.
   */
  validateSync?(config: Config, sync: SyncShape): { path: string; message: string }[];
  /**
   * Whether a run must plan every valid row of the model, changed or not (as a full resync does;
   * mirror deletes are still planned): the files destination's full exports.
   */
  plansEveryRow?(config: Config): boolean;
  /**
   * Destination fields the destination finds a record by (e.g. HubSpot's `id_property`), sent with
   * every update of a sync that sends changed fields only, changed or not. The field the primary
   * key is mapped to is always added; without this hook it is the only one.
   */
  identityFields?(config: Config, sync: SyncShape): string[];
  connector: Connector<Config, Credentials>;
}
