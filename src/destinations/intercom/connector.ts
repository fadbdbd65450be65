import {
  classifyStatus,
  type FailureOutcome,
  type HttpResponse,
  httpRequest,
  isRecord,
  isTransientStatus,
  parseJson,
  type RateSignal,
  retryAfterSeconds,
  retryOutcome,
  truncate,
} from "../../lib/http";
import type { Batch, Connector, ConnectorContext, DestinationField, FieldType, Operation, RowResult } from "../destination";
import { INTERCOM_REGIONS, type IntercomConfig, type IntercomCredentials } from "./schema";

/**
 * The Intercom config as the connector reads it. `api_base` replaces the region's host, honoured
 * only when private destinations are allowed (local fakes). `timeout_ms` is internal (not in the
 * API schema): the per-request timeout, default 30 s.
 */
export type IntercomConnectorConfig = IntercomConfig & { timeout_ms?: number };
type Ctx = ConnectorContext<IntercomConnectorConfig, IntercomCredentials>;

/** The REST API version every request names (`Intercom-Version`), so answers keep their shape. */
const INTERCOM_VERSION = "2.11";
const MAX_BATCH = 50;
const DEFAULT_TIMEOUT_MS = 30_000;
/** Rows of a batch written at once. */
const ROWS_IN_FLIGHT = 4;
/** Intercom spreads its per-minute allowance over 10-second windows (its rate-limiting reference). */
const WINDOW_MS = 10_000;

/** Contact attributes Intercom stores as its own; anything else mapped is a custom attribute. */
const STANDARD_ATTRIBUTES = new Set([
  "role",
  "external_id",
  "email",
  "phone",
  "name",
  "avatar",
  "signed_up_at",
  "last_seen_at",
  "owner_id",
  "unsubscribed_from_emails",
]);
/** Standard attributes Intercom takes as Unix timestamps (seconds). */
const TIMESTAMPS = new Set(["signed_up_at", "last_seen_at"]);

/**
 * Intercom destination (access token as Bearer, `Intercom-Version`), one contact per request, four
 * rows of a batch at a time:
 *
 * - create, update and upsert: `POST /contacts/search` by `external_id` (the row's mapped value),
 *   then `PUT /contacts/{id}` when found, else `POST /contacts` with the config's role. Search can
 *   lag a fresh contact by minutes, so a create answered 409 ("A contact matching those details
 *   already exists with id=…") updates that contact instead: a resent batch never duplicates one.
 *   In the `update` sync mode a contact is never created: a missing one is a failed row with
 *   `not_found`.
 * - delete (mirror mode): found the same way (by the key when the row has no mapped value) and
 *   archived (`POST /contacts/{id}/archive`); one Intercom does not know is already gone.
 * - A 400/404/409/422 on a row fails that row with Intercom's message; 429, 408 and 5xx `retry` the
 *   batch (after `Retry-After`, else the `X-RateLimit-Reset` of a spent window); 401/403 `auth_failed`.
 */
export const intercomConnector: Connector<IntercomConnectorConfig, IntercomCredentials> = {
  maxBatchSize: (config) => Math.min(config.batch_size ?? 20, MAX_BATCH),
  // Private apps get 10,000 calls a minute (25,000 per workspace), in 10 s windows: ~166 calls/s.
  // A send is up to two calls per row (20 rows by default): 2 sends/s ≈ 80 calls/s leaves room for other apps.
  defaultRateLimit: { requestsPerSecond: 2, concurrency: 2 },

  /** `GET /me`: the token must work. */
  async test(ctx) {
    const { response, outcome } = await call(ctx, "GET", "/me");
    if (outcome) return { ok: false, error: outcome.error };
    if (response.status !== 200) return { ok: false, error: failure(response).error };
    return { ok: true };
  },

  /** `GET /data_attributes?model=contact`: the standard and custom attributes an API client may write. */
  async fields(ctx) {
    const { response, outcome } = await call(ctx, "GET", "/data_attributes?model=contact");
    if (outcome) return { ok: false, error: outcome.error };
    if (response.status !== 200) return { ok: false, error: failure(response).error };
    const body = parseJson(response.text);
    const attributes = isRecord(body) && Array.isArray(body.data) ? body.data.filter(isRecord) : [];
    const fields: DestinationField[] = [];
    for (const a of attributes) {
      if (typeof a.name !== "string" || a.api_writable === false || a.archived === true) continue;
      fields.push({
        name: a.name,
        ...(typeof a.label === "string" ? { label: a.label } : {}),
        type: fieldType(a.data_type),
        required: a.name === "external_id",
        ...(a.name === "external_id" ? { identifier: true } : {}),
      });
    }
    return { ok: true, fields };
  },

  rateSignal: (status, headers) => intercomRateSignal(status, headers),

  async send(ctx, batch) {
    if (batch.operations.length > MAX_BATCH) return { kind: "rejected", error: `a batch may carry at most ${MAX_BATCH} contacts` };
    const results: RowResult[] = [];
    // A few rows at a time: each is one or two calls, so a send stays a short burst.
    for (let i = 0; i < batch.operations.length; i += ROWS_IN_FLIGHT) {
      const slice = batch.operations.slice(i, i + ROWS_IN_FLIGHT);
      const done = await Promise.all(slice.map((op) => (op.op === "delete" ? archive(ctx, op) : write(ctx, op, updateOnly(batch)))));
      // A failure of the whole batch wins: rows already written are absorbed when it is resent (found, or 409).
      const failed = done.find((r): r is FailureOutcome => "kind" in r);
      if (failed) return failed;
      for (const r of done) if (!("kind" in r)) results.push(r);
    }
    return { kind: "results", results };
  },
};

