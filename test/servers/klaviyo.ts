import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import { json, readBody, tenants } from "./http";

/**
 * A fake Klaviyo account for connector tests, following the documented contracts of:
 * - Bulk Import Profiles, `POST /api/profile-bulk-import-jobs`
 *   (https://developers.klaviyo.com/en/reference/bulk_import_profiles, guide:
 *   https://developers.klaviyo.com/en/docs/use_klaviyos_bulk_profile_import_api): a JSON:API
 *   `profile-bulk-import-job` with `attributes.profiles.data[]` and an optional `relationships.lists`;
 *   "up to 10,000 profiles per request", payload at most 5 MB (else 413), answered 202 with the job
 *   (`status: "queued"`). A malformed profile (here: a non-numeric `location.latitude`) is a 400
 *   whose error's `source.pointer` names it, and no job is made. An import upserts: a profile matches
 *   an existing one by email (case-insensitively), phone number or external id. Profiles join the job's lists.
 * - Get Bulk Import Profiles Job, `GET …/{id}` (https://developers.klaviyo.com/en/reference/get_bulk_import_profiles_job):
 *   `status` queued → processing → complete after `job_polls` reads (never, with `stuck`), with
 *   `total_count`, `completed_count`, `failed_count`.
 * - Get Errors for Bulk Import Profiles Job, `GET …/{id}/import-errors`
 *   (https://developers.klaviyo.com/en/reference/get_errors_for_bulk_import_profiles_job): `import-error`
 *   resources (`code`, `title`, `detail`, `source.pointer`, `original_payload`), cursor pages
 *   (`page[size]`, default 20, at most `page_cap`; `links.next`). A profile fails when its email is
 *   not an address, its phone number not E.164, or it has no identifier at all; failed profiles
 *   are not written.
 * - Get Profiles `GET /api/profiles?filter=any(field,[…])|equals(field,"…")` (page size ≤ 100),
 *   Get List `GET /api/lists/{id}`, Remove Profiles from List
 *   `DELETE /api/lists/{id}/relationships/profiles` (≤ 1,000 profiles, 204).
 *
 * Auth and limits (https://developers.klaviyo.com/en/docs/rate_limits_and_error_handling): a
 * private key as `Authorization: Klaviyo-API-Key …` (else 401 `not_authenticated`), a missing scope
 * is 403 `permission_denied`, a `revision` header is required (else 400). Per-account fixed windows,
 * burst (1 s) and steady (60 s): beyond either, 429 `throttled` with `Retry-After`; other answers
 * carry `RateLimit-Limit`, `-Remaining` and `-Reset` for the steady window.
 *
 * Every path is under `/t/{account}/…`. Control: `GET /t/{account}/_state`, `POST /t/{account}/_config`
 * (a partial {@link AccountConfig}; the rest back to defaults, data kept).
 */
interface AccountConfig {
  api_key: string;
  scopes: string[];
  lists: string[];
  job_polls: number;
  stuck: boolean;
  page_cap: number;
  rate_limit: { burst: number; steady: number } | null;
  faults: Fault[];
}

interface Fault {
  status?: number;
  body?: unknown;
  retry_after?: string;
  /** Only requests whose path starts with this (e.g. "/api/profile-bulk-import-jobs"). */
  path?: string;
  times?: number;
}

interface KProfile {
  id: string;
  email?: string;
  phone_number?: string;
  external_id?: string;
  attributes: Record<string, unknown>;
  location: Record<string, unknown>;
  properties: Record<string, unknown>;
}

interface ImportError {
  id: string;
  code: string;
  title: string;
  detail: string;
  source: { pointer: string };
  original_payload: unknown;
}

interface Job {
  id: string;
  reads: number;
  total: number;
  failed: number;
  errors: ImportError[];
  lists: string[];
}

interface Account {
  config: AccountConfig;
  profiles: Map<string, KProfile>;
  lists: Map<string, Set<string>>;
  jobs: Map<string, Job>;
  requests: { method: string; path: string; status: number; size?: number }[];
  burst: number[];
  steady: number[];
}

const ALL_SCOPES = ["profiles:read", "profiles:write", "lists:read", "lists:write"];
const defaults = (): AccountConfig => ({
  api_key: "pk_test_klaviyo",
  scopes: ALL_SCOPES,
  lists: ["Y6nRLr"],
  job_polls: 1,
  stuck: false,
  page_cap: 100,
  rate_limit: null,
  faults: [],
});

const MAX_PROFILES = 10_000;
const MAX_BYTES = 5 * 1024 * 1024;
const IDENTIFIERS = ["email", "phone_number", "external_id"] as const;

