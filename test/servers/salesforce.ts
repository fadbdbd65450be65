// Over 400 lines: one fake org implementing every Salesforce endpoint and limit the connector uses, as documented.
import { randomUUID } from "node:crypto";
import { createServer, type Server, type ServerResponse } from "node:http";
import { json as sendJson, readBody, tenants } from "./http";

/**
 * A fake Salesforce org for connector tests, implementing the documented shapes of:
 * - `PATCH /services/data/vXX.X/composite/sobjects/{object}/{externalIdField}` (sObject Collections
 *   upsert, `allOrNone: false`, ≤200 records, per-record `{id, success, errors, created}` in order);
 * - `GET /services/data/vXX.X/query?q=SELECT Id, Ext FROM Obj WHERE Ext IN ('…')` (with paging
 *   through `nextRecordsUrl`);
 * - `DELETE /services/data/vXX.X/composite/sobjects?ids=…&allOrNone=false` (≤200 ids);
 * - `PATCH /services/data/vXX.X/composite/sobjects` (sObject Collections update by `Id`, ≤200
 *   records, each with `attributes.type`; an unknown id fails with `ENTITY_IS_DELETED` or
 *   `INVALID_CROSS_REFERENCE_KEY`; https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_update.htm);
 * - `GET /services/data/vXX.X/sobjects/{object}/describe` ("sObject Describe",
 *   https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_describe.htm):
 *   `{name, createable, updateable, fields:[{name, label, type, createable, updateable, nillable,
 *   defaultedOnCreate, externalId, idLookup}]}`, field types and flags as the DescribeSObjectResult
 *   reference lists them (https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_describesobjects_describesobjectresult.htm).
 *   Every object has the same {@link STANDARD_FIELDS}, the external id fields, the `required_fields`
 *   (not nillable) and `extra_fields`;
 * - `POST /services/oauth2/token` (`grant_type=refresh_token`).
 *
 * Every path is under `/t/{org}/…`: each org (a test's namespace) has its own records, config
 * and faults, so test files running in parallel never see each other. Control endpoints:
 * `GET /t/{org}/_state` and `POST /t/{org}/_config` (a partial {@link OrgConfig}; unspecified
 * fields go back to their defaults, records are kept).
 *
 * Per-record failures: any field whose value is `"INVALID"` fails with
 * `FIELD_CUSTOM_VALIDATION_EXCEPTION`; a new record without a `required_fields` field fails
 * with `REQUIRED_FIELD_MISSING`; a delete of a record whose external id is in `undeletable`
 * fails with `DELETE_FAILED`.
 *
 * API limits, as Salesforce documents them:
 * - the org's total API request allocation over a rolling 24 hours ("API Request Limits and
 *   Allocations", https://developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/salesforce-app-limits-platform-api.html):
 *   every REST call counts; once `daily_limit.max` calls are used, calls fail with 403
 *   `REQUEST_LIMIT_EXCEEDED` "TotalRequests Limit exceeded." until usage drops (here: until the test
 *   lowers `daily_limit.used`, or after `daily_limit.window_ms`, a scaled-down 24 hours);
 * - every REST response carries `Sforce-Limit-Info: api-usage=used/max` ("Limit Info Header",
 *   https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm),
 *   the refused ones included;
 * - `rate_limit` is a short-window throttle for transient-failure tests (Salesforce documents no
 *   per-second REST limit; a 429 here stands for any gateway's throttle).
 */
interface OrgConfig {
  /** The only access token accepted. */
  access_token: string;
  refresh_token: string;
  client_id: string;
  client_secret: string;
  /** sObjects that exist (describe, upsert, query). */
  objects: string[];
  /** Fields flagged External ID on every object. */
  external_id_fields: string[];
  /** Fields a new record must have. */
  required_fields: string[];
  /** More fields the describe lists (unspecified flags: createable, updateable and nillable). */
  extra_fields: Partial<DescribedField>[];
  /** External ids whose records refuse deletion. */
  undeletable: string[];
  /** Records per query page before `nextRecordsUrl`. */
  query_page_size: number;
  /** At most `max` API requests per `interval_ms`; beyond, `status` with REQUEST_LIMIT_EXCEEDED (and Retry-After on 429). */
  rate_limit: { max: number; interval_ms?: number; status?: number } | null;
  /** The org's daily API allocation: `max` calls per `window_ms` (24 h by default), `used` already spent. */
  daily_limit: { max: number; used?: number; window_ms?: number };
  /** Canned answers for the next API requests, in order. */
  faults: Fault[];
}