/**
 * Whether the sync is in `update` mode (never create). The mode is being added beside this
 * connector (issue 13); the batch carries it as a string until SyncMode names it.
 */
function updateOnly(batch: Batch): boolean {
  return batch.mode === "update";
}

function fieldType(dataType: unknown): FieldType {
  switch (dataType) {
    case "integer":
      return "integer";
    case "float":
      return "number";
    case "boolean":
      return "boolean";
    case "date":
      return "datetime";
    default:
      return "string";
  }
}

// ---------------------------------------------------------------------------------------------
// Rows

/** The row's external_id: its mapped value, or for a delete that carries none, its key. */
function externalIdOf(op: Operation): string | undefined {
  const value = op.fields.external_id;
  const text = value === null || value === undefined ? "" : String(value).trim();
  if (text !== "") return text;
  return op.op === "delete" ? op.key : undefined;
}

/** A row's contact body: standard attributes at the top (timestamps as Unix seconds), the rest under `custom_attributes`. */
export function contactBody(fields: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const custom: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) {
    if (STANDARD_ATTRIBUTES.has(name)) {
      body[name] = TIMESTAMPS.has(name) ? unixSeconds(value) : name === "external_id" && value !== null ? String(value) : value;
    } else {
      // Objects are not attribute values in Intercom: they go as JSON text.
      const plain = value !== null && typeof value === "object" ? JSON.stringify(value) : value;
      custom[name.startsWith("custom_attributes.") ? name.slice(18) : name] = plain;
    }
  }
  if (Object.keys(custom).length > 0) body.custom_attributes = custom;
  return body;
}

function unixSeconds(value: unknown): unknown {
  if (typeof value === "string" && value.trim() !== "" && Number.isNaN(Number(value))) {
    const at = Date.parse(value);
    return Number.isNaN(at) ? value : Math.floor(at / 1000);
  }
  return typeof value === "string" && value.trim() !== "" ? Number(value) : value;
}

/** Creates or updates one row's contact; a whole-batch failure comes back as its outcome. */
async function write(ctx: Ctx, op: Operation, onlyUpdate: boolean): Promise<RowResult | FailureOutcome> {
  const externalId = externalIdOf(op);
  if (externalId === undefined) {
    return {
      key: op.key,
      ok: false,
      error: 'no value for "external_id" in this row: Intercom contacts are matched by it, so it must be mapped and not empty',
    };
  }
  const body = { ...contactBody(op.fields), external_id: externalId };
  const found = await findContact(ctx, externalId);
  if (typeof found === "object") return found;
  if (found !== undefined) return update(ctx, op, found, body);
  if (onlyUpdate) return { key: op.key, ok: false, error: `no Intercom contact has external_id ${externalId}`, not_found: true };
  const { response, outcome } = await call(ctx, "POST", "/contacts", { role: ctx.config.role, ...body });
  if (outcome) return outcome;
  if (response.status === 200) return { key: op.key, ok: true };
  // Search lags new contacts: one made moments ago (by an earlier attempt of this batch) is updated.
  const existing = response.status === 409 ? conflictingId(response) : undefined;
  if (existing) return update(ctx, op, existing, body);
  return rowFailure(op, response);
}

async function update(ctx: Ctx, op: Operation, id: string, body: Record<string, unknown>): Promise<RowResult | FailureOutcome> {
  const { response, outcome } = await call(ctx, "PUT", `/contacts/${encodeURIComponent(id)}`, body);
  if (outcome) return outcome;
  if (response.status === 200) return { key: op.key, ok: true };
  return rowFailure(op, response);
}