/** Starts the fake Klaviyo server on 127.0.0.1. */
export function startFakeKlaviyo(port = 0): Promise<{ server: Server; port: number }> {
  const accounts = tenants<Account>(() => ({
    config: defaults(),
    profiles: new Map(),
    lists: new Map(),
    jobs: new Map(),
    requests: [],
    burst: [],
    steady: [],
  }));

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const found = accounts.route(url);
    if (!found) return json(res, 404, errors(404, "not_found", "unknown path"));
    const { tenant: account, path } = found;
    const base = `http://${req.headers.host}/t/${found.name}`;
    const raw = await readBody(req);
    if (path === "/_state" && req.method === "GET") {
      return json(res, 200, {
        profiles: [...account.profiles.values()],
        lists: Object.fromEntries([...account.lists].map(([id, members]) => [id, [...members]])),
        requests: account.requests,
      });
    }
    if (path === "/_config" && req.method === "POST") {
      account.config = { ...defaults(), ...(JSON.parse(raw || "{}") as Partial<AccountConfig>) };
      account.config.faults = account.config.faults.map((f) => ({ ...f }));
      return json(res, 200, { ok: true });
    }

    const log: Account["requests"][number] = { method: req.method ?? "GET", path: `${path}${url.search}`, status: 200 };
    account.requests.push(log);
    const headers: Record<string, string> = { "content-type": "application/vnd.api+json" };
    const reply = (status: number, body?: unknown, extra: Record<string, string> = {}) => {
      log.status = status;
      if (body === undefined) {
        res.writeHead(status, { ...headers, ...extra });
        return res.end();
      }
      json(res, status, body, { ...headers, ...extra });
    };

    const fault = account.config.faults.find((f) => f.path === undefined || path.startsWith(f.path));
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) account.config.faults.splice(account.config.faults.indexOf(fault), 1);
      return reply(fault.status ?? 500, fault.body ?? errors(fault.status ?? 500, "error", "A server error occurred."), {
        ...(fault.retry_after === undefined ? {} : { "retry-after": fault.retry_after }),
      });
    }
    if (req.headers.authorization !== `Klaviyo-API-Key ${account.config.api_key}`) {
      return reply(401, errors(401, "not_authenticated", "Authentication credentials were not provided."));
    }
    if (!req.headers.revision) return reply(400, errors(400, "invalid", "Missing revision header."));
    const limit = account.config.rate_limit;
    if (limit) {
      const now = Date.now();
      account.burst = account.burst.filter((t) => t > now - 1000);
      account.steady = account.steady.filter((t) => t > now - 60_000);
      if (account.burst.length >= limit.burst || account.steady.length >= limit.steady) {
        const wait = account.burst.length >= limit.burst ? 1 : Math.ceil(((account.steady[0] ?? now) + 60_000 - now) / 1000);
        return reply(429, errors(429, "throttled", `Request was throttled. Expected available in ${wait} second.`), {
          "retry-after": String(wait),
        });
      }
      account.burst.push(now);
      account.steady.push(now);
      headers["ratelimit-limit"] = String(limit.steady);
      headers["ratelimit-remaining"] = String(limit.steady - account.steady.length);
      headers["ratelimit-reset"] = String(Math.ceil(((account.steady[0] ?? now) + 60_000 - now) / 1000));
    }
    const scoped = (scope: string) => {
      if (account.config.scopes.includes(scope)) return true;
      reply(403, errors(403, "permission_denied", `You do not have permission to perform this action. Missing scope: ${scope}`));
      return false;
    };

    try {
      if (path === "/api/profile-bulk-import-jobs" && req.method === "POST") {
        if (!scoped("profiles:write") || (hasLists(raw) && !scoped("lists:write"))) return;
        return createJob(account, raw, log, reply);
      }
      const job = /^\/api\/profile-bulk-import-jobs\/([\w-]+)(\/import-errors)?$/.exec(path);
      if (job?.[1] && req.method === "GET") {
        if (!scoped("profiles:read")) return;
        const found = account.jobs.get(job[1]);
        if (!found) return reply(404, errors(404, "not_found", `Job ${job[1]} not found.`));
        if (job[2]) return importErrors(account, found, url, base, reply);
        found.reads++;
        const status = account.config.stuck ? "processing" : found.reads > account.config.job_polls ? "complete" : "processing";
        return reply(200, { data: jobResource(found, status) });
      }
      if (path === "/api/profiles" && req.method === "GET") {
        if (!scoped("profiles:read")) return;
        return getProfiles(account, url, base, reply);
      }
      const list = /^\/api\/lists\/(\w+)(\/relationships\/profiles)?$/.exec(path);
      if (list?.[1]) {
        const id = list[1];
        if (!account.config.lists.includes(id)) return reply(404, errors(404, "not_found", `List ${id} does not exist.`));
        if (!list[2] && req.method === "GET") {
          if (!scoped("lists:read")) return;
          return reply(200, { data: { type: "list", id, attributes: { name: `List ${id}` } } });
        }
        if (list[2] && req.method === "DELETE") {
          if (!scoped("lists:write")) return;
          const data = (JSON.parse(raw) as { data?: { id?: string }[] }).data ?? [];
          log.size = data.length;
          if (data.length > 1000) return reply(400, errors(400, "invalid", "A maximum of 1000 profiles can be removed at once."));
          const members = membersOf(account, id);
          for (const p of data) if (p.id) members.delete(p.id);
          return reply(204);
        }
      }
      reply(404, errors(404, "not_found", `no route for ${req.method} ${path}`));
    } catch (err) {
      reply(400, errors(400, "invalid", `Malformed request body: ${String(err)}`));
    }
  });

  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      resolve({ server, port: typeof address === "object" && address ? address.port : port });
    });
  });
}