interface Fault {
  status?: number;
  body?: unknown;
  retry_after?: string;
  headers?: Record<string, string>;
  delay_ms?: number;
  times?: number;
}

interface RequestLog {
  method: string;
  path: string;
  /** Records or ids the request carried. */
  size?: number;
  status: number;
  at: number;
}

interface Org {
  config: OrgConfig;
  /** object → Id → record (fields, with Id). */
  records: Map<string, Map<string, Record<string, unknown>>>;
  requests: RequestLog[];
  hits: number[];
  /** Epoch ms of the API calls counted against the daily allocation. */
  calls: number[];
  tokensIssued: number;
  nextId: number;
  cursors: Map<string, Record<string, unknown>[]>;
}

const defaults = (): OrgConfig => ({
  access_token: "sf-test-token",
  refresh_token: "sf-refresh-token",
  client_id: "sf-client-id",
  client_secret: "sf-client-secret",
  objects: ["Contact", "Account", "Lead"],
  external_id_fields: ["External_Id__c"],
  required_fields: [],
  extra_fields: [],
  undeletable: [],
  query_page_size: 2000,
  rate_limit: null,
  // Enterprise Edition's base allocation (100,000 calls per 24 hours).
  daily_limit: { max: 100_000 },
  faults: [],
});

const MAX_RECORDS = 200;

/** One field of a describe, with the flags the connector reads. */
interface DescribedField {
  name: string;
  label: string;
  type: string;
  createable: boolean;
  updateable: boolean;
  nillable: boolean;
  defaultedOnCreate: boolean;
  externalId: boolean;
  idLookup: boolean;
}

const field = (name: string, type: string, flags: Partial<DescribedField> = {}): DescribedField => ({
  name,
  label: name.replace(/__c$/, "").replace(/_/g, " "),
  type,
  createable: true,
  updateable: true,
  nillable: true,
  defaultedOnCreate: false,
  externalId: false,
  idLookup: false,
  ...flags,
});

/** The fields every object of the fake org describes, a Contact's usual ones and a few custom ones. */
const STANDARD_FIELDS: DescribedField[] = [
  field("Id", "id", { createable: false, updateable: false, nillable: false, defaultedOnCreate: true, idLookup: true }),
  field("FirstName", "string"),
  field("LastName", "string"),
  field("Name", "string"),
  field("Email", "email", { idLookup: true }),
  field("Phone", "phone"),
  field("LeadSource", "picklist"),
  field("Birthdate", "date"),
  field("HasOptedOutOfEmail", "boolean", { nillable: false, defaultedOnCreate: true }),
  field("NumberOfEmployees", "int"),
  field("MailingAddress", "address", { createable: false, updateable: false }),
  field("CreatedDate", "datetime", { createable: false, updateable: false, nillable: false, defaultedOnCreate: true }),
  field("Plan__c", "string"),
  field("Score__c", "double"),
  field("Meta__c", "textarea"),
];

function describedFields(config: OrgConfig): DescribedField[] {
  const fields = new Map(STANDARD_FIELDS.map((f) => [f.name, f]));
  for (const name of config.external_id_fields) fields.set(name, field(name, "string", { externalId: true, idLookup: true }));
  for (const extra of config.extra_fields) if (extra.name) fields.set(extra.name, field(extra.name, extra.type ?? "string", extra));
  for (const name of config.required_fields) fields.set(name, { ...(fields.get(name) ?? field(name, "string")), nillable: false });
  return [...fields.values()];
}

