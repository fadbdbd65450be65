import { classifyStatus, type FailureOutcome, type HttpResponse, httpRequest, isRecord, parseJson, truncate } from "../../lib/http";
import type { Connector, ConnectorContext, DestinationField, Operation, RowResult, SendOutcome } from "../destination";
import type { KlaviyoConfig, KlaviyoCredentials } from "./schema";

/**
 * The Klaviyo config as the connector reads it. `api_base` replaces `https://a.klaviyo.com`, honoured
 * only when private destinations are allowed (local fakes). Internal, not in the API schema:
 * `timeout_ms` per request (30 s), `poll_ms` the first wait between job polls (1 s, growing to
 * 10 s) and `poll_timeout_ms` how long a send waits for its import job (120 s).
 */
export type KlaviyoConnectorConfig = KlaviyoConfig & { timeout_ms?: number; poll_ms?: number; poll_timeout_ms?: number };
type Ctx = ConnectorContext<KlaviyoConnectorConfig, KlaviyoCredentials>;

/** Klaviyo's API host. */
export const KLAVIYO_API_BASE = "https://a.klaviyo.com";
/** The API revision every request names (Klaviyo requires the `revision` header). */
const KLAVIYO_REVISION = "2025-01-15";
/** Bulk Import Profiles: "up to 10,000 profiles per request", payload at most 5 MB, a profile at most 100 KB. */
const KLAVIYO_MAX_PROFILES = 10_000;
const MAX_JOB_BYTES = 5 * 1024 * 1024 - 4096; // headroom for the envelope around the profiles
const MAX_PROFILE_BYTES = 100 * 1024;
/** Remove Profiles from List takes at most 1,000 profiles; Get Profiles pages hold at most 100. */
const LIST_REMOVE_MAX = 1000;
const PROFILE_PAGE_MAX = 100;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_POLL_MS = 1000;
const MAX_POLL_MS = 10_000;
const DEFAULT_POLL_TIMEOUT_MS = 120_000;
// A 400 naming profiles means the job was not created: resend without them, a bounded number of times.
const MAX_IMPORT_ROUNDS = 3;

/** Profile attributes Klaviyo stores as its own (everything else goes into `properties`). */
const STANDARD_ATTRIBUTES = [
  "email",
  "phone_number",
  "external_id",
  "first_name",
  "last_name",
  "organization",
  "locale",
  "title",
  "image",
] as const;
/** `location.*` attributes, mapped as e.g. `location.city`. */
const LOCATION_ATTRIBUTES = [
  "address1",
  "address2",
  "city",
  "country",
  "region",
  "zip",
  "timezone",
  "ip",
  "latitude",
  "longitude",
] as const;
const NUMERIC_LOCATION = new Set<string>(["latitude", "longitude"]);

/**
 * Klaviyo destination (private API key as `Authorization: Klaviyo-API-Key …`, `revision` header).
 *
 * - create, update and upsert: one bulk import job (`POST /api/profile-bulk-import-jobs`, JSON:API)
 *   per at most 10,000 profiles and 5 MB; with `list_id` the job's `lists` relationship adds the
 *   profiles to the list. A bulk import is an upsert: Klaviyo matches profiles by email, phone
 *   number or external id. The send polls the job (`GET …/{id}`) until it is `complete`, then reads
 *   `…/import-errors` for the profiles that failed (by `source.pointer`, else the identifier in
 *   `original_payload`). A job still running after `poll_timeout_ms` is a `retry` (resending an
 *   upsert is absorbed). Null values are left out: bulk imports cannot clear a field.
 * - delete (mirror mode, which needs `list_id`): the profiles are found by `identifier`
 *   (`GET /api/profiles?filter=any(…)`) and removed from the list
 *   (`DELETE /api/lists/{id}/relationships/profiles`); the profiles themselves are kept. A value
 *   Klaviyo does not know is already gone.
 * - 429 and 5xx `retry` (after `Retry-After`), 401/403 `auth_failed`, other 4xx `rejected`.
 */
