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
import type { Connector, ConnectorContext, Operation, RowResult } from "../destination";
import { type IdentifierKind, identifierFields, rowIdentifiers } from "../identifiers";
import { META_RULES, META_SCHEMA_KEYS, type MetaAudiencesConfig, type MetaAudiencesCredentials } from "./schema";

/** The config as the connector reads it; `timeout_ms` is internal (tests), default 30 s. */
export type MetaConnectorConfig = MetaAudiencesConfig & { timeout_ms?: number };
type Ctx = ConnectorContext<MetaConnectorConfig, MetaAudiencesCredentials>;

/** The Graph API. */
export const META_API_BASE = "https://graph.facebook.com";
/**
 * "You can add an unlimited number of records for an audience, but only a maximum of 10000 at a
 * time" (https://developers.facebook.com/docs/marketing-api/reference/custom-audience/users).
 */
const META_MAX_USERS_PER_REQUEST = 10_000;
const DEFAULT_TIMEOUT_MS = 30_000;

// Graph API error codes (https://developers.facebook.com/docs/graph-api/guides/error-handling):
// 190/102 the token is invalid or expired, 10 and 200-299 a permission is missing;
// 4, 17, 32, 613 and 80003 (custom audience business use case) are rate limits; 1 and 2 are transient.
const AUTH_CODES = new Set([102, 190]);
const RATE_CODES = new Set([4, 17, 32, 613, 80003]);
const TRANSIENT_CODES = new Set([1, 2]);

/**
 * Meta Custom Audiences (customer list audiences), system user token as Bearer.
 *
 * - create, update, upsert: `POST /{version}/{audience_id}/users` with
 *   `{payload:{schema:[…keys], data:[[…values]]}, session}`; delete (mirror): the same body with
 *   `DELETE`. Identifiers are normalised and hashed by Meta's rules (../identifiers.ts, schema.ts);
 *   the schema is the keys the batch's rows carry, a row without one sends "".
 * - At most 10,000 people per request: a bigger batch is one upload session
 *   (`session_id` random per send, `batch_seq` 1…n, `last_batch_flag` on the last,
 *   `estimated_num_total`). Adding or removing the same person again is harmless, so a resent batch
 *   simply uploads again under a new session.
 * - A row whose identifiers cannot be normalised fails on its own, before sending. Meta's
 *   `invalid_entry_samples` name entries it refused: rows sending such a value fail with Meta's
 *   reason. Entries counted in `num_invalid_entries` beyond the samples cannot be tied to a row.
 * - Errors: code 190/102 (token), 10/200-299 (permission), 401/403 `auth_failed`; 429, 5xx, rate
 *   limit codes (4, 17, 32, 613, 80003), `is_transient` → `retry`; others `rejected`.
 */
export const metaAudiencesConnector: Connector<MetaConnectorConfig, MetaAudiencesCredentials> = {
  maxBatchSize: (config) => config.batch_size ?? META_MAX_USERS_PER_REQUEST,
  // Custom audience calls are limited per ad account by Meta's business use case rate limits,
  // 5,000 + 40 × active audiences per hour at development tier (≈1.4/s; 190,000 + 40 × n at
  // standard tier): https://developers.facebook.com/docs/marketing-api/overview/rate-limiting
  defaultRateLimit: { requestsPerSecond: 1, concurrency: 2 },

  /** Reads the audience: the token must work and the audience must be a customer list. */
  async test(ctx) {
    const { response, outcome } = await call(ctx, "GET", `/${ctx.config.audience_id}?fields=id,name,subtype,operation_status`);
    if (outcome) return { ok: false, error: outcome.error };
    if (response.status !== 200) return { ok: false, error: failure(response).error };
    const body = parseJson(response.text);
    if (isRecord(body) && typeof body.subtype === "string" && body.subtype !== "CUSTOM") {
      return { ok: false, error: `audience ${ctx.config.audience_id} is a ${body.subtype} audience, not a customer list (CUSTOM)` };
    }
    // 471: flagged by Meta's restrictions; its members cannot be changed until resolved in Audience Manager.
    const status = isRecord(body) && isRecord(body.operation_status) ? body.operation_status : undefined;
    if (status?.code === 471) {
      return {
        ok: false,
        error: `audience ${ctx.config.audience_id} is flagged (operation_status 471): ${String(status.description ?? "")}`,
      };
    }
    return { ok: true };
  },

  rateSignal: (status, headers) => metaRateSignal(status, headers),

  fields: async (ctx) => ({ ok: true, fields: identifierFields(META_RULES, ctx.config.key_identifier) }),

  async send(ctx, batch) {
    if (!/^\d+$/.test(ctx.config.audience_id)) return { kind: "rejected", error: "invalid audience id" };
    const results = new Map<number, RowResult>();
    const adds: Prepared[] = [];
    const removes: Prepared[] = [];
    for (const [index, op] of batch.operations.entries()) {
      const ids = await rowIdentifiers(META_RULES, op, ctx.config.key_identifier);
      if (!ids.ok) results.set(index, { key: op.key, ok: false, error: ids.error });
      else (op.op === "delete" ? removes : adds).push({ index, op, values: ids.values });
    }
    for (const [method, rows] of [
      ["DELETE", removes],
      ["POST", adds],
    ] as const) {
      if (rows.length === 0) continue;
      const outcome = await upload(ctx, method, rows, results);
      if (outcome) return outcome;
    }
    return { kind: "results", results: batch.operations.map((op, i) => results.get(i) ?? { key: op.key, ok: true }) };
  },
};

interface Prepared {
  index: number;
  op: Operation;
  values: Partial<Record<IdentifierKind, string>>;
}

