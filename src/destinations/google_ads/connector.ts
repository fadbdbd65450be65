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
import type { Connector, ConnectorContext, Operation, RowResult } from "../destination";
import { type IdentifierKind, identifierFields, rowIdentifiers } from "../identifiers";
import { GOOGLE_RULES, type GoogleAdsConfig, type GoogleAdsCredentials } from "./schema";

/**
 * The config as the connector reads it. Internal (not in the API schema): `timeout_ms` per request
 * (default 30 s), and how long a send watches its job once run: `poll_attempts` (default 3) every
 * `poll_interval_ms` (default 2 s).
 */
export type GoogleAdsConnectorConfig = GoogleAdsConfig & { timeout_ms?: number; poll_attempts?: number; poll_interval_ms?: number };
type Ctx = ConnectorContext<GoogleAdsConnectorConfig, GoogleAdsCredentials>;

export const GOOGLE_ADS_API_BASE = "https://googleads.googleapis.com";
export const GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token";
const DEFAULT_TIMEOUT_MS = 30_000;
/**
 * "each AddOfflineUserDataJobOperations request can accommodate a maximum of 100,000 identifiers"
 * and a UserData at most 20 (https://developers.google.com/google-ads/api/docs/remarketing/audience-segments/customer-match/get-started#customer_match_considerations);
 * a person here carries at most 5 (email, phone, address, mobile id, user id), so 20,000 people fit one request.
 */
const GOOGLE_MAX_PEOPLE_PER_JOB = 20_000;
// Refresh an access token this long before Google says it expires (they last an hour).
const TOKEN_MARGIN_MS = 60_000;

/**
 * Google Ads Customer Match through OfflineUserDataJobService (REST, `googleads.googleapis.com/{version}`).
 *
 * A send is one job per kind of change (removes for mirror deletes, then adds):
 * `offlineUserDataJobs:create` (CUSTOMER_MATCH_USER_LIST on `customers/{id}/userLists/{list}`),
 * `{job}:addOperations` with `enablePartialFailure` (`create` or `remove` of a UserData whose
 * identifiers are normalised and hashed by Google's rules), `{job}:run`, then a bounded watch of
 * the job's status through `googleAds:search`. Google processes a job in minutes to hours
 * (up to 24 h), so **a row counts as delivered once its operation was accepted and the job runs**;
 * a job seen FAILED within the watch fails its rows with Google's `failure_reason`. Rows named in
 * `partialFailureError` (by `operations[index]`) fail with Google's message; a row that cannot be
 * normalised (an address without all four parts…) fails before sending.
 *
 * Auth: `grant_type=refresh_token` at Google's token endpoint, the access token cached in the
 * isolate until a minute before it expires (and refreshed once on a 401), with the
 * `developer-token` and optional `login-customer-id` headers. 401/403 `auth_failed`; 429
 * (RESOURCE_EXHAUSTED, waiting `quotaErrorDetails.retryDelay` or `Retry-After`), 5xx and
 * CONCURRENT_MODIFICATION `retry`; other 4xx `rejected`. A resent batch runs a new job: adding or
 * removing the same person twice is harmless, and a job left unrun by a failure expires at Google.
 */