export const klaviyoConnector: Connector<KlaviyoConnectorConfig, KlaviyoCredentials> = {
  maxBatchSize: (config) => Math.min(config.batch_size ?? 1000, KLAVIYO_MAX_PROFILES),
  // Bulk import, job and list endpoints are tier M: 10/s burst, 150/min steady. A send makes a job
  // request, polls and an error read: one send every 2 s stays well under the steady window.
  defaultRateLimit: { requestsPerSecond: 0.5, concurrency: 2 },

  /** Reads the list (or one profile without a list): the key must work and the list exist. */
  async test(ctx) {
    const path = ctx.config.list_id ? `/api/lists/${encodeURIComponent(ctx.config.list_id)}` : "/api/profiles?page[size]=1";
    const { response, outcome } = await call(ctx, "GET", path);
    if (outcome) return { ok: false, error: outcome.error };
    if (response.status === 404) return { ok: false, error: `Klaviyo has no list ${ctx.config.list_id}: ${errorText(response)}` };
    if (response.status !== 200) return { ok: false, error: failure(response).error };
    return { ok: true };
  },

  /** Klaviyo's standard profile attributes; anything else mapped becomes a custom property. */
  async fields(ctx) {
    const identifier = ctx.config.identifier;
    const fields: DestinationField[] = [
      ...STANDARD_ATTRIBUTES.map((name) => ({
        name,
        label: labelOf(name),
        type: "string" as const,
        required: name === identifier,
        ...(name === identifier ? { identifier: true } : {}),
      })),
      ...LOCATION_ATTRIBUTES.map((name) => ({
        name: `location.${name}`,
        label: `Location ${labelOf(name)}`,
        type: NUMERIC_LOCATION.has(name) ? ("number" as const) : ("string" as const),
        required: false,
      })),
    ];
    return { ok: true, fields, open: true };
  },

  async send(ctx, batch) {
    if (batch.operations.length > KLAVIYO_MAX_PROFILES) {
      return { kind: "rejected", error: `a batch may carry at most ${KLAVIYO_MAX_PROFILES} profiles` };
    }
    const results = new Map<number, RowResult>();
    const upserts: Indexed[] = [];
    const deletes: Indexed[] = [];
    for (const [index, op] of batch.operations.entries()) (op.op === "delete" ? deletes : upserts).push({ index, op });
    for (const job of jobsOf(ctx, upserts, results)) {
      const outcome = await importProfiles(ctx, job, results);
      if (outcome) return outcome;
    }
    if (deletes.length > 0) {
      const outcome = await removeFromList(ctx, deletes, results);
      if (outcome) return outcome;
    }
    return { kind: "results", results: batch.operations.map((op, i) => results.get(i) ?? { key: op.key, ok: true }) };
  },
};

interface Indexed {
  index: number;
  op: Operation;
}

/** A row's profile as JSON:API, with its serialized size. */
interface Profile extends Indexed {
  body: { type: "profile"; attributes: Record<string, unknown> };
  bytes: number;
}

function labelOf(name: string): string {
  const words = name.replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

// ---------------------------------------------------------------------------------------------
// Import

/** The row's identifier value as text: its mapped field, or for a delete that carries none, its key. */
function identifierOf(op: Operation, identifier: string): string | undefined {
  const value = op.fields[identifier];
  const text = value === null || value === undefined ? "" : String(value).trim();
  if (text !== "") return text;
  return op.op === "delete" ? op.key : undefined;
}

/**
 * A row's profile: standard attributes as Klaviyo's own, `location.*` nested, anything else under
 * `properties` (a `properties.` prefix is dropped). Nulls are left out: bulk imports cannot clear.
 */
export function profileAttributes(fields: Record<string, unknown>): Record<string, unknown> {
  const attributes: Record<string, unknown> = {};
  const location: Record<string, unknown> = {};
  const properties: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) {
    if (value === null || value === undefined) continue;
    if ((STANDARD_ATTRIBUTES as readonly string[]).includes(name)) {
      attributes[name] = typeof value === "string" ? value : typeof value === "object" ? JSON.stringify(value) : String(value);
    } else if (name.startsWith("location.") && (LOCATION_ATTRIBUTES as readonly string[]).includes(name.slice(9))) {
      location[name.slice(9)] = value;
    } else {
      properties[name.startsWith("properties.") ? name.slice(11) : name] = value;
    }
  }
  if (Object.keys(location).length > 0) attributes.location = location;
  if (Object.keys(properties).length > 0) attributes.properties = properties;
  return attributes;
}

