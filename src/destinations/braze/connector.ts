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
import { resultsByPosition } from "../row-errors";
import type { Connector, ConnectorContext, DestinationField, FieldType, Operation, RowResult } from "../destination";
import type { BrazeConfig, BrazeCredentials } from "./schema";

/**
 * The Braze config as the connector reads it. `timeout_ms` is internal (not in the API schema):
 * the per-request timeout, default 30 s, that tests shorten.
 */
export type BrazeConnectorConfig = BrazeConfig & { timeout_ms?: number };
type Ctx = ConnectorContext<BrazeConnectorConfig, BrazeCredentials>;

/** `/users/track` takes at most 75 attribute objects per request (https://www.braze.com/docs/api/api_limits). */
const BRAZE_MAX_ATTRIBUTES = 75;
/** `/users/delete` takes at most 50 external_ids per request (https://www.braze.com/docs/api/endpoints/user_data/post_user_delete). */
const BRAZE_MAX_DELETES = 50;
const DEFAULT_TIMEOUT_MS = 30_000;
// The sync mode that must never create a profile (issue 16); compared as text so this works before SyncMode lists it.
const UPDATE_ONLY_MODE: string = "update";

/**
 * Keys of an attributes object that name the user or steer the call: the connector sets
 * `external_id` (the model's key) and `_update_existing_only` itself, so a mapping may not.
 */
export const BRAZE_RESERVED_FIELDS = ["external_id", "braze_id", "user_alias", "_update_existing_only", "push_token_import"];

/**
 * Braze destination (REST API, REST API key as Bearer).
 *
 * - create, update and upsert: `POST /users/track` with `{"attributes":[{external_id: key,
 *   _update_existing_only, ...fields}]}`, up to 75 objects. `_update_existing_only` is true only for
 *   a sync in mode `update`: Braze then updates existing profiles and never creates one. Braze does
 *   not say which external_ids it skipped that way (the call answers "success"; see README), so such
 *   rows count as delivered. A null value removes the attribute. Non-fatal errors come back as
 *   `{"message":"success","errors":[{type, input_array:"attributes", index}]}`: the object at
 *   `index` failed, the others were applied; an error tied to no object fails every row of the call.
 * - delete (mirror mode): `POST /users/delete` `{"external_ids":[…]}`, 50 a call; Braze deletes
 *   profiles asynchronously and ignores ids it does not know, so every id counts as deleted.
 * - 429 `retry` after `Retry-After`, else `X-RateLimit-Reset`; 5xx `retry`; 401/403 `auth_failed`;
 *   other 4xx `rejected` (the delivery layer splits the batch to find the row Braze refuses).
 */
export const brazeConnector: Connector<BrazeConnectorConfig, BrazeCredentials> = {
  maxBatchSize: (config) => Math.min(config.batch_size ?? BRAZE_MAX_ATTRIBUTES, BRAZE_MAX_ATTRIBUTES),
  // /users/track allows 3,000 requests per 3 s and /users/delete 20,000 per minute (shared with
  // alias, identify and merge), per workspace: 300/s keeps under the lower of the two.
  defaultRateLimit: { requestsPerSecond: 300, concurrency: 10 },

  /**
   * Braze has no endpoint to check a key without side effects: an empty `/users/track` call is
   * refused with 401/403 for a bad key and 400 (nothing to track) for a good one.
   */
  async test(ctx) {
    const invalid = checkConfig(ctx);
    if (invalid) return { ok: false, error: invalid };
    const { response, outcome } = await call(ctx, "/users/track", {});
    if (outcome) return { ok: false, error: outcome.error };
    if (response.status === 400 || (response.status >= 200 && response.status < 300)) return { ok: true };
    return { ok: false, error: failure(response).error };
  },

  rateSignal: (status, headers) => brazeRateSignal(status, headers),

  async send(ctx, batch) {
    const invalid = checkConfig(ctx);
    if (invalid) return { kind: "rejected", error: invalid };
    if (batch.operations.length > BRAZE_MAX_ATTRIBUTES) {
      return { kind: "rejected", error: `a batch may carry at most ${BRAZE_MAX_ATTRIBUTES} users` };
    }
    const results = new Map<number, RowResult>();
    const tracks: Indexed[] = [];
    const deletes: Indexed[] = [];
    for (const [index, op] of batch.operations.entries()) (op.op === "delete" ? deletes : tracks).push({ index, op });
    if (tracks.length > 0) {
      const outcome = await track(ctx, tracks, batch.mode === UPDATE_ONLY_MODE, results);
      if (outcome) return outcome;
    }
    for (let i = 0; i < deletes.length; i += BRAZE_MAX_DELETES) {
      const chunk = deletes.slice(i, i + BRAZE_MAX_DELETES);
      const { response, outcome } = await call(ctx, "/users/delete", { external_ids: chunk.map(({ op }) => op.key) });
      if (outcome) return outcome;
      if (response.status < 200 || response.status >= 300) return failure(response);
      for (const { index, op } of chunk) results.set(index, { key: op.key, ok: true });
    }
    return { kind: "results", results: batch.operations.map((op, i) => results.get(i) ?? { key: op.key, ok: true }) };
  },

  /** Braze's standard user profile fields (https://www.braze.com/docs/api/objects_filters/user_attributes_object); custom attributes are any other name. */
  // Any other mapped field is a custom attribute.
  fields: async () => ({ ok: true, fields: BRAZE_PROFILE_FIELDS, open: true }),
};