/** Sends rows as one upload session of requests of at most 10,000; an outcome when the batch failed as a whole. */
async function upload(
  ctx: Ctx,
  method: "POST" | "DELETE",
  rows: Prepared[],
  results: Map<number, RowResult>,
): Promise<FailureOutcome | undefined> {
  const kinds = (Object.keys(META_SCHEMA_KEYS) as IdentifierKind[]).filter((k) => rows.some((r) => r.values[k] !== undefined));
  const schema = kinds.map((k) => META_SCHEMA_KEYS[k]);
  // A 64-bit integer chosen by the caller; below 2^53 so JSON keeps it exact.
  const sessionId = Math.floor(Math.random() * 2 ** 52) + 1;
  const parts = Math.ceil(rows.length / META_MAX_USERS_PER_REQUEST);
  for (let part = 0; part < parts; part++) {
    const chunk = rows.slice(part * META_MAX_USERS_PER_REQUEST, (part + 1) * META_MAX_USERS_PER_REQUEST);
    const body = {
      payload: { schema, data: chunk.map((r) => kinds.map((k) => r.values[k] ?? "")) },
      session: { session_id: sessionId, batch_seq: part + 1, last_batch_flag: part === parts - 1, estimated_num_total: rows.length },
    };
    const { response, outcome } = await call(ctx, method, `/${ctx.config.audience_id}/users`, body);
    if (outcome) return outcome;
    if (response.status !== 200) return failure(response);
    const invalid = invalidSamples(parseJson(response.text));
    for (const row of chunk) {
      const reason = Object.values(row.values)
        .map((v) => invalid.get(v))
        .find((r) => r !== undefined);
      results.set(row.index, reason === undefined ? { key: row.op.key, ok: true } : { key: row.op.key, ok: false, error: reason });
    }
  }
  return undefined;
}

/** Values Meta's `invalid_entry_samples` names, with its reason: a map `{value: reason}` or a list of values. */
function invalidSamples(body: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const samples = isRecord(body) ? body.invalid_entry_samples : undefined;
  const reason = (r: unknown) => `Meta counted this entry as invalid${typeof r === "string" && r ? `: ${truncate(r, 300)}` : ""}`;
  if (Array.isArray(samples)) {
    for (const s of samples) for (const v of Array.isArray(s) ? s : [s]) if (typeof v === "string" && v) out.set(v, reason(undefined));
  } else if (isRecord(samples)) {
    for (const [value, why] of Object.entries(samples)) out.set(value, reason(why));
  }
  return out;
}

function call(ctx: Ctx, method: "GET" | "POST" | "DELETE", path: string, body?: unknown) {
  const base = ctx.allowPrivate && ctx.config.api_base ? ctx.config.api_base.replace(/\/+$/, "") : META_API_BASE;
  return httpRequest(ctx, {
    method,
    url: `${base}/${ctx.config.api_version ?? "v25.0"}${path}`,
    headers: {
      Authorization: `Bearer ${ctx.credentials.access_token}`,
      Accept: "application/json",
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    timeoutMs: ctx.config.timeout_ms ?? DEFAULT_TIMEOUT_MS,
  });
}

interface GraphError {
  code?: number;
  subcode?: number;
  transient: boolean;
  text: string;
}

function graphError(res: HttpResponse): GraphError {
  const body = parseJson(res.text);
  const err = isRecord(body) && isRecord(body.error) ? body.error : undefined;
  if (!err) return { transient: false, text: truncate(res.text, 500) };
  const code = typeof err.code === "number" ? err.code : undefined;
  const subcode = typeof err.error_subcode === "number" ? err.error_subcode : undefined;
  const message = [err.message, err.error_user_msg].filter((v) => typeof v === "string" && v).join(": ");
  const text = `${String(err.type ?? "GraphError")} ${code ?? ""}${subcode === undefined ? "" : `/${subcode}`}: ${message}`;
  return { code, subcode, transient: err.is_transient === true, text: truncate(text, 500) };
}

function failure(res: HttpResponse): FailureOutcome {
  const err = graphError(res);
  const error = `HTTP ${res.status}: ${err.text}`;
  const code = err.code ?? -1;
  if (AUTH_CODES.has(code) || code === 10 || (code >= 200 && code <= 299)) return { kind: "auth_failed", error };
  if (RATE_CODES.has(code) || res.status === 429) return retryOutcome(error, metaRetryAfter(res.headers));
  if (TRANSIENT_CODES.has(code) || err.transient) return retryOutcome(error, retryAfterSeconds(res.headers));
  return classifyStatus(res, err.text);
}

/**
 * Seconds to wait when throttled: `Retry-After` when given, else the largest
 * `estimated_time_to_regain_access` (minutes) in `X-Business-Use-Case-Usage` or `X-Ad-Account-Usage`.
 */
function metaRetryAfter(headers: Headers): number | undefined {
  const explicit = retryAfterSeconds(headers);
  if (explicit !== undefined) return explicit;
  let minutes: number | undefined;
  for (const name of ["x-business-use-case-usage", "x-ad-account-usage"]) {
    const found = (headers.get(name) ?? "").matchAll(/"estimated_time_to_regain_access"\s*:\s*(\d+)/g);
    for (const m of found) minutes = Math.max(minutes ?? 0, Number(m[1]));
  }
  return minutes ? minutes * 60 : undefined;
}

/** 429, or a usage header saying access is cut for some minutes. */
export function metaRateSignal(status: number, headers: Headers): RateSignal {
  const wait = metaRetryAfter(headers);
  const signal: RateSignal = { throttled: status === 429 || (wait !== undefined && wait > 0) };
  if (signal.throttled && wait !== undefined) signal.retryAfterSeconds = wait;
  return signal;
}
