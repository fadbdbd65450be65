import {
  classifyStatus,
  type FailureOutcome,
  type HttpResponse,
  httpRequest,
  isRecord,
  parseJson,
  type RateSignal,
  retryAfterSeconds,
  retryOutcome,
  truncate,
} from "../../lib/http";
import type { Connector, ConnectorContext, Operation, RowResult, SendOutcome } from "../destination";
import type { HubspotConfig, HubspotCredentials } from "./schema";

/**
 * The HubSpot config as the connector reads it. `api_base` replaces `https://api.hubapi.com`,
 * honoured only when private destinations are allowed (local dev and tests point it at a fake
 * HubSpot; the API refuses it otherwise, so in production the token can only ever go to HubSpot).
 * `timeout_ms` is internal (not in the API schema): the per-request timeout, default 30 s.
 */
export type HubspotConnectorConfig = HubspotConfig & { timeout_ms?: number };
type Ctx = ConnectorContext<HubspotConnectorConfig, HubspotCredentials>;

/** HubSpot's public API. */
export const HUBSPOT_API_BASE = "https://api.hubapi.com";
/** CRM v3 batch endpoints take at most 100 inputs. */
const HUBSPOT_MAX_INPUTS = 100;
const DEFAULT_TIMEOUT_MS = 30_000;
// A 400 naming bad inputs means nothing was written: resend without them, a bounded number of times.
const MAX_UPSERT_ROUNDS = 3;

/**
 * HubSpot destination (CRM v3 objects, private-app token as Bearer).
 *
 * - create, update and upsert: `POST /crm/v3/objects/{type}/batch/upsert` with
 *   `{"inputs":[{"idProperty","id","properties","objectWriteTraceId":key}]}`, up to 100. `id` is
 *   the row's mapped value of the `id_property` field (HubSpot's batch upsert: "id" is the value of
 *   the idProperty property), never the model's key; the key rides along as objectWriteTraceId so
 *   results map back to rows. A row without that value fails on its own. Property values are sent
 *   as HubSpot's strings (null clears a property: ""). A 207 lists the failed inputs in
 *   `errors[].context` (by objectWriteTraceId or id), the rest succeeded. A 400 that names inputs
 *   wrote nothing: they fail with HubSpot's message and the others are resent.
 * - update in update mode (never create): `batch/update` with the same inputs; an input HubSpot
 *   answers `OBJECT_NOT_FOUND` is `not_found`, other errors fail their rows as for upserts.
 * - delete (mirror mode): `batch/read` by `idProperty` finds the record ids (a value HubSpot does
 *   not know counts as deleted), then `batch/archive`. The value looked up is the operation's
 *   `id_property` field when it carries one, else its key: a row gone from the model leaves only its
 *   key in the snapshot, which is why a mirror sync must map the key column to `id_property`
 *   (`validateSync` in index.ts refuses it otherwise).
 * - 429 `retry` after `Retry-After`, else the `X-HubSpot-RateLimit-*` window; 5xx `retry`;
 *   401/403 `auth_failed`; other 4xx `rejected`. {@link hubspotRateSignal} tells the limiter.
 */
export const hubspotConnector: Connector<HubspotConnectorConfig, HubspotCredentials> = {
  maxBatchSize: (config) => Math.min(config.batch_size ?? HUBSPOT_MAX_INPUTS, HUBSPOT_MAX_INPUTS),
  // Private apps get 100 requests per 10 s on Free/Starter portals (more on Pro/Enterprise).
  defaultRateLimit: { requestsPerSecond: 10, concurrency: 5 },

  /** Reads the `id_property` definition: the token must work and the property must be unique. */
  async test(ctx) {
    const invalid = checkConfig(ctx.config);
    if (invalid) return { ok: false, error: invalid };
    const { object_type: type, id_property: prop } = ctx.config;
    const { response, outcome } = await call(ctx, "GET", `/crm/v3/properties/${type}/${prop}`);
    if (outcome) return { ok: false, error: outcome.error };
    if (response.status === 404) return { ok: false, error: `HubSpot has no property ${prop} on ${type}: ${errorText(response)}` };
    if (response.status !== 200) return { ok: false, error: failure(response).error };
    const body = parseJson(response.text);
    // Contacts upsert by email although email is not flagged unique.
    const unique = isRecord(body) && body.hasUniqueValue === true;
    if (!unique && !(type === "contacts" && prop === "email")) {
      return { ok: false, error: `${type}.${prop} does not require unique values, so upserts cannot match on it` };
    }
    return { ok: true };
  },

  rateSignal: (status, headers) => hubspotRateSignal(status, headers),

  async send(ctx, batch) {
    const invalid = checkConfig(ctx.config);
    if (invalid) return { kind: "rejected", error: invalid };
    if (batch.operations.length > HUBSPOT_MAX_INPUTS) {
      return { kind: "rejected", error: `a batch may carry at most ${HUBSPOT_MAX_INPUTS} inputs` };
    }
    const results = new Map<number, RowResult>();
    const upserts: Indexed[] = [];
    const updates: Indexed[] = [];
    const deletes: Indexed[] = [];
    for (const [index, op] of batch.operations.entries()) {
      const list = op.op === "delete" ? deletes : op.op === "update" && batch.mode === "update" ? updates : upserts;
      list.push({ index, op });
    }
    if (upserts.length > 0) {
      const outcome = await upsert(ctx, upserts, results);
      if (outcome) return outcome;
    }
    if (updates.length > 0) {
      const outcome = await upsert(ctx, updates, results, "update");
      if (outcome) return outcome;
    }
    if (deletes.length > 0) {
      const outcome = await archive(ctx, deletes, results);
      if (outcome) return outcome;
    }
    return { kind: "results", results: batch.operations.map((op, i) => results.get(i) ?? { key: op.key, ok: true }) };
  },
};