/** Rows as profiles, split into jobs under Klaviyo's count and size limits; rows that cannot be sent fail here. */
function jobsOf(ctx: Ctx, items: Indexed[], results: Map<number, RowResult>): Profile[][] {
  const { identifier } = ctx.config;
  const jobs: Profile[][] = [];
  let job: Profile[] = [];
  let bytes = 0;
  for (const item of items) {
    const fail = (error: string) => results.set(item.index, { key: item.op.key, ok: false, error });
    if (identifierOf(item.op, identifier) === undefined) {
      fail(`no value for "${identifier}" in this row: Klaviyo matches profiles by it, so it must be mapped and not empty`);
      continue;
    }
    const body = { type: "profile" as const, attributes: profileAttributes(item.op.fields) };
    const size = new TextEncoder().encode(JSON.stringify(body)).length + 1;
    if (size > MAX_PROFILE_BYTES) {
      fail(`the profile is ${size} bytes; Klaviyo accepts at most ${MAX_PROFILE_BYTES} per profile`);
      continue;
    }
    if (job.length >= KLAVIYO_MAX_PROFILES || bytes + size > MAX_JOB_BYTES) {
      jobs.push(job);
      job = [];
      bytes = 0;
    }
    job.push({ ...item, body, bytes: size });
    bytes += size;
  }
  if (job.length > 0) jobs.push(job);
  return jobs;
}