async function archive(ctx: Ctx, op: Operation): Promise<RowResult | FailureOutcome> {
  const externalId = externalIdOf(op) ?? op.key;
  const found = await findContact(ctx, externalId);
  if (typeof found === "object") return found;
  if (found === undefined) return { key: op.key, ok: true };
  const { response, outcome } = await call(ctx, "POST", `/contacts/${encodeURIComponent(found)}/archive`);
  if (outcome) return outcome;
  // 404: gone since the search, which is what the delete asked for.
  if (response.status === 200 || response.status === 404) return { key: op.key, ok: true };
  return rowFailure(op, response);
}

/** The id of the contact with this external_id, `undefined` when there is none, or a failure of the search. */
async function findContact(ctx: Ctx, externalId: string): Promise<string | undefined | FailureOutcome> {
  const { response, outcome } = await call(ctx, "POST", "/contacts/search", {
    query: { field: "external_id", operator: "=", value: externalId },
  });
  if (outcome) return outcome;
  if (response.status !== 200) return failure(response);
  const body = parseJson(response.text);
  const contacts = isRecord(body) && Array.isArray(body.data) ? body.data.filter(isRecord) : [];
  const match = contacts.find((c) => c.external_id === externalId) ?? contacts[0];
  return typeof match?.id === "string" ? match.id : undefined;
}

/** The existing contact's id in a 409 ("A contact matching those details already exists with id=…"). */
function conflictingId(res: HttpResponse): string | undefined {
  return /\bid=([A-Za-z0-9]+)/.exec(errorText(res))?.[1];
}

/** A row's own refusal (400, 404, 409, 422) fails the row; anything else is the batch's failure. */
function rowFailure(op: Operation, res: HttpResponse): RowResult | FailureOutcome {
  if (res.status === 401 || res.status === 403 || isTransientStatus(res.status)) return failure(res);
  return { key: op.key, ok: false, error: `HTTP ${res.status}: ${errorText(res)}` };
}

// ---------------------------------------------------------------------------------------------
// HTTP, errors and rate limits

function call(ctx: Ctx, method: "GET" | "POST" | "PUT", path: string, body?: unknown) {
  const base = ctx.allowPrivate && ctx.config.api_base ? ctx.config.api_base.replace(/\/+$/, "") : INTERCOM_REGIONS[ctx.config.region];
  return httpRequest(ctx, {
    method,
    url: `${base}${path}`,
    headers: {
      Authorization: `Bearer ${ctx.credentials.access_token}`,
      "Intercom-Version": INTERCOM_VERSION,
      Accept: "application/json",
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    timeoutMs: ctx.config.timeout_ms ?? DEFAULT_TIMEOUT_MS,
  });
}

/** `code: message` of an Intercom `error.list`, or the raw text. */
function errorText(res: HttpResponse): string {
  const body = parseJson(res.text);
  const errors = isRecord(body) && Array.isArray(body.errors) ? body.errors.filter(isRecord) : [];
  const text = errors
    .map((e) => [e.code, e.message].filter((v) => typeof v === "string").join(": "))
    .filter(Boolean)
    .join("; ");
  return truncate(text || res.text, 500);
}

function failure(res: HttpResponse): FailureOutcome {
  if (res.status === 429) return retryOutcome(`HTTP 429: ${errorText(res)}`, intercomRetryAfter(res.headers));
  return classifyStatus(res, errorText(res));
}

/** Seconds to wait after a 429: `Retry-After` when given, else until `X-RateLimit-Reset` (a Unix time) when the window is spent. */
export function intercomRetryAfter(headers: Headers, now: number = Date.now()): number | undefined {
  const explicit = retryAfterSeconds(headers, now);
  if (explicit !== undefined) return explicit;
  const reset = Number(headers.get("x-ratelimit-reset") ?? Number.NaN);
  if (headers.get("x-ratelimit-remaining") === "0" && Number.isFinite(reset) && reset > 0) {
    return Math.max(1, Math.ceil(reset - now / 1000));
  }
  return undefined;
}

/**
 * What an Intercom response says about the app's limit: 429 is a throttle and pauses every sender
 * until `Retry-After` or the window's `X-RateLimit-Reset`; the window is 10 s when the headers are
 * there. `X-RateLimit-Limit` counts calls, and a send makes several, so it is not turned into an
 * allowance of sends.
 */
export function intercomRateSignal(status: number, headers: Headers, now: number = Date.now()): RateSignal {
  const signal: RateSignal = { throttled: status === 429 };
  if (status === 429) {
    const wait = intercomRetryAfter(headers, now);
    if (wait !== undefined) signal.retryAfterSeconds = wait;
  }
  if (headers.has("x-ratelimit-limit")) signal.windowMs = WINDOW_MS;
  return signal;
}