/** Starts the fake org server on 127.0.0.1. */
export function startFakeSalesforce(port = 0): Promise<{ server: Server; port: number }> {
  const orgs = tenants<Org>(() => ({
    config: defaults(),
    records: new Map(),
    requests: [],
    hits: [],
    calls: [],
    tokensIssued: 0,
    nextId: 1,
    cursors: new Map(),
  }));

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const found = orgs.route(url);
    if (!found) return json(res, 404, [{ errorCode: "NOT_FOUND", message: "The requested resource does not exist" }]);
    const { tenant: org, path } = found;
    try {
      const raw = await readBody(req);
      if (path === "/_state" && req.method === "GET") {
        return json(res, 200, {
          records: Object.fromEntries([...org.records].map(([object, rows]) => [object, [...rows.values()]])),
          requests: org.requests,
          tokens_issued: org.tokensIssued,
          access_token: org.config.access_token,
        });
      }
      if (path === "/_config" && req.method === "POST") {
        org.config = { ...defaults(), ...(JSON.parse(raw || "{}") as Partial<OrgConfig>) };
        org.config.faults = org.config.faults.map((f) => ({ ...f }));
        // A new allocation (or `used`) starts the count afresh.
        org.calls = [];
        return json(res, 200, { ok: true });
      }
      if (path === "/services/oauth2/token" && req.method === "POST") return token(org, raw, res);

      const log: RequestLog = { method: req.method ?? "GET", path, status: 200, at: Date.now() };
      org.requests.push(log);
      const daily = org.config.daily_limit;
      const now = Date.now();
      org.calls = org.calls.filter((t) => t > now - (daily.window_ms ?? 86_400_000));
      const used = () => (daily.used ?? 0) + org.calls.length;
      const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        log.status = status;
        json(res, status, body, { "sforce-limit-info": `api-usage=${used()}/${daily.max}`, ...headers });
      };

      const fault = org.config.faults[0];
      if (fault) {
        fault.times = (fault.times ?? 1) - 1;
        if (fault.times <= 0) org.config.faults.shift();
        if (fault.delay_ms) await new Promise((r) => setTimeout(r, fault.delay_ms));
        if (fault.status) {
          return reply(fault.status, fault.body ?? [{ errorCode: "SERVER_UNAVAILABLE", message: `simulated ${fault.status}` }], {
            ...(fault.retry_after === undefined ? {} : { "retry-after": fault.retry_after }),
            ...fault.headers,
          });
        }
      }
      if (req.headers.authorization !== `Bearer ${org.config.access_token}`) {
        return reply(401, [{ message: "Session expired or invalid", errorCode: "INVALID_SESSION_ID" }]);
      }
      if (used() >= daily.max) {
        return reply(403, [{ message: "TotalRequests Limit exceeded.", errorCode: "REQUEST_LIMIT_EXCEEDED" }]);
      }
      org.calls.push(now);
      const limit = org.config.rate_limit;
      if (limit) {
        const now = Date.now();
        const interval = limit.interval_ms ?? 1000;
        org.hits = org.hits.filter((t) => t > now - interval);
        if (org.hits.length >= limit.max) {
          const status = limit.status ?? 429;
          const wait = Math.max(1, Math.ceil(((org.hits[0] ?? now) + interval - now) / 1000));
          return reply(status, [{ message: "TotalRequests Limit exceeded.", errorCode: "REQUEST_LIMIT_EXCEEDED" }], {
            ...(status === 429 ? { "retry-after": String(wait) } : {}),
          });
        }
        org.hits.push(now);
      }

      const api = /^\/services\/data\/(v\d+\.\d)(\/.*)$/.exec(path);
      if (!api?.[1] || !api[2]) return reply(404, [{ errorCode: "NOT_FOUND", message: "The requested resource does not exist" }]);
      const version = api[1];
      const rest = api[2];

      const composite = req.method === "PATCH" ? /^\/composite\/sobjects\/(\w+)\/(\w+)$/.exec(rest) : null;
      if (composite?.[1] && composite[2]) {
        const body = JSON.parse(raw) as { allOrNone?: boolean; records?: Record<string, unknown>[] };
        const records = body.records ?? [];
        log.size = records.length;
        return upsert(org, composite[1], composite[2], records, reply);
      }
      if (req.method === "PATCH" && rest === "/composite/sobjects") {
        const body = JSON.parse(raw) as { allOrNone?: boolean; records?: Record<string, unknown>[] };
        const records = body.records ?? [];
        log.size = records.length;
        return update(org, records, reply);
      }
      if (req.method === "DELETE" && rest === "/composite/sobjects") {
        const ids = (url.searchParams.get("ids") ?? "").split(",").filter(Boolean);
        log.size = ids.length;
        if (ids.length > MAX_RECORDS) {
          return reply(400, [
            { message: `Exceeded max size limit of ${MAX_RECORDS} with request size: ${ids.length}`, errorCode: "EXCEEDED_ID_LIMIT" },
          ]);
        }
        return reply(
          200,
          ids.map((id) => remove(org, id)),
        );
      }
      if (req.method === "GET" && rest === "/query") return query(org, version, url.searchParams.get("q") ?? "", reply);
      const cursor = req.method === "GET" ? /^\/query\/([\w-]+)$/.exec(rest) : null;
      if (cursor?.[1]) {
        const remaining = org.cursors.get(cursor[1]);
        if (!remaining) return reply(404, [{ errorCode: "INVALID_QUERY_LOCATOR", message: "invalid query locator" }]);
        org.cursors.delete(cursor[1]);
        return reply(200, page(org, version, remaining));
      }
      const describe = req.method === "GET" ? /^\/sobjects\/(\w+)\/describe$/.exec(rest) : null;
      if (describe?.[1]) {
        const object = describe[1];
        if (!org.config.objects.includes(object)) {
          return reply(404, [{ errorCode: "NOT_FOUND", message: "The requested resource does not exist" }]);
        }
        return reply(200, { name: object, createable: true, updateable: true, deletable: true, fields: describedFields(org.config) });
      }
      reply(404, [{ errorCode: "NOT_FOUND", message: "The requested resource does not exist" }]);
    } catch (err) {
      json(res, 400, [{ errorCode: "JSON_PARSER_ERROR", message: String(err) }]);
    }
  });

  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      resolve({ server, port: typeof address === "object" && address ? address.port : port });
    });
  });
}