/** Creates one import job for `profiles`, waits for it and records each row's result. */
async function importProfiles(ctx: Ctx, profiles: Profile[], results: Map<number, RowResult>): Promise<SendOutcome | undefined> {
  let pending = profiles;
  for (let round = 1; pending.length > 0; round++) {
    const listId = ctx.config.list_id;
    const body = {
      data: {
        type: "profile-bulk-import-job",
        attributes: { profiles: { data: pending.map((p) => p.body) } },
        ...(listId ? { relationships: { lists: { data: [{ type: "list", id: listId }] } } } : {}),
      },
    };
    const { response, outcome } = await call(ctx, "POST", "/api/profile-bulk-import-jobs", body);
    if (outcome) return outcome;
    if (response.status === 202 || response.status === 201 || response.status === 200) {
      const created = parseJson(response.text);
      const id = isRecord(created) && isRecord(created.data) && typeof created.data.id === "string" ? created.data.id : undefined;
      if (!id) return { kind: "retry", error: `Klaviyo accepted the import job but named no job id: ${truncate(response.text, 300)}` };
      return awaitJob(ctx, id, pending, results);
    }
    // A 400 whose errors point at profiles: the job was not created; those profiles fail, the rest go again.
    const named = response.status === 400 ? pointedProfiles(parseJson(response.text), pending) : new Map<number, string>();
    if (named.size === 0 || round >= MAX_IMPORT_ROUNDS) return failure(response);
    for (const [at, error] of named) {
      const p = pending[at];
      if (p) results.set(p.index, { key: p.op.key, ok: false, error });
    }
    pending = pending.filter((_, at) => !named.has(at));
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls job `id` until it completes, then reads its import errors into `results`. */
async function awaitJob(ctx: Ctx, id: string, profiles: Profile[], results: Map<number, RowResult>): Promise<SendOutcome | undefined> {
  const deadline = Date.now() + (ctx.config.poll_timeout_ms ?? DEFAULT_POLL_TIMEOUT_MS);
  let wait = ctx.config.poll_ms ?? DEFAULT_POLL_MS;
  let status = "queued";
  let failed = 0;
  for (;;) {
    const { response, outcome } = await call(ctx, "GET", `/api/profile-bulk-import-jobs/${encodeURIComponent(id)}`);
    if (outcome) return outcome;
    if (response.status !== 200) return failure(response);
    const job = parseJson(response.text);
    const attributes = isRecord(job) && isRecord(job.data) && isRecord(job.data.attributes) ? job.data.attributes : {};
    status = typeof attributes.status === "string" ? attributes.status : "unknown";
    failed = typeof attributes.failed_count === "number" ? attributes.failed_count : 0;
    if (status === "complete") break;
    if (status === "cancelled") return { kind: "retry", error: `Klaviyo cancelled import job ${id}; the batch is sent again` };
    if (Date.now() + wait > deadline) {
      return {
        kind: "retry",
        error: `Klaviyo import job ${id} is still ${status}; the batch is sent again later (a bulk import is an upsert, so the resend is absorbed)`,
      };
    }
    await sleep(wait);
    wait = Math.min(wait * 1.5, MAX_POLL_MS);
  }
  for (const p of profiles) results.set(p.index, { key: p.op.key, ok: true });
  if (failed === 0) return undefined;
  return readImportErrors(ctx, id, failed, profiles, results);
}

/** Reads `…/import-errors` (every page) and fails the rows they name. */
async function readImportErrors(
  ctx: Ctx,
  id: string,
  failedCount: number,
  profiles: Profile[],
  results: Map<number, RowResult>,
): Promise<SendOutcome | undefined> {
  const byValue = profilesByIdentifier(profiles);
  const named = new Set<number>();
  let path: string | undefined = `/api/profile-bulk-import-jobs/${encodeURIComponent(id)}/import-errors?page[size]=100`;
  while (path) {
    const { response, outcome } = await call(ctx, "GET", path);
    if (outcome) return outcome;
    if (response.status !== 200) return failure(response);
    const body = parseJson(response.text);
    const errors = isRecord(body) && Array.isArray(body.data) ? body.data.filter(isRecord) : [];
    for (const err of errors) {
      const attributes = isRecord(err.attributes) ? err.attributes : {};
      const message = errorMessage(attributes);
      const at = pointerIndex(attributes.source);
      const hits = at !== undefined && profiles[at] ? [profiles[at]] : byValue(attributes.original_payload);
      for (const p of hits) {
        named.add(p.index);
        results.set(p.index, { key: p.op.key, ok: false, error: message });
      }
    }
    path = nextPath(ctx, body);
  }
  // Klaviyo counted more failures than it named: the unnamed ones cannot be told apart, so no row is
  // confirmed (they fail and are sent again by a later run rather than lost).
  if (named.size < failedCount) {
    for (const p of profiles) {
      if (named.has(p.index)) continue;
      results.set(p.index, {
        key: p.op.key,
        ok: false,
        error: `Klaviyo import job ${id} reported ${failedCount} failed profiles but described only ${named.size}; this row is not confirmed`,
      });
    }
  }
  return undefined;
}

/** The next page of a JSON:API cursor list, as a path on the same API base (another host is not followed). */
function nextPath(ctx: Ctx, body: unknown): string | undefined {
  const next = isRecord(body) && isRecord(body.links) && typeof body.links.next === "string" ? body.links.next : undefined;
  if (!next || !URL.canParse(next)) return undefined;
  const url = new URL(next);
  const base = new URL(baseOf(ctx));
  if (url.origin !== base.origin || !url.pathname.startsWith(base.pathname.replace(/\/$/, ""))) return undefined;
  return `${url.pathname.slice(base.pathname.replace(/\/$/, "").length)}${url.search}`;
}

/** The profile index in a JSON:API `source.pointer` such as `/data/attributes/profiles/data/3`. */
function pointerIndex(source: unknown): number | undefined {
  const pointer = isRecord(source) && typeof source.pointer === "string" ? source.pointer : "";
  const match = /\/profiles\/data\/(\d+)/.exec(pointer);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** Profiles by any identifier value they were sent with (emails case-insensitively). */
function profilesByIdentifier(profiles: Profile[]) {
  const map = new Map<string, Profile[]>();
  for (const p of profiles) {
    for (const name of ["email", "external_id", "phone_number"]) {
      const value = p.body.attributes[name];
      if (typeof value !== "string") continue;
      const key = `${name}:${value.toLowerCase()}`;
      map.set(key, [...(map.get(key) ?? []), p]);
    }
  }
  return (payload: unknown): Profile[] => {
    const attributes = isRecord(payload) && isRecord(payload.attributes) ? payload.attributes : isRecord(payload) ? payload : {};
    for (const name of ["external_id", "email", "phone_number"]) {
      const value = attributes[name];
      const hits = typeof value === "string" ? map.get(`${name}:${value.toLowerCase()}`) : undefined;
      if (hits) return hits;
    }
    return [];
  };
}

/** Profiles a 400's `errors[].source.pointer` name, by their position in the job, with Klaviyo's message. */
function pointedProfiles(body: unknown, profiles: Profile[]): Map<number, string> {
  const named = new Map<number, string>();
  const errors = isRecord(body) && Array.isArray(body.errors) ? body.errors.filter(isRecord) : [];
  for (const err of errors) {
    const at = pointerIndex(err.source);
    if (at !== undefined && at < profiles.length && !named.has(at)) named.set(at, errorMessage(err));
  }
  return named;
}

function errorMessage(err: Record<string, unknown>): string {
  const code = typeof err.code === "string" ? err.code : "";
  const detail = typeof err.detail === "string" ? err.detail : typeof err.title === "string" ? err.title : "";
  return truncate([code, detail].filter(Boolean).join(": ") || "rejected by Klaviyo", 1000);
}

// ---------------------------------------------------------------------------------------------
// Delete: leave the list

async function removeFromList(ctx: Ctx, items: Indexed[], results: Map<number, RowResult>): Promise<SendOutcome | undefined> {
  const { list_id: listId, identifier } = ctx.config;
  if (!listId) {
    for (const { index, op } of items) {
      results.set(index, { key: op.key, ok: false, error: "mirror deletes remove profiles from config.list_id, which is not set" });
    }
    return undefined;
  }
  const values = [...new Set(items.map(({ op }) => identifierOf(op, identifier) ?? op.key))];
  const ids = new Set<string>();
  for (let i = 0; i < values.length; i += PROFILE_PAGE_MAX) {
    const chunk = values.slice(i, i + PROFILE_PAGE_MAX);
    const filter = `any(${identifier},${JSON.stringify(chunk)})`;
    let path: string | undefined =
      `/api/profiles?filter=${encodeURIComponent(filter)}&page[size]=${PROFILE_PAGE_MAX}&fields[profile]=${identifier}`;
    while (path) {
      const { response, outcome } = await call(ctx, "GET", path);
      if (outcome) return outcome;
      if (response.status !== 200) return failure(response);
      const body = parseJson(response.text);
      const found = isRecord(body) && Array.isArray(body.data) ? body.data.filter(isRecord) : [];
      for (const profile of found) if (typeof profile.id === "string") ids.add(profile.id);
      path = nextPath(ctx, body);
    }
  }
  const all = [...ids];
  for (let i = 0; i < all.length; i += LIST_REMOVE_MAX) {
    const data = all.slice(i, i + LIST_REMOVE_MAX).map((id) => ({ type: "profile", id }));
    const { response, outcome } = await call(ctx, "DELETE", `/api/lists/${encodeURIComponent(listId)}/relationships/profiles`, { data });
    if (outcome) return outcome;
    if (response.status < 200 || response.status >= 300) return failure(response);
  }
  for (const { index, op } of items) results.set(index, { key: op.key, ok: true });
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// HTTP and errors

function baseOf(ctx: Ctx): string {
  return ctx.allowPrivate && ctx.config.api_base ? ctx.config.api_base.replace(/\/+$/, "") : KLAVIYO_API_BASE;
}

function call(ctx: Ctx, method: "GET" | "POST" | "DELETE", path: string, body?: unknown) {
  return httpRequest(ctx, {
    method,
    url: `${baseOf(ctx)}${path}`,
    headers: {
      Authorization: `Klaviyo-API-Key ${ctx.credentials.api_key}`,
      revision: KLAVIYO_REVISION,
      Accept: "application/vnd.api+json",
      ...(body === undefined ? {} : { "Content-Type": "application/vnd.api+json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    timeoutMs: ctx.config.timeout_ms ?? DEFAULT_TIMEOUT_MS,
  });
}

/** `code: detail` of a JSON:API error body's first error, or the raw text. */
function errorText(res: HttpResponse): string {
  const body = parseJson(res.text);
  const first = isRecord(body) && Array.isArray(body.errors) ? body.errors.find(isRecord) : undefined;
  return first ? errorMessage(first) : truncate(res.text, 500);
}

/** Klaviyo answers 429 with `Retry-After`, which classifyStatus honours. */
function failure(res: HttpResponse): FailureOutcome {
  return classifyStatus(res, errorText(res));
}
