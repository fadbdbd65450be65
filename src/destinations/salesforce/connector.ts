// Over 400 lines: one vendor's whole REST contract (upsert, SOQL lookups, deletes, OAuth refresh, limit classification) kept together.
import { sha256Hex } from "../../lib/crypto";
import {
  classifyStatus,
  type FailureOutcome,
  type HttpRequest,
  type HttpResponse,
  httpRequest,
  isRecord,
  isTransientStatus,
  parseJson,
  retryAfterSeconds,
  retryOutcome,
  truncate,
} from "../../lib/http";
import type { Connector, ConnectorContext, Operation, RowResult, SendOutcome } from "../destination";
import type { SalesforceConfig, SalesforceCredentials } from "./schema";

/**
 * The Salesforce config as the connector reads it. `timeout_ms` is internal (not in the API
 * schema): a per-request timeout, default 30 s, that tests shorten.
 */
export type SalesforceConnectorConfig = SalesforceConfig & { timeout_ms?: number };
type Ctx = ConnectorContext<SalesforceConnectorConfig, SalesforceCredentials>;

/** sObject Collections take at most 200 records (and DELETE at most 200 ids) per request. */
const SALESFORCE_MAX_RECORDS = 200;
const DEFAULT_API_VERSION = "v60.0";
const DEFAULT_TIMEOUT_MS = 30_000;
// A GET URL much longer than this risks 414 (Salesforce allows about 16 KB); long key lists are split.
const MAX_QUERY_URL_CHARS = 12_000;
const API_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/**
 * Salesforce destination (REST API, sObject Collections).
 *
 * - create, update and upsert: `PATCH /composite/sobjects/{object}/{external_id_field}` with
 *   `allOrNone: false`, up to 200 records; per-record results come back in request order. An upsert
 *   absorbs a redelivered create, and an update of a missing record creates it.
 * - update in update mode (never create): the record ids are looked up by external id (as for
 *   deletes), then `PATCH /composite/sobjects` updates those records by Id; a key with no record
 *   is `not_found`.
 * - delete (mirror mode): the record ids are looked up by external id (SOQL `… WHERE ext IN (…)`),
 *   then `DELETE /composite/sobjects?ids=…&allOrNone=false`; a key with no record, or a record
 *   already deleted (`ENTITY_IS_DELETED`), counts as deleted.
 * - Auth: Bearer `access_token`. With a refresh token, client id and secret, a 401 (or no access
 *   token at all) triggers one `grant_type=refresh_token` exchange at
 *   `{instance_url}/services/oauth2/token` and a retry; the new token is cached in the isolate.
 * - `REQUEST_LIMIT_EXCEEDED` (403) for the org's rolling 24-hour API allocation: `quota_exhausted`,
 *   waiting as {@link salesforceQuotaWait} reads `Sforce-Limit-Info`; the same code for the
 *   concurrent long-running request limit is `retry`.
 * - 429 and 5xx `retry`; 401 (after a refresh) and other 403 `auth_failed`.
 * - `instance_url` is checked by the SSRF guard; unless private hosts are allowed it must be https.
 */