type Reply = (status: number, body: unknown, headers?: Record<string, string>) => void;

function token(org: Org, raw: string, res: ServerResponse) {
  const form = new URLSearchParams(raw);
  const c = org.config;
  if (
    form.get("grant_type") !== "refresh_token" ||
    form.get("refresh_token") !== c.refresh_token ||
    form.get("client_id") !== c.client_id ||
    form.get("client_secret") !== c.client_secret
  ) {
    return json(res, 400, { error: "invalid_grant", error_description: "expired access/refresh token" });
  }
  org.tokensIssued += 1;
  c.access_token = `sf-refreshed-${org.tokensIssued}-${randomUUID()}`;
  json(res, 200, {
    access_token: c.access_token,
    instance_url: "https://example.my.salesforce.com",
    id: "https://login.salesforce.com/id/00Dxx0000000001/005xx0000000001",
    token_type: "Bearer",
    issued_at: String(Date.now()),
    signature: "fake",
  });
}

function upsert(org: Org, object: string, ext: string, records: Record<string, unknown>[], reply: Reply) {
  if (!org.config.objects.includes(object)) {
    return reply(404, [{ errorCode: "NOT_FOUND", message: "The requested resource does not exist" }]);
  }
  if (!org.config.external_id_fields.includes(ext)) {
    return reply(400, [{ errorCode: "INVALID_FIELD", message: `Provided external ID field does not exist or is not accessible: ${ext}` }]);
  }
  if (records.length > MAX_RECORDS) {
    return reply(400, [
      { message: `Exceeded max size limit of ${MAX_RECORDS} with request size: ${records.length}`, errorCode: "EXCEEDED_ID_LIMIT" },
    ]);
  }
  const table = tableOf(org, object);
  const results = records.map((input) => {
    const { attributes: _attributes, ...fields } = input;
    const key = fields[ext];
    if (typeof key !== "string" || key === "") {
      return failure("MISSING_ARGUMENT", `${ext} not specified`, [ext]);
    }
    const invalid = Object.entries(fields).find(([, v]) => v === "INVALID");
    if (invalid) {
      return failure("FIELD_CUSTOM_VALIDATION_EXCEPTION", `${invalid[0]}: value "INVALID" is not allowed`, [invalid[0]]);
    }
    const existing = [...table.values()].find((r) => String(r[ext]).toLowerCase() === key.toLowerCase());
    if (!existing) {
      const missing = org.config.required_fields.filter((f) => fields[f] === undefined || fields[f] === null || fields[f] === "");
      if (missing.length > 0) return failure("REQUIRED_FIELD_MISSING", `Required fields are missing: [${missing.join(", ")}]`, missing);
      const id = `003${String(org.nextId++).padStart(15, "0")}`;
      table.set(id, { Id: id, ...fields });
      return { id, success: true, errors: [], created: true };
    }
    Object.assign(existing, fields);
    return { id: existing.Id, success: true, errors: [], created: false };
  });
  reply(200, results);
}