interface Indexed {
  index: number;
  op: Operation;
}

const profileField = (name: string, label: string, type: FieldType = "string"): DestinationField => ({
  name,
  label,
  type,
  required: false,
});

/** The profile fields Braze documents for the attributes object; `external_id` is the model's key. */
const BRAZE_PROFILE_FIELDS: DestinationField[] = [
  { name: "external_id", label: "External user ID (the model's primary key)", type: "string", required: true, identifier: true },
  profileField("email", "Email"),
  profileField("first_name", "First name"),
  profileField("last_name", "Last name"),
  profileField("phone", "Phone"),
  profileField("country", "Country (ISO-3166-1 alpha-2)"),
  profileField("home_city", "Home city"),
  profileField("language", "Language (ISO-639-1)"),
  profileField("gender", "Gender (M, F, O, N, P)"),
  profileField("dob", "Date of birth (YYYY-MM-DD)", "date"),
  profileField("time_zone", "Time zone (IANA)"),
  profileField("email_subscribe", "Email subscription (opted_in, subscribed, unsubscribed)"),
  profileField("push_subscribe", "Push subscription (opted_in, subscribed, unsubscribed)"),
  profileField("date_of_first_session", "First session", "datetime"),
  profileField("date_of_last_session", "Last session", "datetime"),
];

function checkConfig(ctx: Ctx): string | undefined {
  if (!URL.canParse(ctx.config.rest_endpoint)) return "rest_endpoint is not a URL";
  // The API key must not travel in clear text outside local development.
  if (!ctx.allowPrivate && new URL(ctx.config.rest_endpoint).protocol !== "https:") return "rest_endpoint must be https://";
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// /users/track

async function track(
  ctx: Ctx,
  items: Indexed[],
  updateOnly: boolean,
  results: Map<number, RowResult>,
): Promise<FailureOutcome | undefined> {
  const attributes = items.map(({ op }) => {
    const fields: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(op.fields)) if (!BRAZE_RESERVED_FIELDS.includes(name)) fields[name] = value ?? null;
    return { ...fields, external_id: op.key, _update_existing_only: updateOnly };
  });
  const { response, outcome } = await call(ctx, "/users/track", { attributes });
  if (outcome) return outcome;
  if (response.status < 200 || response.status >= 300) return failure(response);
  const body = parseJson(response.text);
  const errors = isRecord(body) && Array.isArray(body.errors) ? body.errors : [];
  const positioned = errors.map((err) => ({
    at: isRecord(err) && err.input_array === "attributes" && typeof err.index === "number" ? err.index : undefined,
    message: errorType(err),
  }));
  resultsByPosition(items, positioned, results);
  return undefined;
}

function errorType(err: unknown): string {
  if (typeof err === "string") return err;
  if (isRecord(err) && typeof err.type === "string") return err.type;
  return `rejected by Braze: ${truncate(JSON.stringify(err), 300)}`;
}

// ---------------------------------------------------------------------------------------------
// HTTP and errors

function call(ctx: Ctx, path: string, body: unknown) {
  return httpRequest(ctx, {
    method: "POST",
    url: `${ctx.config.rest_endpoint.replace(/\/+$/, "")}${path}`,
    headers: { Authorization: `Bearer ${ctx.credentials.api_key}`, "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
    timeoutMs: ctx.config.timeout_ms ?? DEFAULT_TIMEOUT_MS,
  });
}

/** Braze's `message` and the `errors` it lists, or the raw text. */
function errorText(res: HttpResponse): string {
  const body = parseJson(res.text);
  if (isRecord(body)) {
    const errors = Array.isArray(body.errors) ? body.errors.map(errorType) : [];
    const text = [typeof body.message === "string" ? body.message : undefined, ...errors].filter(Boolean).join("; ");
    if (text) return truncate(text, 500);
  }
  return truncate(res.text, 500);
}

function failure(res: HttpResponse): FailureOutcome {
  if (res.status === 429) return retryOutcome(`HTTP 429: ${errorText(res)}`, brazeRetryAfter(res.headers));
  return classifyStatus(res, errorText(res));
}

/**
 * Seconds to wait after a 429: `Retry-After` when given, else until `X-RateLimit-Reset` (the
 * epoch second the workspace's window resets, https://www.braze.com/docs/api/api_limits).
 */
export function brazeRetryAfter(headers: Headers, now: number = Date.now()): number | undefined {
  const explicit = retryAfterSeconds(headers, now);
  if (explicit !== undefined) return explicit;
  const reset = Number(headers.get("x-ratelimit-reset") ?? Number.NaN);
  if (!Number.isFinite(reset) || reset <= 0) return undefined;
  return Math.max(1, Math.ceil(reset - now / 1000));
}

/** What a Braze response says about the rate limit: a 429 pauses every sender until the window resets. */
function brazeRateSignal(status: number, headers: Headers): RateSignal {
  if (status !== 429) return { throttled: false };
  const wait = brazeRetryAfter(headers);
  return wait === undefined ? { throttled: true } : { throttled: true, retryAfterSeconds: wait };
}