export const salesforceConnector: Connector<SalesforceConnectorConfig, SalesforceCredentials> = {
  maxBatchSize: (config) => Math.min(config.batch_size ?? SALESFORCE_MAX_RECORDS, SALESFORCE_MAX_RECORDS),
  // Salesforce meters API calls per 24 h and long-running requests (25 concurrent), not per second.
  defaultRateLimit: { requestsPerSecond: 20, concurrency: 10 },

  /** Describes the object and checks that the external id field exists and is an External ID. */
  async test(ctx) {
    const invalid = checkConfig(ctx);
    if (invalid) return { ok: false, error: invalid };
    const { object, external_id_field: ext } = ctx.config;
    const session = new Session(ctx);
    const res = await session.call("GET", `/sobjects/${object}/describe`);
    if (res.outcome) return { ok: false, error: res.outcome.error };
    if (res.response.status === 404) return { ok: false, error: `sObject ${object} not found: ${errorText(res.response)}` };
    if (res.response.status !== 200) return { ok: false, error: failure(res.response).error };
    const describe = parseJson(res.response.text);
    const fields = isRecord(describe) && Array.isArray(describe.fields) ? describe.fields.filter(isRecord) : [];
    const field = fields.find((f) => typeof f.name === "string" && f.name.toLowerCase() === ext.toLowerCase());
    if (!field) return { ok: false, error: `${object} has no field ${ext}` };
    if (field.externalId !== true)
      return { ok: false, error: `${object}.${ext} is not an External ID field, so upserts cannot match on it` };
    return { ok: true };
  },

  async send(ctx, batch) {
    const invalid = checkConfig(ctx);
    if (invalid) return { kind: "rejected", error: invalid };
    if (batch.operations.length > SALESFORCE_MAX_RECORDS) {
      return { kind: "rejected", error: `a batch may carry at most ${SALESFORCE_MAX_RECORDS} records` };
    }
    const session = new Session(ctx);
    const results = new Map<number, RowResult>();
    const upserts: Indexed[] = [];
    const updates: Indexed[] = [];
    const deletes: Indexed[] = [];
    for (const [index, op] of batch.operations.entries()) {
      const list = op.op === "delete" ? deletes : op.op === "update" && batch.mode === "update" ? updates : upserts;
      list.push({ index, op });
    }
    if (upserts.length > 0) {
      const outcome = await upsert(session, upserts, results);
      if (outcome) return outcome;
    }
    if (updates.length > 0) {
      const outcome = await updateExisting(session, updates, results);
      if (outcome) return outcome;
    }
    if (deletes.length > 0) {
      const outcome = await remove(session, deletes, results);
      if (outcome) return outcome;
    }
    return { kind: "results", results: batch.operations.map((op, i) => results.get(i) ?? { key: op.key, ok: true }) };
  },
};

interface Indexed {
  index: number;
  op: Operation;
}