type Reply = (status: number, body?: unknown, extra?: Record<string, string>) => void;

function hasLists(raw: string): boolean {
  return /"lists"/.test(raw);
}

function membersOf(account: Account, list: string): Set<string> {
  let members = account.lists.get(list);
  if (!members) {
    members = new Set();
    account.lists.set(list, members);
  }
  return members;
}

function createJob(account: Account, raw: string, log: { size?: number }, reply: Reply) {
  if (Buffer.byteLength(raw) > MAX_BYTES) return reply(413, errors(413, "payload_too_large", "The payload is larger than 5MB."));
  const body = JSON.parse(raw) as {
    data?: {
      type?: string;
      attributes?: { profiles?: { data?: { type?: string; attributes?: Record<string, unknown> }[] } };
      relationships?: { lists?: { data?: { id?: string }[] } };
    };
  };
  if (body.data?.type !== "profile-bulk-import-job") return reply(400, errors(400, "invalid", "data.type must be profile-bulk-import-job"));
  const profiles = body.data.attributes?.profiles?.data ?? [];
  log.size = profiles.length;
  if (profiles.length === 0 || profiles.length > MAX_PROFILES) {
    return reply(400, errors(400, "invalid", `A job accepts between 1 and ${MAX_PROFILES} profiles; got ${profiles.length}.`));
  }
  const lists = (body.data.relationships?.lists?.data ?? []).map((l) => String(l.id));
  const unknown = lists.find((l) => !account.config.lists.includes(l));
  if (unknown) return reply(404, errors(404, "not_found", `List ${unknown} does not exist.`));
  // Schema errors refuse the whole request, naming the profile.
  const bad = profiles.flatMap((p, i) => {
    const lat = (p.attributes?.location as Record<string, unknown> | undefined)?.latitude;
    return lat !== undefined && Number.isNaN(Number(lat))
      ? [
          {
            status: 400,
            code: "invalid",
            title: "Invalid input.",
            detail: `'${String(lat)}' is not a valid latitude.`,
            source: { pointer: `/data/attributes/profiles/data/${i}/attributes/location/latitude` },
          },
        ]
      : [];
  });
  if (bad.length > 0) return reply(400, { errors: bad.map((e) => ({ id: randomUUID(), ...e })) });

  const job: Job = { id: randomUUID().replaceAll("-", ""), reads: 0, total: profiles.length, failed: 0, errors: [], lists };
  profiles.forEach((p, i) => {
    const attributes = p.attributes ?? {};
    const problem = profileProblem(attributes);
    if (problem) {
      job.errors.push({
        id: randomUUID(),
        code: "invalid",
        title: "Invalid input.",
        detail: problem.detail,
        source: { pointer: `/data/attributes/profiles/data/${i}${problem.pointer}` },
        original_payload: attributes,
      });
      return;
    }
    const profile = upsertProfile(account, attributes);
    for (const list of lists) membersOf(account, list).add(profile.id);
  });
  job.failed = job.errors.length;
  account.jobs.set(job.id, job);
  reply(202, { data: jobResource(job, "queued") });
}

function profileProblem(a: Record<string, unknown>): { detail: string; pointer: string } | undefined {
  if (IDENTIFIERS.every((k) => a[k] === undefined || a[k] === null || a[k] === "")) {
    return { detail: "One of email, phone_number or external_id is required.", pointer: "/attributes" };
  }
  if (a.email !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(String(a.email))) {
    return { detail: "Invalid email address", pointer: "/attributes/email" };
  }
  if (a.phone_number !== undefined && !/^\+[1-9]\d{6,14}$/.test(String(a.phone_number))) {
    return { detail: "Invalid phone number format (Example of a valid format: +13239169023)", pointer: "/attributes/phone_number" };
  }
  return undefined;
}