export const googleAdsConnector: Connector<GoogleAdsConnectorConfig, GoogleAdsCredentials> = {
  maxBatchSize: (config) => Math.min(config.batch_size ?? 10_000, GOOGLE_MAX_PEOPLE_PER_JOB),
  // Google publishes no per-second figure for OfflineUserDataJobService; jobs on one user list
  // must not run concurrently (CONCURRENT_MODIFICATION), so one request at a time, 2 per second
  // (https://developers.google.com/google-ads/api/docs/best-practices/quotas,
  // https://developers.google.com/google-ads/api/docs/remarketing/audience-segments/customer-match/get-started).
  defaultRateLimit: { requestsPerSecond: 2, concurrency: 1 },

  /** Reads the user list through `googleAds:search`: the token, developer token and list must all work. */
  async test(ctx) {
    const session = new Session(ctx);
    const query = `SELECT user_list.id, user_list.name, user_list.type FROM user_list WHERE user_list.id = ${ctx.config.user_list_id}`;
    const { response, outcome } = await session.call("POST", `/customers/${ctx.config.customer_id}/googleAds:search`, { query });
    if (outcome) return { ok: false, error: outcome.error };
    if (response.status !== 200) return { ok: false, error: failure(response).error };
    const body = parseJson(response.text);
    const list = isRecord(body) && Array.isArray(body.results) ? body.results.filter(isRecord)[0]?.userList : undefined;
    if (!isRecord(list)) return { ok: false, error: `customer ${ctx.config.customer_id} has no user list ${ctx.config.user_list_id}` };
    if (list.type !== undefined && list.type !== "CRM_BASED")
      return { ok: false, error: `user list ${ctx.config.user_list_id} is ${String(list.type)}, not a Customer Match (CRM_BASED) list` };
    return { ok: true };
  },

  fields: async (ctx) => ({ ok: true, fields: identifierFields(GOOGLE_RULES, ctx.config.key_identifier) }),

  async send(ctx, batch) {
    if (!/^\d+$/.test(ctx.config.customer_id) || !/^\d+$/.test(ctx.config.user_list_id))
      return { kind: "rejected", error: "invalid customer or user list id" };
    const results = new Map<number, RowResult>();
    const removes: Prepared[] = [];
    const adds: Prepared[] = [];
    for (const [index, op] of batch.operations.entries()) {
      const ids = await rowIdentifiers(GOOGLE_RULES, op, ctx.config.key_identifier);
      const data = ids.ok ? userData(ids.values) : ids;
      if (!data.ok) results.set(index, { key: op.key, ok: false, error: data.error });
      else (op.op === "delete" ? removes : adds).push({ index, op, userIdentifiers: data.userIdentifiers });
    }
    const session = new Session(ctx);
    for (const [kind, rows] of [
      ["remove", removes],
      ["create", adds],
    ] as const) {
      if (rows.length === 0) continue;
      const outcome = await runJob(session, kind, rows, results);
      if (outcome) return outcome;
    }
    return { kind: "results", results: batch.operations.map((op, i) => results.get(i) ?? { key: op.key, ok: true }) };
  },
};

interface Prepared {
  index: number;
  op: Operation;
  userIdentifiers: Record<string, unknown>[];
}

/** A person's UserData identifiers; the address only whole (first and last name, country, zip). */
function userData(
  values: Partial<Record<IdentifierKind, string>>,
): { ok: true; userIdentifiers: Record<string, unknown>[] } | { ok: false; error: string } {
  const ids: Record<string, unknown>[] = [];
  if (values.email) ids.push({ hashedEmail: values.email });
  if (values.phone) ids.push({ hashedPhoneNumber: values.phone });
  if (values.mobile_advertiser_id) ids.push({ mobileId: values.mobile_advertiser_id });
  if (values.external_id) ids.push({ thirdPartyUserId: values.external_id });
  const address = {
    hashedFirstName: values.first_name,
    hashedLastName: values.last_name,
    countryCode: values.country,
    postalCode: values.zip,
  };
  const parts = Object.values(address).filter((v) => v !== undefined).length;
  if (parts === 4) ids.push({ addressInfo: address });
  else if (parts > 0)
    return { ok: false, error: "an address matches only with first_name, last_name, country and zip together; some are empty" };
  if (ids.length === 0) return { ok: false, error: "the row has no identifier to match a person by" };
  return { ok: true, userIdentifiers: ids };
}

/** Creates, fills, runs and watches one job; an outcome when the batch failed as a whole. */
async function runJob(
  session: Session,
  kind: "create" | "remove",
  rows: Prepared[],
  results: Map<number, RowResult>,
): Promise<FailureOutcome | undefined> {
  const { customer_id: customer, user_list_id: list, consent } = session.ctx.config;
  const metadata: Record<string, unknown> = { userList: `customers/${customer}/userLists/${list}` };
  if (consent) metadata.consent = { adUserData: consent.ad_user_data, adPersonalization: consent.ad_personalization };
  const created = await session.call("POST", `/customers/${customer}/offlineUserDataJobs:create`, {
    job: { type: "CUSTOMER_MATCH_USER_LIST", customerMatchUserListMetadata: metadata },
  });
  if (created.outcome) return created.outcome;
  if (created.response.status !== 200) return failure(created.response);
  const createdBody = parseJson(created.response.text);
  const job = isRecord(createdBody) && typeof createdBody.resourceName === "string" ? createdBody.resourceName : undefined;
  if (!job || !/^customers\/\d+\/offlineUserDataJobs\/\d+$/.test(job))
    return { kind: "retry", error: "Google created a job without a usable resource name" };

  const added = await session.call("POST", `/${job}:addOperations`, {
    enablePartialFailure: true,
    operations: rows.map((r) => ({ [kind]: { userIdentifiers: r.userIdentifiers } })),
  });
  if (added.outcome) return added.outcome;
  if (added.response.status !== 200) return failure(added.response);
  const failed = partialFailures(parseJson(added.response.text));
  const accepted: Prepared[] = [];
  for (const [i, row] of rows.entries()) {
    const error = failed.get(i);
    if (error === undefined) accepted.push(row);
    else results.set(row.index, { key: row.op.key, ok: false, error });
  }
  if (accepted.length === 0) return undefined;

  const ran = await session.call("POST", `/${job}:run`, {});
  if (ran.outcome) return ran.outcome;
  if (ran.response.status !== 200) return failure(ran.response);

  const status = await watch(session, job);
  for (const row of accepted) {
    results.set(
      row.index,
      status.failed
        ? { key: row.op.key, ok: false, error: `Google Ads job ${job} failed: ${status.reason}` }
        : { key: row.op.key, ok: true },
    );
  }
  return undefined;
}