interface Indexed {
  index: number;
  op: Operation;
}

export function checkConfig(config: HubspotConnectorConfig): string | undefined {
  // Both go into URL paths; config.ts allows narrower forms, but the connector may get any object.
  if (!/^[A-Za-z0-9_-]+$/.test(config.object_type)) return `invalid object type ${JSON.stringify(config.object_type)}`;
  if (!/^[a-z][a-z0-9_]*$/.test(config.id_property)) return `invalid id property ${JSON.stringify(config.id_property)}`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Upsert

/** Batch upsert, or batch update (update mode: nothing is created; unknown records are `not_found`). */
async function upsert(
  ctx: Ctx,
  items: Indexed[],
  results: Map<number, RowResult>,
  action: "upsert" | "update" = "upsert",
): Promise<SendOutcome | undefined> {
  const { object_type: type, id_property: idProperty } = ctx.config;
  let pending: Indexed[] = [];
  for (const item of items) {
    if (idValueOf(item.op, idProperty) !== undefined) pending.push(item);
    else
      results.set(item.index, {
        key: item.op.key,
        ok: false,
        error: `no value for HubSpot's id property "${idProperty}" in this row: records are matched by it, so it must be mapped and not empty`,
      });
  }
  for (let round = 1; pending.length > 0; round++) {
    const inputs = pending.map(({ op }) => ({
      idProperty,
      id: idValueOf(op, idProperty),
      properties: properties(op.fields, idProperty),
      objectWriteTraceId: op.key,
    }));
    const { response, outcome } = await call(ctx, "POST", `/crm/v3/objects/${type}/batch/${action}`, { inputs });
    if (outcome) return outcome;
    const body = parseJson(response.text);
    if (response.status === 200 || response.status === 201 || response.status === 207) {
      const failed = failedInputs(body, pending, idProperty);
      const unplaced = unmappedError(body, pending, idProperty);
      const confirmed = unplaced === undefined ? undefined : confirmedKeys(body, pending, idProperty);
      for (const { index, op } of pending) {
        // An error HubSpot did not tie to an input: only rows its results confirm are known to be written.
        const unconfirmed = confirmed !== undefined && !confirmed.has(op.key) && unplaced !== undefined;
        const result = failed.get(op.key) ?? (unconfirmed ? { key: op.key, ok: false, error: unplaced } : { key: op.key, ok: true });
        results.set(index, result);
      }
      return undefined;
    }
    const failed = response.status === 400 ? failedInputs(body, pending, idProperty) : new Map<string, RowResult>();
    if (failed.size === 0 || round >= MAX_UPSERT_ROUNDS) return failure(response);
    for (const { index, op } of pending) {
      const result = failed.get(op.key);
      if (result) results.set(index, result);
    }
    pending = pending.filter(({ op }) => !failed.has(op.key));
  }
  return undefined;
}

/**
 * The value HubSpot matches a row's record by: its mapped `id_property` field (as HubSpot's string),
 * or for a delete that carries none, its key. `undefined` when an upsert has no usable value.
 */
function idValueOf(op: Operation, idProperty: string): string | undefined {
  const value = op.fields[idProperty];
  const text = value === null || value === undefined ? "" : typeof value === "string" ? value : propertyValue(value);
  if (text.trim() !== "") return text;
  return op.op === "delete" ? op.key : undefined;
}

/** Model keys by the id value they were sent with, exact and lower-cased (HubSpot may lower-case emails). */
function keysByIdValue(items: Indexed[], idProperty: string) {
  const exact = new Map<string, string[]>();
  const folded = new Map<string, string[]>();
  const add = (map: Map<string, string[]>, value: string, key: string) => map.set(value, [...(map.get(value) ?? []), key]);
  for (const { op } of items) {
    const value = idValueOf(op, idProperty);
    if (value === undefined) continue;
    add(exact, value, op.key);
    add(folded, value.toLowerCase(), op.key);
  }
  return (ref: string): string[] => exact.get(ref) ?? folded.get(ref.toLowerCase()) ?? [];
}

/** HubSpot stores property values as strings; "" clears one. The key sits in `id`, not here. */
function properties(fields: Record<string, unknown>, idProperty: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(fields)) {
    if (name === idProperty) continue;
    out[name] = value === null || value === undefined ? "" : propertyValue(value);
  }
  return out;
}

function propertyValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  return JSON.stringify(value);
}

/** The message of the first error in `errors` that names none of the inputs, if any. */
function unmappedError(body: unknown, items: Indexed[], idProperty: string): string | undefined {
  if (!isRecord(body) || !Array.isArray(body.errors)) return undefined;
  for (const err of body.errors.filter(isRecord)) {
    if (failedInputs({ errors: [err] }, items, idProperty).size === 0) return errorMessage(err);
  }
  return undefined;
}

/** Keys a response's `results` confirm, by objectWriteTraceId (the key) or the idProperty value. */
function confirmedKeys(body: unknown, items: Indexed[], idProperty: string): Set<string> {
  const confirmed = new Set<string>();
  if (!isRecord(body) || !Array.isArray(body.results)) return confirmed;
  const keys = new Set(items.map(({ op }) => op.key));
  const byValue = keysByIdValue(items, idProperty);
  for (const result of body.results.filter(isRecord)) {
    const props = isRecord(result.properties) ? result.properties : {};
    if (typeof result.objectWriteTraceId === "string" && keys.has(result.objectWriteTraceId)) confirmed.add(result.objectWriteTraceId);
    const value = props[idProperty];
    if (typeof value === "string") for (const key of byValue(value)) confirmed.add(key);
  }
  return confirmed;
}

function errorMessage(err: Record<string, unknown>): string {
  return truncate([err.category, err.message].filter((v) => typeof v === "string").join(": ") || "rejected by HubSpot", 1000);
}

/**
 * The inputs a response's `errors` name, by key, with HubSpot's message. An error points at
 * inputs through `context.objectWriteTraceId` (set to the key) or `context.ids` (idProperty values,
 * mapped back to the keys sent with them; HubSpot may lower-case emails, so they match case-insensitively too).
 */