function upsertProfile(account: Account, a: Record<string, unknown>): KProfile {
  const email = typeof a.email === "string" ? a.email.toLowerCase() : undefined;
  let profile = [...account.profiles.values()].find(
    (p) =>
      (email !== undefined && p.email === email) ||
      (a.phone_number !== undefined && p.phone_number === a.phone_number) ||
      (a.external_id !== undefined && p.external_id === a.external_id),
  );
  if (!profile) {
    profile = { id: `01${randomUUID().replaceAll("-", "").slice(0, 24).toUpperCase()}`, attributes: {}, location: {}, properties: {} };
    account.profiles.set(profile.id, profile);
  }
  const { location, properties, ...rest } = a;
  for (const [k, v] of Object.entries(rest)) {
    // Bulk imports cannot clear a field: nulls are ignored.
    if (v === null || v === undefined) continue;
    if (k === "email") profile.email = String(v).toLowerCase();
    else if (k === "phone_number" || k === "external_id") profile[k] = String(v);
    else profile.attributes[k] = v;
  }
  Object.assign(profile.location, location ?? {});
  Object.assign(profile.properties, properties ?? {});
  return profile;
}

function jobResource(job: Job, status: string) {
  const done = status === "complete";
  return {
    type: "profile-bulk-import-job",
    id: job.id,
    attributes: {
      status,
      total_count: job.total,
      completed_count: done ? job.total - job.failed : 0,
      failed_count: done ? job.failed : 0,
      created_at: new Date().toISOString(),
      completed_at: done ? new Date().toISOString() : null,
    },
    relationships: { lists: { data: job.lists.map((id) => ({ type: "list", id })) } },
  };
}

/** A cursor page of `items` (`page[cursor]` is the offset here; Klaviyo's is opaque). */
function page<T>(items: T[], url: URL, base: string, cap: number, defaultSize: number): { data: T[]; links: { next: string | null } } {
  const size = Math.min(Number(url.searchParams.get("page[size]") ?? defaultSize) || defaultSize, cap);
  const from = Number(url.searchParams.get("page[cursor]") ?? 0) || 0;
  const next = new URL(`${base}${url.pathname.replace(/^\/t\/[^/]+/, "")}`);
  for (const [k, v] of url.searchParams) next.searchParams.set(k, v);
  next.searchParams.set("page[cursor]", String(from + size));
  return { data: items.slice(from, from + size), links: { next: from + size < items.length ? next.toString() : null } };
}

function importErrors(account: Account, job: Job, url: URL, base: string, reply: Reply) {
  const errorsPage = page(job.errors, url, base, account.config.page_cap, 20);
  reply(200, {
    data: errorsPage.data.map(({ id, ...attributes }) => ({ type: "import-error", id, attributes })),
    links: errorsPage.links,
  });
}

function getProfiles(account: Account, url: URL, base: string, reply: Reply) {
  const filter = url.searchParams.get("filter") ?? "";
  const parsed = /^(any|equals)\((email|phone_number|external_id),(.*)\)$/.exec(filter);
  let wanted: string[] | undefined;
  if (parsed?.[2] && parsed[3] !== undefined) {
    try {
      const value = JSON.parse(parsed[3]) as unknown;
      wanted = (Array.isArray(value) ? value : [value]).map(String);
    } catch {
      return reply(400, errors(400, "invalid", `Invalid filter value: ${parsed[3]}`, "filter"));
    }
  } else if (filter) {
    return reply(400, errors(400, "invalid", `Invalid filter provided: ${filter}`, "filter"));
  }
  const field = (parsed?.[2] ?? "email") as (typeof IDENTIFIERS)[number];
  const wantedSet = new Set(wanted?.map((w) => (field === "email" ? w.toLowerCase() : w)));
  const matches = [...account.profiles.values()].filter((p) => wanted === undefined || wantedSet.has(p[field] ?? ""));
  const profilesPage = page(matches, url, base, 100, 20);
  reply(200, {
    data: profilesPage.data.map((p) => ({
      type: "profile",
      id: p.id,
      attributes: { email: p.email ?? null, phone_number: p.phone_number ?? null, external_id: p.external_id ?? null },
    })),
    links: profilesPage.links,
  });
}

/** Klaviyo's JSON:API error document. */
function errors(status: number, code: string, detail: string, parameter?: string) {
  return {
    errors: [
      {
        id: randomUUID(),
        status,
        code,
        title: detail.split(".")[0] ?? detail,
        detail,
        source: parameter ? { parameter } : { pointer: "/data/" },
      },
    ],
  };
}