/** Watches a running job a bounded number of times; only a job seen FAILED counts as failed. */
async function watch(session: Session, job: string): Promise<{ failed: false } | { failed: true; reason: string }> {
  const { poll_attempts: attempts = 3, poll_interval_ms: interval = 2_000, customer_id: customer } = session.ctx.config;
  const query = `SELECT offline_user_data_job.status, offline_user_data_job.failure_reason FROM offline_user_data_job WHERE offline_user_data_job.resource_name = '${job}'`;
  for (let attempt = 0; attempt < attempts; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, interval));
    const { response } = await session.call("POST", `/customers/${customer}/googleAds:search`, { query });
    // The job was accepted and runs: a failed look at it is no reason to upload again.
    if (response?.status !== 200) continue;
    const body = parseJson(response.text);
    const row = isRecord(body) && Array.isArray(body.results) ? body.results.filter(isRecord)[0]?.offlineUserDataJob : undefined;
    const status = isRecord(row) ? row.status : undefined;
    if (status === "SUCCESS") return { failed: false };
    if (status === "FAILED") return { failed: true, reason: isRecord(row) ? String(row.failureReason ?? "UNKNOWN") : "UNKNOWN" };
  }
  return { failed: false };
}

/** The operations `partialFailureError` names (`location.fieldPathElements` `operations[index]`), with Google's message. */
function partialFailures(body: unknown): Map<number, string> {
  const out = new Map<number, string>();
  const partial = isRecord(body) && isRecord(body.partialFailureError) ? body.partialFailureError : undefined;
  if (!partial) return out;
  for (const err of googleAdsErrors(partial)) {
    const path =
      isRecord(err.location) && Array.isArray(err.location.fieldPathElements) ? err.location.fieldPathElements.filter(isRecord) : [];
    const index = path.find((p) => p.fieldName === "operations")?.index;
    if (typeof index !== "number" || out.has(index)) continue;
    out.set(index, truncate(`${errorCodeText(err.errorCode)}: ${String(err.message ?? "")}`, 500));
  }
  return out;
}

/** The GoogleAdsFailure errors in a status's `details`. */
function googleAdsErrors(status: Record<string, unknown>): Record<string, unknown>[] {
  const details = Array.isArray(status.details) ? status.details.filter(isRecord) : [];
  return details.flatMap((d) => (Array.isArray(d.errors) ? d.errors.filter(isRecord) : []));
}

/** `{"offlineUserDataJobError": "INVALID_SHA256_FORMAT"}` → `offlineUserDataJobError.INVALID_SHA256_FORMAT`. */
function errorCodeText(code: unknown): string {
  if (!isRecord(code)) return "ERROR";
  return Object.entries(code)
    .map(([k, v]) => `${k}.${String(v)}`)
    .join(", ");
}

// ---------------------------------------------------------------------------------------------
// Session and errors

// Access tokens per client and refresh token (hashed), reused until shortly before they expire.
const accessTokens = new Map<string, { token: string; expiresAt: number }>();

/** Authenticated calls to the Google Ads API, refreshing the access token when needed and at most once on a 401. */
class Session {
  private key: Promise<string> | undefined;
  private refreshedOn401 = false;
  // The token this send uses: once fetched, kept for the send's few calls even near its expiry.
  private token: string | undefined;

  constructor(readonly ctx: Ctx) {}

