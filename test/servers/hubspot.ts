import { randomUUID } from "node:crypto";
import { createServer, type Server, type ServerResponse } from "node:http";
import { json as sendJson, readBody, tenants } from "./http";

/**
 * A fake HubSpot portal for connector tests, implementing the documented shapes of the CRM v3
 * batch endpoints (≤100 inputs each):
 * - `POST /crm/v3/objects/{type}/batch/upsert` `{inputs:[{idProperty, id, properties, objectWriteTraceId}]}`
 *   → 200 `{status:"COMPLETE", results}`, or 207 with `errors:[{status, category, message,
 *   context:{objectWriteTraceId:[…]}}]` for the inputs that failed (multi-status); with
 *   `multi_status: false` any bad input fails the whole batch with 400 and nothing is written;
 * - `POST /crm/v3/objects/{type}/batch/update` (same inputs) → 200, or 207 when some inputs failed
 *   ("Update a batch of records by internal ID, or unique property values",
 *   https://developers.hubspot.com/docs/api-reference/latest/crm/objects/objects/batch/update-objects;
 *   200/207 only: https://developers.hubspot.com/changelog/simplifying-batch-update-response-codes-for-crm-v3-apis):
 *   an unknown id is an `OBJECT_NOT_FOUND` error naming it in `context.ids`; nothing is created;
 * - `POST /crm/v3/objects/{type}/batch/read` `{idProperty, inputs:[{id}], properties}` → 200, or 207
 *   with an `OBJECT_NOT_FOUND` error whose `context.ids` lists the unknown ids;
 * - `POST /crm/v3/objects/{type}/batch/archive` `{inputs:[{id}]}` → 204;
 * - `GET /crm/v3/properties/{type}/{name}` and `GET /crm/v3/properties/{type}` ("Read a property",
 *   "Read all properties": https://developers.hubspot.com/docs/api-reference/legacy/crm/properties/get-properties):
 *   `{results:[{name, label, type, fieldType, hasUniqueValue, calculated, archived,
 *   modificationMetadata:{readOnlyValue, …}}]}` with the types the properties guide lists
 *   (https://developers.hubspot.com/docs/api-reference/latest/crm/properties/guide): every type
 *   has {@link KNOWN_PROPERTIES}, its unique properties and `extra_properties`.
 *
 * Every path is under `/t/{portal}/…` (each test's namespace has its own records, config and
 * faults). Control: `GET /t/{portal}/_state`, `POST /t/{portal}/_config` (a partial
 * {@link PortalConfig}; unspecified fields go back to their defaults, records are kept).
 *
 * Batch upsert, as its reference says (https://developers.hubspot.com/docs/api-reference/latest/crm/objects/contacts/batch/upsert-contacts,
 * "Create or update a batch of objects by unique property values"): each input's `id` is the
 * value of its `idProperty` property, so a contact upserted by `email` must have an email as `id`
 * (else `INVALID_EMAIL`, "Email address … is invalid"), and the record gets that value as the property.
 *
 * Per-input failures: a property whose value is `"INVALID"` (`INVALID_OPTION`), and a new
 * record lacking a `required_properties` property (`REQUIRED`), both `VALIDATION_ERROR`.
 *
 * Rate limit, as HubSpot's API usage guidelines describe it (https://developers.hubspot.com/docs/api/usage-details;
 * headers: https://developers.hubspot.com/changelog/2018-11-06-rate-limit-information-headers-will-be-included-in-http-responses):
 * `max` requests per `interval_ms` (the rolling 10 s window by default; 1000 for a per-second
 * limit), counted per portal whatever the app; beyond it every request is answered 429
 * `RATE_LIMIT` with the policy name, and a refused request does not count. Every response carries
 * `X-HubSpot-RateLimit-Max`, `-Remaining` and `-Interval-Milliseconds`, unless `headers: false`
 * (HubSpot leaves them out when it cannot gather them); `Retry-After` only when `retry_after` is set.
 */