/** sObject Collections update: each record names its type and Id; only existing records change. */
function update(org: Org, records: Record<string, unknown>[], reply: Reply) {
  if (records.length > MAX_RECORDS) {
    return reply(400, [
      { message: `Exceeded max size limit of ${MAX_RECORDS} with request size: ${records.length}`, errorCode: "EXCEEDED_ID_LIMIT" },
    ]);
  }
  const results = records.map((input) => {
    const { attributes, Id: id, ...fields } = input;
    const type = (attributes as { type?: unknown } | undefined)?.type;
    if (typeof type !== "string" || !org.config.objects.includes(type)) {
      return failure("INVALID_TYPE", "attributes.type is missing or not a supported sObject type", []);
    }
    const existing = typeof id === "string" ? tableOf(org, type).get(id) : undefined;
    if (!existing) return failure("INVALID_CROSS_REFERENCE_KEY", `invalid cross reference id: ${String(id)}`, ["Id"]);
    const invalid = Object.entries(fields).find(([, v]) => v === "INVALID");
    if (invalid) return failure("FIELD_CUSTOM_VALIDATION_EXCEPTION", `${invalid[0]}: value "INVALID" is not allowed`, [invalid[0]]);
    Object.assign(existing, fields);
    return { id, success: true, errors: [] };
  });
  reply(200, results);
}

function remove(org: Org, id: string) {
  for (const table of org.records.values()) {
    const record = table.get(id);
    if (!record) continue;
    if (org.config.undeletable.some((k) => Object.values(record).includes(k))) {
      return failure(
        "DELETE_FAILED",
        "Your attempt to delete this record could not be completed because it is associated with other records",
        [],
      );
    }
    table.delete(id);
    return { id, success: true, errors: [] };
  }
  return { id, ...failure("ENTITY_IS_DELETED", "entity is deleted", []) };
}

function query(org: Org, version: string, soql: string, reply: Reply) {
  const m = /^SELECT\s+Id\s*,\s*(\w+)\s+FROM\s+(\w+)\s+WHERE\s+(\w+)\s+IN\s*\((.*)\)\s*$/is.exec(soql);
  if (!m?.[1] || !m[2] || !m[3] || m[4] === undefined || m[1] !== m[3]) {
    return reply(400, [{ errorCode: "MALFORMED_QUERY", message: `unexpected query: ${soql}` }]);
  }
  const [field, object, values] = [m[1], m[2], parseLiterals(m[4])];
  if (!values) return reply(400, [{ errorCode: "MALFORMED_QUERY", message: `bad IN list: ${m[4]}` }]);
  if (!org.config.objects.includes(object)) {
    return reply(400, [{ errorCode: "INVALID_TYPE", message: `sObject type '${object}' is not supported.` }]);
  }
  const wanted = new Set(values.map((v) => v.toLowerCase()));
  const found = [...tableOf(org, object).values()]
    .filter((r) => typeof r[field] === "string" && wanted.has(String(r[field]).toLowerCase()))
    .map((r) => ({
      attributes: { type: object, url: `/services/data/${version}/sobjects/${object}/${String(r.Id)}` },
      Id: r.Id,
      [field]: r[field],
    }));
  reply(200, page(org, version, found));
}

function page(org: Org, version: string, rows: Record<string, unknown>[]) {
  const size = org.config.query_page_size;
  const head = rows.slice(0, size);
  const rest = rows.slice(size);
  const body: Record<string, unknown> = { totalSize: rows.length, done: rest.length === 0, records: head };
  if (rest.length > 0) {
    const locator = `01g${randomUUID().replaceAll("-", "").slice(0, 12)}-${size}`;
    org.cursors.set(locator, rest);
    body.nextRecordsUrl = `/services/data/${version}/query/${locator}`;
  }
  return body;
}

/** The values of a SOQL `IN (…)` list of string literals, unescaped; `undefined` if malformed. */
function parseLiterals(list: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  const escapes: Record<string, string> = { n: "\n", r: "\r", t: "\t", b: "\b", f: "\f" };
  while (i < list.length) {
    while (list[i] === " " || list[i] === ",") i++;
    if (i >= list.length) break;
    if (list[i] !== "'") return undefined;
    i++;
    let value = "";
    while (i < list.length && list[i] !== "'") {
      if (list[i] === "\\") {
        i++;
        const c = list[i] ?? "";
        value += escapes[c] ?? c;
      } else {
        value += list[i];
      }
      i++;
    }
    if (list[i] !== "'") return undefined;
    i++;
    out.push(value);
  }
  return out;
}

function failure(statusCode: string, message: string, fields: string[]) {
  return { success: false, errors: [{ statusCode, message, fields }] };
}

function tableOf(org: Org, object: string) {
  let table = org.records.get(object);
  if (!table) {
    table = new Map();
    org.records.set(object, table);
  }
  return table;
}

/** Salesforce's JSON answers (its content-type spelling). */
function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  sendJson(res, status, body, { "content-type": "application/json;charset=UTF-8", ...headers });
}