  async call(
    method: HttpRequest["method"],
    path: string,
    body?: unknown,
  ): Promise<{ response: HttpResponse; outcome?: undefined } | { response?: undefined; outcome: FailureOutcome }> {
    const { config, credentials } = this.ctx;
    const base = this.ctx.allowPrivate && config.api_base ? config.api_base.replace(/\/+$/, "") : GOOGLE_ADS_API_BASE;
    for (;;) {
      const token = await this.accessToken();
      if (typeof token !== "string") return { outcome: token };
      const result = await httpRequest(this.ctx, {
        method,
        url: `${base}/${config.api_version ?? "v24"}${path}`,
        headers: {
          Authorization: `Bearer ${token}`,
          "developer-token": credentials.developer_token,
          ...(config.login_customer_id ? { "login-customer-id": config.login_customer_id } : {}),
          Accept: "application/json",
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        timeoutMs: config.timeout_ms ?? DEFAULT_TIMEOUT_MS,
      });
      if (result.outcome || result.response.status !== 401 || this.refreshedOn401) return result;
      // The access token expired or was revoked early: get a new one once and try again.
      this.refreshedOn401 = true;
      accessTokens.delete(await this.cacheKey());
      this.token = undefined;
    }
  }

  private cacheKey(): Promise<string> {
    const { client_id, refresh_token } = this.ctx.credentials;
    this.key ??= sha256Hex(`${this.tokenUrl()}\n${client_id}\n${refresh_token}`);
    return this.key;
  }

  private tokenUrl(): string {
    return this.ctx.allowPrivate && this.ctx.config.token_url ? this.ctx.config.token_url : GOOGLE_TOKEN_URL;
  }

  /** A cached access token, or a new one from `grant_type=refresh_token`; an outcome when that failed. */
  private async accessToken(): Promise<string | FailureOutcome> {
    if (this.token) return this.token;
    const key = await this.cacheKey();
    const cached = accessTokens.get(key);
    if (cached && cached.expiresAt - TOKEN_MARGIN_MS > Date.now()) {
      this.token = cached.token;
      return cached.token;
    }
    const { client_id, client_secret, refresh_token } = this.ctx.credentials;
    const result = await httpRequest(this.ctx, {
      method: "POST",
      url: this.tokenUrl(),
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body: new URLSearchParams({ grant_type: "refresh_token", client_id, client_secret, refresh_token }).toString(),
      timeoutMs: this.ctx.config.timeout_ms ?? DEFAULT_TIMEOUT_MS,
    });
    if (result.outcome) return result.outcome;
    const res = result.response;
    const body = parseJson(res.text);
    if (res.status === 200 && isRecord(body) && typeof body.access_token === "string") {
      const ttl = typeof body.expires_in === "number" ? body.expires_in : 3600;
      accessTokens.set(key, { token: body.access_token, expiresAt: Date.now() + ttl * 1000 });
      this.token = body.access_token;
      return body.access_token;
    }
    const detail = isRecord(body)
      ? [body.error, body.error_description].filter((v) => typeof v === "string").join(": ")
      : truncate(res.text, 300);
    const error = `refreshing the Google access token failed: HTTP ${res.status}${detail ? `: ${detail}` : ""}`;
    if (isTransientStatus(res.status)) return retryOutcome(error, retryAfterSeconds(res.headers));
    // invalid_grant (refresh token revoked or expired), invalid_client…
    return { kind: "auth_failed", error };
  }
}

/** `STATUS: message (errorCode: message; …)` of a Google Ads API error. */
function errorText(res: HttpResponse): string {
  const body = parseJson(res.text);
  const err = isRecord(body) && isRecord(body.error) ? body.error : undefined;
  if (!err) return truncate(res.text, 500);
  const details = googleAdsErrors(err)
    .map((e) => `${errorCodeText(e.errorCode)}: ${String(e.message ?? "")}`)
    .join("; ");
  return truncate(`${String(err.status ?? "")}: ${String(err.message ?? "")}${details ? ` (${details})` : ""}`, 500);
}

function failure(res: HttpResponse): FailureOutcome {
  const text = errorText(res);
  if (res.status === 429) return retryOutcome(`HTTP 429: ${text}`, googleRetryDelay(res));
  // Another job on the same user list was being written: it passes.
  if (/CONCURRENT_MODIFICATION/.test(text)) return retryOutcome(`HTTP ${res.status}: ${text}`, retryAfterSeconds(res.headers));
  return classifyStatus(res, text);
}

/** Seconds to wait after RESOURCE_EXHAUSTED: `Retry-After`, else the failure's `quotaErrorDetails.retryDelay` ("30s"). */
function googleRetryDelay(res: HttpResponse): number | undefined {
  const explicit = retryAfterSeconds(res.headers);
  if (explicit !== undefined) return explicit;
  const body = parseJson(res.text);
  const err = isRecord(body) && isRecord(body.error) ? body.error : undefined;
  for (const e of err ? googleAdsErrors(err) : []) {
    const delay = isRecord(e.details) && isRecord(e.details.quotaErrorDetails) ? e.details.quotaErrorDetails.retryDelay : undefined;
    const match = typeof delay === "string" ? /^(\d+(?:\.\d+)?)s$/.exec(delay) : null;
    if (match?.[1]) return Math.ceil(Number(match[1]));
  }
  return undefined;
}