interface PortalConfig {
  /** The only private-app token accepted. */
  access_token: string;
  /** Properties with unique values per object type (`*` applies to every type); contacts also upsert by email. */
  unique_properties: Record<string, string[]>;
  required_properties: string[];
  /** More properties "Read all properties" lists (type `string` unless said). */
  extra_properties: { name: string; type?: string; fieldType?: string; readOnlyValue?: boolean }[];
  multi_status: boolean;
  rate_limit: { max: number; interval_ms?: number; retry_after?: boolean; headers?: boolean } | null;
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

interface HsRecord {
  id: string;
  properties: Record<string, string>;
  createdAt: string;
  updatedAt: string;
  archived: boolean;
}

interface RequestLog {
  method: string;
  path: string;
  size?: number;
  status: number;
  at: number;
}

interface Portal {
  config: PortalConfig;
  objects: Map<string, Map<string, HsRecord>>;
  requests: RequestLog[];
  hits: number[];
  nextId: number;
}

const defaults = (): PortalConfig => ({
  access_token: "hubspot-test-token",
  unique_properties: { "*": ["external_id"] },
  required_properties: [],
  extra_properties: [],
  multi_status: true,
  rate_limit: null,
  faults: [],
});

const MAX_INPUTS = 100;
/** Properties every object type has: `[type, fieldType]`, and whether HubSpot sets the value itself. */
const KNOWN_PROPERTIES: Record<string, [string, string, boolean?]> = {
  email: ["string", "text"],
  firstname: ["string", "text"],
  lastname: ["string", "text"],
  company: ["string", "text"],
  phone: ["string", "phonenumber"],
  name: ["string", "text"],
  domain: ["string", "text"],
  amount: ["number", "number"],
  external_id: ["string", "text"],
  closedate: ["date", "date"],
  subscribed: ["bool", "booleancheckbox"],
  lifecyclestage: ["enumeration", "radio"],
  createdate: ["datetime", "date", true],
  hs_object_id: ["number", "number", true],
};

/** A property definition as "Read a property" answers it. */
function property(name: string, type: string, fieldType: string, unique: boolean, readOnlyValue = false) {
  return {
    name,
    label: name,
    type,
    fieldType,
    hasUniqueValue: unique,
    calculated: false,
    archived: false,
    hubspotDefined: name in KNOWN_PROPERTIES,
    modificationMetadata: { archivable: !(name in KNOWN_PROPERTIES), readOnlyDefinition: false, readOnlyValue },
  };
}

/** Every property of `type` on the portal (email is matched on but not flagged unique, as HubSpot does). */
function properties(portal: Portal, type: string) {
  const unique = uniqueProperties(portal, type);
  const out = new Map(
    Object.entries(KNOWN_PROPERTIES).map(([name, [t, f, readOnly]]) => [
      name,
      property(name, t, f, unique.includes(name) && name !== "email", readOnly),
    ]),
  );
  for (const name of unique) if (!out.has(name)) out.set(name, property(name, "string", "text", name !== "email"));
  for (const p of portal.config.extra_properties) {
    out.set(p.name, property(p.name, p.type ?? "string", p.fieldType ?? "text", unique.includes(p.name), p.readOnlyValue));
  }
  return [...out.values()];
}

/** Starts the fake HubSpot server on 127.0.0.1. */
export function startFakeHubspot(port = 0): Promise<{ server: Server; port: number }> {
  const portals = tenants<Portal>(() => ({ config: defaults(), objects: new Map(), requests: [], hits: [], nextId: 1001 }));

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const found = portals.route(url);
    if (!found) return json(res, 404, error("OBJECT_NOT_FOUND", "unknown path"));
    const { tenant: portal, path } = found;
    try {
      const raw = await readBody(req);
      if (path === "/_state" && req.method === "GET") {
        return json(res, 200, {
          objects: Object.fromEntries([...portal.objects].map(([type, rows]) => [type, [...rows.values()]])),
          requests: portal.requests,
        });
      }
      if (path === "/_config" && req.method === "POST") {
        portal.config = { ...defaults(), ...(JSON.parse(raw || "{}") as Partial<PortalConfig>) };
        portal.config.faults = portal.config.faults.map((f) => ({ ...f }));
        return json(res, 200, { ok: true });
      }

      const log: RequestLog = { method: req.method ?? "GET", path, status: 200, at: Date.now() };
      portal.requests.push(log);
      const rateHeaders: Record<string, string> = {};
      const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        log.status = status;
        json(res, status, body, { ...rateHeaders, ...headers });
      };

      const fault = portal.config.faults[0];
      if (fault) {
        fault.times = (fault.times ?? 1) - 1;
        if (fault.times <= 0) portal.config.faults.shift();
        if (fault.delay_ms) await new Promise((r) => setTimeout(r, fault.delay_ms));
        if (fault.status) {
          return reply(fault.status, fault.body ?? error("INTERNAL_ERROR", `simulated ${fault.status}`), {
            ...(fault.retry_after === undefined ? {} : { "retry-after": fault.retry_after }),
            ...fault.headers,
          });
        }
      }
      if (req.headers.authorization !== `Bearer ${portal.config.access_token}`) {
        return reply(
          401,
          error(
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
          ),
        );
      }
      const limit = portal.config.rate_limit;
      if (limit) {
        const now = Date.now();
        const interval = limit.interval_ms ?? 10_000;
        const advertise = limit.headers !== false;
        portal.hits = portal.hits.filter((t) => t > now - interval);
        if (advertise) {
          rateHeaders["x-hubspot-ratelimit-interval-milliseconds"] = String(interval);
          rateHeaders["x-hubspot-ratelimit-max"] = String(limit.max);
        }
        if (portal.hits.length >= limit.max) {
          if (advertise) rateHeaders["x-hubspot-ratelimit-remaining"] = "0";
          const wait = Math.max(1, Math.ceil(((portal.hits[0] ?? now) + interval - now) / 1000));
          return reply(
            429,
            {
              status: "error",
              message: interval === 1000 ? "You have reached your secondly limit." : "You have reached your ten_secondly_rolling limit.",
              errorType: "RATE_LIMIT",
              correlationId: randomUUID(),
              policyName: interval === 1000 ? "SECONDLY" : "TEN_SECONDLY_ROLLING",
            },
            limit.retry_after ? { "retry-after": String(wait) } : {},
          );
        }
        portal.hits.push(now);
        if (advertise) rateHeaders["x-hubspot-ratelimit-remaining"] = String(limit.max - portal.hits.length);
      }

      const batch = req.method === "POST" ? /^\/crm\/v3\/objects\/([\w-]+)\/batch\/(upsert|update|read|archive)$/.exec(path) : null;
      if (batch?.[1]) {
        const type = batch[1];
        const body = JSON.parse(raw) as { inputs?: Record<string, unknown>[]; idProperty?: string; properties?: string[] };
        const inputs = body.inputs ?? [];
        log.size = inputs.length;
        if (inputs.length > MAX_INPUTS) {
          return reply(
            400,
            error("VALIDATION_ERROR", `Batch input limit exceeded: ${inputs.length} inputs were sent, the limit is ${MAX_INPUTS}`),
          );
        }
        const table = tableOf(portal, type);
        if (batch[2] === "upsert" || batch[2] === "update") return upsert(portal, type, table, inputs, reply, batch[2] === "update");
        if (batch[2] === "read") return read(portal, type, table, body.idProperty, inputs, body.properties ?? [], reply);
        for (const input of inputs) table.delete(String(input.id));
        log.status = 204;
        res.writeHead(204, rateHeaders);
        return res.end();
      }
      const one = req.method === "GET" ? /^\/crm\/v3\/properties\/([\w-]+)\/(\w+)$/.exec(path) : null;
      if (one?.[1] && one[2]) {
        const [type, name] = [one[1], one[2]];
        const found = properties(portal, type).find((p) => p.name === name);
        if (!found) return reply(404, error("OBJECT_NOT_FOUND", `Unable to find property ${name}`));
        return reply(200, found);
      }
      const all = req.method === "GET" ? /^\/crm\/v3\/properties\/([\w-]+)$/.exec(path) : null;
      if (all?.[1]) return reply(200, { results: properties(portal, all[1]) });
      reply(404, error("OBJECT_NOT_FOUND", `no route for ${req.method} ${path}`));
    } catch (err) {
      json(res, 400, error("VALIDATION_ERROR", `Invalid input JSON: ${String(err)}`));
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

function uniqueProperties(portal: Portal, type: string): string[] {
  const own = portal.config.unique_properties[type] ?? [];
  const all = portal.config.unique_properties["*"] ?? [];
  return [...own, ...all, ...(type === "contacts" ? ["email"] : [])];
}

function findBy(table: Map<string, HsRecord>, property: string, value: string): HsRecord | undefined {
  const folded = value.toLowerCase();
  for (const r of table.values()) if ((r.properties[property] ?? "").toLowerCase() === folded) return r;
  return undefined;
}

/** Batch upsert, or with `updateOnly` batch update: an id with no record is then OBJECT_NOT_FOUND. */
function upsert(
  portal: Portal,
  type: string,
  table: Map<string, HsRecord>,
  inputs: Record<string, unknown>[],
  reply: Reply,
  updateOnly = false,
) {
  const idProperty = inputs[0]?.idProperty;
  if (typeof idProperty !== "string" || !uniqueProperties(portal, type).includes(idProperty)) {
    return reply(400, error("VALIDATION_ERROR", `Unable to perform update/upsert by non-unique ${type} property ${String(idProperty)}`));
  }
  const errors: Record<string, unknown>[] = [];
  const writes: (() => Record<string, unknown>)[] = [];
  for (const input of inputs) {
    const id = String(input.id ?? "");
    const trace = typeof input.objectWriteTraceId === "string" ? input.objectWriteTraceId : undefined;
    const context: Record<string, string[]> = trace === undefined ? { ids: [id] } : { objectWriteTraceId: [trace] };
    const props = (input.properties ?? {}) as Record<string, unknown>;
    const invalid = Object.entries(props).find(([, v]) => v === "INVALID");
    if (invalid) {
      errors.push(invalidProperty(invalid[0], `INVALID was not one of the allowed options for ${invalid[0]}`, "INVALID_OPTION", context));
      continue;
    }
    if (idProperty === "email" && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(id)) {
      errors.push({
        status: "error",
        category: "VALIDATION_ERROR",
        message: `Property values were not valid: ${JSON.stringify([{ isValid: false, message: `Email address ${id} is invalid`, error: "INVALID_EMAIL", name: "email" }])}`,
        context,
      });
      continue;
    }
    const existing = findBy(table, idProperty, id);
    if (updateOnly && !existing) {
      errors.push({
        status: "error",
        category: "OBJECT_NOT_FOUND",
        message: `Could not find ${type} with ${idProperty} ${id}`,
        context: { ids: [id] },
      });
      continue;
    }
    const missing = existing ? undefined : portal.config.required_properties.find((p) => !props[p]);
    if (missing) {
      errors.push(invalidProperty(missing, `Property "${missing}" is required`, "REQUIRED", context));
      continue;
    }
    writes.push(() => {
      const now = new Date().toISOString();
      const properties = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, v === null ? "" : String(v)]));
      let record = existing;
      if (record) {
        Object.assign(record.properties, properties);
        record.updatedAt = now;
      } else {
        const newId = String(portal.nextId++);
        record = {
          id: newId,
          properties: { ...properties, [idProperty]: id, hs_object_id: newId },
          createdAt: now,
          updatedAt: now,
          archived: false,
        };
        table.set(newId, record);
      }
      return { ...record, new: !existing, ...(trace === undefined ? {} : { objectWriteTraceId: trace }) };
    });
  }
  if (errors.length > 0 && !portal.config.multi_status) {
    // Without multi-status, one bad input fails the whole batch and nothing is written.
    return reply(400, { ...error("VALIDATION_ERROR", String(errors[0]?.message)), errors });
  }
  const results = writes.map((w) => w());
  const times = { startedAt: new Date().toISOString(), completedAt: new Date().toISOString() };
  if (errors.length === 0) return reply(200, { status: "COMPLETE", results, ...times });
  reply(207, { status: "COMPLETE", results, numErrors: errors.length, errors, ...times });
}