/** What the connector needs from the config beyond the API schema (it may be given unvalidated). */
export function checkConfig(ctx: Ctx): string | undefined {
  const { config } = ctx;
  if (!API_NAME.test(config.object)) return `invalid sObject name ${JSON.stringify(config.object)}`;
  if (!API_NAME.test(config.external_id_field)) return `invalid field name ${JSON.stringify(config.external_id_field)}`;
  if (!/^v\d{2,3}\.0$/.test(config.api_version ?? DEFAULT_API_VERSION)) return `invalid API version ${JSON.stringify(config.api_version)}`;
  if (!URL.canParse(config.instance_url)) return "instance_url is not a URL";
  // The OAuth token must not travel in clear text outside local development.
  if (!ctx.allowPrivate && new URL(config.instance_url).protocol !== "https:") return "instance_url must be https://";
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Upsert

async function upsert(session: Session, items: Indexed[], results: Map<number, RowResult>): Promise<SendOutcome | undefined> {
  const { object, external_id_field: ext } = session.ctx.config;
  const records = items.map(({ op }) => {
    const { attributes: _ignored, ...fields } = op.fields;
    return { attributes: { type: object }, ...fields, [ext]: op.key };
  });
  const res = await session.call("PATCH", `/composite/sobjects/${object}/${ext}`, { allOrNone: false, records });
  if (res.outcome) return res.outcome;
  if (res.response.status !== 200 && res.response.status !== 201) return failure(res.response);
  const body = parseJson(res.response.text);
  if (!Array.isArray(body) || body.length !== items.length) {
    return { kind: "rejected", error: `unexpected response to the upsert: ${truncate(res.response.text, 300)}` };
  }
  for (const [i, { index, op }] of items.entries()) results.set(index, recordResult(op.key, body[i]));
  return undefined;
}

/** One entry of a Collections response: `{id, success, errors:[{statusCode, message, fields}]}`. */
function recordResult(key: string, entry: unknown, absentOk = false): RowResult {
  if (!isRecord(entry)) return { key, ok: false, error: "no result returned for this record" };
  if (entry.success === true) return { key, ok: true };
  const errors = Array.isArray(entry.errors) ? entry.errors.filter(isRecord) : [];
  if (absentOk && errors.length > 0 && errors.every((e) => e.statusCode === "ENTITY_IS_DELETED")) return { key, ok: true };
  const text = errors
    .map((e) => {
      const fields = Array.isArray(e.fields) && e.fields.length > 0 ? ` (fields: ${e.fields.join(", ")})` : "";
      return `${String(e.statusCode ?? "ERROR")}: ${String(e.message ?? "")}${fields}`;
    })
    .join("; ");
  return { key, ok: false, error: truncate(text || "the record was not saved", 1000) };
}

// ---------------------------------------------------------------------------------------------
// Update (update mode)

/** Updates the records that exist, by Id; keys without a record are `not_found`, nothing is created. */
async function updateExisting(session: Session, items: Indexed[], results: Map<number, RowResult>): Promise<SendOutcome | undefined> {
  const { object, external_id_field: ext } = session.ctx.config;
  const found = await lookUpIds(
    session,
    items.map(({ op }) => op.key),
  );
  if ("outcome" in found) return found.outcome;
  const toUpdate: { index: number; key: string; record: Record<string, unknown> }[] = [];
  for (const { index, op } of items) {
    const ids = found.exact.get(op.key) ?? found.folded.get(op.key.toLowerCase()) ?? [];
    if (ids.length === 0) {
      results.set(index, {
        key: op.key,
        ok: false,
        error: `no ${object} with ${ext} = ${truncate(op.key, 200)} to update`,
        not_found: true,
      });
      continue;
    }
    const { attributes: _ignored, Id: _id, ...fields } = op.fields;
    for (const id of ids) toUpdate.push({ index, key: op.key, record: { attributes: { type: object }, ...fields, Id: id } });
  }
  if (toUpdate.length === 0) return undefined;
  const res = await session.call("PATCH", "/composite/sobjects", { allOrNone: false, records: toUpdate.map((u) => u.record) });
  if (res.outcome) return res.outcome;
  if (res.response.status !== 200) return failure(res.response);
  const body = parseJson(res.response.text);
  if (!Array.isArray(body) || body.length !== toUpdate.length) {
    return { kind: "rejected", error: `unexpected response to the update: ${truncate(res.response.text, 300)}` };
  }
  toUpdate.forEach(({ index, key }, i) => {
    // A key with several records (a case-insensitive match) fails if any of them failed.
    if (results.get(index)?.ok !== false) results.set(index, recordResult(key, body[i]));
  });
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Delete

async function remove(session: Session, items: Indexed[], results: Map<number, RowResult>): Promise<SendOutcome | undefined> {
  const found = await lookUpIds(
    session,
    items.map(({ op }) => op.key),
  );
  if ("outcome" in found) return found.outcome;
  const toDelete: { id: string; index: number; key: string }[] = [];
  for (const { index, op } of items) {
    const ids = found.exact.get(op.key) ?? found.folded.get(op.key.toLowerCase()) ?? [];
    // Not found: the record is already gone, which is what a delete wants.
    if (ids.length === 0) results.set(index, { key: op.key, ok: true });
    for (const id of ids) toDelete.push({ id, index, key: op.key });
  }
  if (toDelete.length === 0) return undefined;
  const res = await session.call(
    "DELETE",
    `/composite/sobjects?ids=${toDelete.map((d) => encodeURIComponent(d.id)).join(",")}&allOrNone=false`,
  );
  if (res.outcome) return res.outcome;
  if (res.response.status !== 200) return failure(res.response);
  const body = parseJson(res.response.text);
  if (!Array.isArray(body)) return { kind: "rejected", error: `unexpected response to the delete: ${truncate(res.response.text, 300)}` };
  toDelete.forEach(({ index, key }, i) => {
    const entry: unknown = body[i];
    const result = recordResult(key, entry, true);
    // A key with several records (a case-insensitive match) fails if any of them failed.
    if (results.get(index)?.ok !== false) results.set(index, result);
  });
  return undefined;
}

/** Record ids by external id, exact and lower-cased (text External IDs match case-insensitively by default). */
async function lookUpIds(
  session: Session,
  keys: string[],
): Promise<{ exact: Map<string, string[]>; folded: Map<string, string[]> } | { outcome: SendOutcome }> {
  const { object, external_id_field: ext } = session.ctx.config;
  const exact = new Map<string, string[]>();
  const folded = new Map<string, string[]>();
  const add = (map: Map<string, string[]>, k: string, id: string) => map.set(k, [...(map.get(k) ?? []), id]);
  for (const chunk of soqlChunks(keys)) {
    const soql = `SELECT Id, ${ext} FROM ${object} WHERE ${ext} IN (${chunk.join(", ")})`;
    let path: string | undefined = `/query?q=${encodeURIComponent(soql)}`;
    let absolute = false;
    while (path) {
      const res = await session.call("GET", path, undefined, absolute);
      if (res.outcome) return { outcome: res.outcome };
      if (res.response.status !== 200) return { outcome: failure(res.response) };
      const body = parseJson(res.response.text);
      if (!isRecord(body) || !Array.isArray(body.records)) {
        return { outcome: { kind: "rejected", error: `unexpected query response: ${truncate(res.response.text, 300)}` } };
      }
      for (const record of body.records.filter(isRecord)) {
        const value = record[ext] ?? Object.entries(record).find(([k]) => k.toLowerCase() === ext.toLowerCase())?.[1];
        if (typeof record.Id !== "string" || typeof value !== "string") continue;
        add(exact, value, record.Id);
        add(folded, value.toLowerCase(), record.Id);
      }
      // More pages: nextRecordsUrl is a server-relative path (/services/data/vXX.X/query/01g…-2000).
      const next = body.nextRecordsUrl;
      path = body.done === false && typeof next === "string" && next.startsWith("/services/data/") ? next : undefined;
      absolute = true;
    }
  }
  return { exact, folded };
}

/** SOQL string literals of `keys`, grouped so each query URL stays short enough. */
function soqlChunks(keys: string[]): string[][] {
  const chunks: string[][] = [];
  let current: string[] = [];
  let length = 0;
  for (const key of new Set(keys)) {
    const literal = soqlString(key);
    const size = encodeURIComponent(literal).length + 3;
    if (current.length > 0 && length + size > MAX_QUERY_URL_CHARS) {
      chunks.push(current);
      current = [];
      length = 0;
    }
    current.push(literal);
    length += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** A quoted SOQL string literal (SOQL's escape sequences for quotes, backslash and control characters). */
export function soqlString(value: string): string {
  const escaped = value.replace(/[\\'"\n\r\t\b\f]/g, (c) => {
    switch (c) {
      case "\n":
        return "\\n";
      case "\r":
        return "\\r";
      case "\t":
        return "\\t";
      case "\b":
        return "\\b";
      case "\f":
        return "\\f";
      default:
        return `\\${c}`;
    }
  });
  return `'${escaped}'`;
}

// ---------------------------------------------------------------------------------------------
// Session and errors

// Access tokens obtained by refreshing, per connected app and refresh token (hashed), so each
// batch does not refresh again. Lives as long as the isolate; a stale one is refreshed on 401.
const refreshedTokens = new Map<string, string>();

/** Authenticated calls to one org's REST API, refreshing the access token at most once per send. */
export class Session {
  private token: string | undefined;
  private refreshed = false;
  private key: Promise<string | undefined> | undefined;
  private readonly base: string;

  constructor(readonly ctx: Ctx) {
    this.base = ctx.config.instance_url.replace(/\/+$/, "");
    this.token = ctx.credentials.access_token;
  }

  /** A REST call under `/services/data/{version}` (or a server-relative `path` when `absolute`). */
  async call(
    method: HttpRequest["method"],
    path: string,
    body?: unknown,
    absolute = false,
  ): Promise<{ response: HttpResponse; outcome?: undefined } | { response?: undefined; outcome: FailureOutcome }> {
    const cacheKey = await this.cacheKey();
    const cached = cacheKey ? refreshedTokens.get(cacheKey) : undefined;
    if (cached) this.token = cached;
    if (!this.token) {
      const outcome = await this.refresh(cacheKey);
      if (outcome) return { outcome };
    }
    const version = this.ctx.config.api_version ?? DEFAULT_API_VERSION;
    const url = absolute ? `${this.base}${path}` : `${this.base}/services/data/${version}${path}`;
    for (;;) {
      const result = await httpRequest(this.ctx, {
        method,
        url,
        headers: {
          Authorization: `Bearer ${this.token ?? ""}`,
          Accept: "application/json",
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        timeoutMs: this.timeoutMs(),
      });
      if (result.outcome || result.response.status !== 401 || !cacheKey || this.refreshed) return result;
      // The session expired (INVALID_SESSION_ID): exchange the refresh token once and try again.
      refreshedTokens.delete(cacheKey);
      const outcome = await this.refresh(cacheKey);
      if (outcome) return { outcome };
    }
  }

  private timeoutMs(): number {
    return this.ctx.config.timeout_ms ?? DEFAULT_TIMEOUT_MS;
  }

  /** Identifies the refresh credentials, or `undefined` when there are none. */
  private cacheKey(): Promise<string | undefined> {
    const { refresh_token, client_id, client_secret } = this.ctx.credentials;
    if (!refresh_token || !client_id || !client_secret) return Promise.resolve(undefined);
    this.key ??= sha256Hex(`${this.base}\n${client_id}\n${refresh_token}`);
    return this.key;
  }

  /** `grant_type=refresh_token`; an outcome only when it failed. */
  private async refresh(cacheKey: string | undefined): Promise<FailureOutcome | undefined> {
    const { refresh_token, client_id, client_secret } = this.ctx.credentials;
    this.refreshed = true;
    if (!cacheKey || !refresh_token || !client_id || !client_secret) {
      return { kind: "auth_failed", error: "no access token, and no refresh token with client id and secret to get one" };
    }
    const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token, client_id, client_secret });
    const result = await httpRequest(this.ctx, {
      method: "POST",
      url: `${this.base}/services/oauth2/token`,
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body: form.toString(),
      timeoutMs: this.timeoutMs(),
    });
    if (result.outcome) return result.outcome;
    const res = result.response;
    const body = parseJson(res.text);
    if (res.status === 200 && isRecord(body) && typeof body.access_token === "string") {
      this.token = body.access_token;
      refreshedTokens.set(cacheKey, body.access_token);
      return undefined;
    }
    const detail = isRecord(body)
      ? [body.error, body.error_description].filter((v) => typeof v === "string").join(": ")
      : truncate(res.text, 300);
    const error = `refreshing the access token failed: HTTP ${res.status}${detail ? `: ${detail}` : ""}`;
    if (isTransientStatus(res.status)) return retryOutcome(error, retryAfterSeconds(res.headers));
    // invalid_grant, invalid_client…: the refresh token or the connected app was revoked.
    return { kind: "auth_failed", error };
  }
}

/** The error text of a REST failure: `[{message, errorCode, fields}]` joined, or the raw body. */
export function errorText(res: HttpResponse): string {
  const body = parseJson(res.text);
  const list = Array.isArray(body) ? body.filter(isRecord) : isRecord(body) ? [body] : [];
  const text = list
    .map((e) => [e.errorCode ?? e.error, e.message ?? e.error_description].filter((v) => typeof v === "string").join(": "))
    .filter(Boolean)
    .join("; ");
  return truncate(text || res.text, 500);
}

function errorCodes(res: HttpResponse): string[] {
  const body = parseJson(res.text);
  const list = Array.isArray(body) ? body.filter(isRecord) : isRecord(body) ? [body] : [];
  return list.map((e) => e.errorCode).filter((c): c is string => typeof c === "string");
}

/**
 * Classifies a failed REST call. `REQUEST_LIMIT_EXCEEDED` is never a credentials problem: with 403
 * it is the org's rolling 24-hour allocation ("TotalRequests Limit exceeded."), which retrying in
 * seconds cannot help, so the batch waits (`quota_exhausted`); the concurrent long-running request
 * limit, or a 429, passes in seconds (`retry`).
 */
export function failure(res: HttpResponse): FailureOutcome {
  const detail = errorText(res);
  if (errorCodes(res).includes("REQUEST_LIMIT_EXCEEDED")) {
    const error = `HTTP ${res.status}: ${detail}`;
    if (res.status !== 403 || /concurrent/i.test(detail)) return retryOutcome(error, retryAfterSeconds(res.headers));
    return { kind: "quota_exhausted", error, retryAfterSeconds: salesforceQuotaWait(res.headers) };
  }
  return classifyStatus(res, detail);
}

/** How long a batch waits when Salesforce's `Sforce-Limit-Info` gives no sign of room: an hour. */
export const SALESFORCE_QUOTA_WAIT_SECONDS = 3600;

/**
 * Seconds to wait after the org's daily API limit refused a call. The allocation is a rolling
 * 24-hour window, so no header says when it frees: `Retry-After` if Salesforce ever sends one;
 * 0 (try again on the normal backoff, without spending a retry) when `Sforce-Limit-Info:
 * api-usage=used/limit` shows room again; else an hour.
 */
export function salesforceQuotaWait(headers: Headers): number {
  const explicit = retryAfterSeconds(headers);
  if (explicit !== undefined) return explicit;
  const usage = salesforceApiUsage(headers);
  if (usage && usage.used < usage.limit) return 0;
  return SALESFORCE_QUOTA_WAIT_SECONDS;
}

/** The org's daily API usage from `Sforce-Limit-Info: api-usage=25/5000` (every REST response carries it). */
export function salesforceApiUsage(headers: Headers): { used: number; limit: number } | undefined {
  const match = /(?:^|[;,\s])api-usage=(\d+)\/(\d+)/.exec(headers.get("sforce-limit-info") ?? "");
  if (!match?.[1] || !match[2]) return undefined;
  return { used: Number(match[1]), limit: Number(match[2]) };
}