function failedInputs(body: unknown, items: Indexed[], idProperty: string): Map<string, RowResult> {
  const failed = new Map<string, RowResult>();
  if (!isRecord(body)) return failed;
  const keys = new Set(items.map(({ op }) => op.key));
  const byValue = keysByIdValue(items, idProperty);
  const errors = Array.isArray(body.errors) ? body.errors.filter(isRecord) : [];
  for (const err of errors) {
    const context = isRecord(err.context) ? err.context : {};
    const message = errorMessage(err);
    // Only batch/update answers it for an input: update mode's "no such record".
    const notFound = err.category === "OBJECT_NOT_FOUND";
    const fail = (key: string) => {
      if (!failed.has(key)) failed.set(key, { key, ok: false, error: message, ...(notFound ? { not_found: true as const } : {}) });
    };
    for (const ref of asList(context.objectWriteTraceId)) if (typeof ref === "string" && keys.has(ref)) fail(ref);
    for (const ref of [...asList(context.ids), ...asList(context.id)])
      if (typeof ref === "string") for (const key of byValue(ref)) fail(key);
  }
  return failed;
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

// ---------------------------------------------------------------------------------------------
// Delete

async function archive(ctx: Ctx, items: Indexed[], results: Map<number, RowResult>): Promise<SendOutcome | undefined> {
  const { object_type: type, id_property: idProperty } = ctx.config;
  const values = [...new Set(items.map(({ op }) => idValueOf(op, idProperty) ?? op.key))];
  const read = await call(ctx, "POST", `/crm/v3/objects/${type}/batch/read`, {
    idProperty,
    inputs: values.map((id) => ({ id })),
    properties: [idProperty],
  });
  if (read.outcome) return read.outcome;
  // 207 lists the keys HubSpot does not know (OBJECT_NOT_FOUND): already deleted.
  if (read.response.status !== 200 && read.response.status !== 207) return failure(read.response);
  const body = parseJson(read.response.text);
  const records = isRecord(body) && Array.isArray(body.results) ? body.results.filter(isRecord) : [];
  const exact = new Map<string, string>();
  const folded = new Map<string, string>();
  for (const record of records) {
    const props = isRecord(record.properties) ? record.properties : {};
    const value = props[idProperty];
    if (typeof record.id !== "string" || typeof value !== "string") continue;
    exact.set(value, record.id);
    folded.set(value.toLowerCase(), record.id);
  }
  const ids = new Set<string>();
  for (const { index, op } of items) {
    const value = idValueOf(op, idProperty) ?? op.key;
    const id = exact.get(value) ?? folded.get(value.toLowerCase());
    if (id !== undefined) ids.add(id);
    results.set(index, { key: op.key, ok: true });
  }
  if (ids.size === 0) return undefined;
  const { response, outcome } = await call(ctx, "POST", `/crm/v3/objects/${type}/batch/archive`, {
    inputs: [...ids].map((id) => ({ id })),
  });
  if (outcome) return outcome;
  // 204 No Content on success; archive has no per-input results.
  if (response.status < 200 || response.status >= 300) return failure(response);
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// HTTP and errors

export function call(ctx: Ctx, method: "GET" | "POST", path: string, body?: unknown) {
  const base = ctx.allowPrivate && ctx.config.api_base ? ctx.config.api_base.replace(/\/+$/, "") : HUBSPOT_API_BASE;
  return httpRequest(ctx, {
    method,
    url: `${base}${path}`,
    headers: {
      Authorization: `Bearer ${ctx.credentials.access_token}`,
      Accept: "application/json",
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    timeoutMs: ctx.config.timeout_ms ?? DEFAULT_TIMEOUT_MS,
  });
}

/** `CATEGORY: message` of a HubSpot error body, or the raw text. */
export function errorText(res: HttpResponse): string {
  const body = parseJson(res.text);
  if (isRecord(body)) {
    const text = [body.category ?? body.errorType, body.message].filter((v) => typeof v === "string").join(": ");
    if (text) return truncate(text, 500);
  }
  return truncate(res.text, 500);
}

export function failure(res: HttpResponse): FailureOutcome {
  if (res.status === 429) return retryOutcome(`HTTP 429: ${errorText(res)}`, hubspotRetryAfter(res.headers));
  return classifyStatus(res, errorText(res));
}

/**
 * Seconds to wait after a 429: `Retry-After` when given; else when the per-second window is spent,
 * 1 s; else when the rolling window (`X-HubSpot-RateLimit-Interval-Milliseconds`, 10 s) is spent, its length.
 */
export function hubspotRetryAfter(headers: Headers): number | undefined {
  const explicit = retryAfterSeconds(headers);
  if (explicit !== undefined) return explicit;
  if (headers.get("x-hubspot-ratelimit-secondly-remaining") === "0") return 1;
  const interval = Number(headers.get("x-hubspot-ratelimit-interval-milliseconds"));
  if (headers.get("x-hubspot-ratelimit-remaining") === "0" && interval > 0) return Math.ceil(interval / 1000);
  return undefined;
}

/**
 * What a HubSpot response says about the account's limits: 429 is a throttle; `Retry-After`, or a
 * spent per-second window (`X-HubSpot-RateLimit-Secondly-Remaining: 0`), pauses every sender; the
 * allowance is `-Max` per `-Interval-Milliseconds` (the rolling 10 s window) and `-Secondly` when
 * given, the lower of both. HubSpot omits these headers when it cannot gather them; then the 429s
 * alone teach the limiter. A spent rolling window is not a pause for everyone (it frees gradually).
 */
export function hubspotRateSignal(status: number, headers: Headers): RateSignal {
  const signal: RateSignal = { throttled: status === 429 };
  const explicit = retryAfterSeconds(headers);
  if (status === 429 && explicit !== undefined) signal.retryAfterSeconds = explicit;
  else if (status === 429 && headers.get("x-hubspot-ratelimit-secondly-remaining") === "0") signal.retryAfterSeconds = 1;
  const positive = (name: string) => {
    const n = Number(headers.get(name) ?? Number.NaN);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  };
  const max = positive("x-hubspot-ratelimit-max");
  const interval = positive("x-hubspot-ratelimit-interval-milliseconds");
  const secondly = positive("x-hubspot-ratelimit-secondly");
  const allowances = [max !== undefined && interval !== undefined ? (max * 1000) / interval : undefined, secondly].filter(
    (v): v is number => v !== undefined,
  );
  if (allowances.length > 0) signal.allowedPerSecond = Math.min(...allowances);
  if (interval !== undefined) signal.windowMs = interval;
  return signal;
}