function read(
  portal: Portal,
  type: string,
  table: Map<string, HsRecord>,
  idProperty: string | undefined,
  inputs: Record<string, unknown>[],
  properties: string[],
  reply: Reply,
) {
  if (idProperty !== undefined && !uniqueProperties(portal, type).includes(idProperty)) {
    return reply(400, error("VALIDATION_ERROR", `${idProperty} is not a unique property of ${type}`));
  }
  const results: Record<string, unknown>[] = [];
  const missing: string[] = [];
  for (const input of inputs) {
    const id = String(input.id ?? "");
    const record = idProperty === undefined ? table.get(id) : findBy(table, idProperty, id);
    if (!record) {
      missing.push(id);
      continue;
    }
    const props = Object.fromEntries([...properties, "hs_object_id"].map((p) => [p, record.properties[p] ?? null]));
    results.push({ id: record.id, properties: props, createdAt: record.createdAt, updatedAt: record.updatedAt, archived: false });
  }
  const times = { startedAt: new Date().toISOString(), completedAt: new Date().toISOString() };
  if (missing.length === 0) return reply(200, { status: "COMPLETE", results, ...times });
  reply(207, {
    status: "COMPLETE",
    results,
    numErrors: 1,
    errors: [
      {
        status: "error",
        category: "OBJECT_NOT_FOUND",
        message: `Could not get some ${type.toUpperCase()} objects, they may be deleted or not exist. Check that ids are valid.`,
        context: { ids: missing },
      },
    ],
    ...times,
  });
}

function invalidProperty(name: string, message: string, code: string, context: Record<string, string[]>) {
  return {
    status: "error",
    category: "VALIDATION_ERROR",
    message: `Property values were not valid: ${JSON.stringify([{ isValid: false, message, error: code, name }])}`,
    context,
  };
}

function error(category: string, message: string) {
  return { status: "error", message, correlationId: randomUUID(), category };
}

function tableOf(portal: Portal, type: string) {
  let table = portal.objects.get(type);
  if (!table) {
    table = new Map();
    portal.objects.set(type, table);
  }
  return table;
}

/** HubSpot's JSON answers (its content-type spelling). */
function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  sendJson(res, status, body, { "content-type": "application/json;charset=utf-8", ...headers });
}
