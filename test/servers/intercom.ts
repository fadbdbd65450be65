import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import { json, readBody, tenants } from "./http";

/**
 * A fake Intercom workspace for connector tests, following the documented REST API (2.11):
 * - Search contacts, `POST /contacts/search` `{query:{field, operator:"=", value}}` on `external_id`
 *   or `email` (https://developers.intercom.com/docs/references/rest-api/api.intercom.io/contacts/searchcontacts).
 *   As documented ("Contact Creation Delay"), a contact created moments ago may not be found yet:
 *   with `search_lag` new contacts stay unsearchable. Archived contacts are not found.
 * - Create a contact, `POST /contacts` (https://developers.intercom.com/docs/references/rest-api/api.intercom.io/contacts/createcontact):
 *   a user with an external_id (or email) another contact already has is a 409 `conflict`, "A
 *   contact matching those details already exists with id=…"; an invalid email is a 400
 *   `parameter_invalid`; a custom attribute that is not a data attribute of the workspace is a 400
 *   `parameter_not_found`.
 * - Update a contact, `PUT /contacts/{id}` (404 `not_found` when unknown); archive one,
 *   `POST /contacts/{id}/archive`; `GET /me`; list data attributes, `GET /data_attributes?model=contact`
 *   (https://developers.intercom.com/docs/references/rest-api/api.intercom.io/data-attributes/lsitdataattributes),
 *   standard attributes (some not `api_writable`) and the workspace's custom ones (`custom_attributes` config).
 *
 * Auth and limits: `Authorization: Bearer <token>` (else 401 `unauthorized`); the `Intercom-Version`
 * of each request is logged. Rate limiting (https://developers.intercom.com/docs/references/rest-api/errors/rate-limiting):
 * `limit` calls per 10 s window, every answer carries `X-RateLimit-Limit`, `-Remaining` and `-Reset`
 * (a Unix time); beyond it, 429 `rate_limit_exceeded`. Errors are `{type:"error.list", request_id, errors:[{code, message}]}`.
 *
 * Every path is under `/t/{workspace}/…`. Control: `GET /t/{workspace}/_state`, `POST /t/{workspace}/_config`
 * (a partial {@link WorkspaceConfig}; the rest back to defaults, contacts kept).
 */
interface WorkspaceConfig {
  access_token: string;
  custom_attributes: Record<string, "string" | "integer" | "float" | "boolean" | "date">;
  search_lag: boolean;
  rate_limit: { limit: number } | null;
  faults: Fault[];
}

interface Fault {
  status?: number;
  body?: unknown;
  retry_after?: string;
  /** Only requests whose method and path start with this (e.g. "PUT /contacts"). */
  route?: string;
  times?: number;
}

interface Contact {
  id: string;
  type: "contact";
  role: string;
  external_id: string | null;
  email: string | null;
  archived: boolean;
  searchable: boolean;
  custom_attributes: Record<string, unknown>;
  [attribute: string]: unknown;
}

interface Workspace {
  config: WorkspaceConfig;
  contacts: Map<string, Contact>;
  requests: { method: string; path: string; status: number; version?: string }[];
  window: { start: number; count: number };
}

const defaults = (): WorkspaceConfig => ({
  access_token: "intercom-test-token",
  custom_attributes: { plan: "string", score: "integer" },
  search_lag: false,
  rate_limit: null,
  faults: [],
});

const STANDARD = [
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
];
const STANDARD_ATTRIBUTES = [
  { name: "id", label: "ID", data_type: "string", api_writable: false },
  { name: "external_id", label: "User ID", data_type: "string", api_writable: true },
  { name: "email", label: "Email", data_type: "string", api_writable: true },
  { name: "phone", label: "Phone", data_type: "string", api_writable: true },
  { name: "name", label: "Name", data_type: "string", api_writable: true },
  { name: "signed_up_at", label: "Signed up", data_type: "date", api_writable: true },
  { name: "last_seen_at", label: "Last seen", data_type: "date", api_writable: true },
  { name: "unsubscribed_from_emails", label: "Unsubscribed from Emails", data_type: "boolean", api_writable: true },
  { name: "created_at", label: "Created", data_type: "date", api_writable: false },
  { name: "location.city", label: "City", data_type: "string", api_writable: false },
];
const WINDOW_MS = 10_000;

/** Starts the fake Intercom server on 127.0.0.1. */
export function startFakeIntercom(port = 0): Promise<{ server: Server; port: number }> {
  const workspaces = tenants<Workspace>(() => ({ config: defaults(), contacts: new Map(), requests: [], window: { start: 0, count: 0 } }));

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const found = workspaces.route(url);
    if (!found) return json(res, 404, errorList("not_found", "Resource Not Found"));
    const { tenant: ws, path } = found;
    const method = req.method ?? "GET";
    const raw = await readBody(req);
    if (path === "/_state" && method === "GET") {
      return json(res, 200, { contacts: [...ws.contacts.values()], requests: ws.requests });
    }
    if (path === "/_config" && method === "POST") {
      ws.config = { ...defaults(), ...(JSON.parse(raw || "{}") as Partial<WorkspaceConfig>) };
      ws.config.faults = ws.config.faults.map((f) => ({ ...f }));
      return json(res, 200, { ok: true });
    }

    const version = typeof req.headers["intercom-version"] === "string" ? req.headers["intercom-version"] : undefined;
    const log: Workspace["requests"][number] = { method, path, status: 200, ...(version ? { version } : {}) };
    ws.requests.push(log);
    const headers: Record<string, string> = {};
    const reply = (status: number, body: unknown, extra: Record<string, string> = {}) => {
      log.status = status;
      json(res, status, body, { ...headers, ...extra });
    };

    const fault = ws.config.faults.find((f) => f.route === undefined || `${method} ${path}`.startsWith(f.route));
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) ws.config.faults.splice(ws.config.faults.indexOf(fault), 1);
      return reply(fault.status ?? 500, fault.body ?? errorList("server_error", "Server Error"), {
        ...(fault.retry_after === undefined ? {} : { "retry-after": fault.retry_after }),
      });
    }
    if (req.headers.authorization !== `Bearer ${ws.config.access_token}`) {
      return reply(401, errorList("unauthorized", "Access Token Invalid"));
    }
    const limit = ws.config.rate_limit;
    if (limit) {
      const now = Date.now();
      if (now - ws.window.start >= WINDOW_MS) ws.window = { start: now, count: 0 };
      const reset = String(Math.ceil((ws.window.start + WINDOW_MS) / 1000));
      headers["x-ratelimit-limit"] = String(limit.limit);
      headers["x-ratelimit-reset"] = reset;
      if (ws.window.count >= limit.limit) {
        headers["x-ratelimit-remaining"] = "0";
        return reply(429, errorList("rate_limit_exceeded", `Exceeded rate limit of ${limit.limit} in 10_seconds`));
      }
      ws.window.count++;
      headers["x-ratelimit-remaining"] = String(limit.limit - ws.window.count);
    }

    try {
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      if (path === "/me" && method === "GET") {
        return reply(200, { type: "admin", id: "991267", name: "Test App", app: { type: "app", id_code: "abc123", region: "US" } });
      }
      if (path === "/data_attributes" && method === "GET") {
        if (url.searchParams.get("model") !== "contact") return reply(400, errorList("parameter_invalid", "model must be contact"));
        const custom = Object.entries(ws.config.custom_attributes).map(([name, data_type]) => ({
          name,
          full_name: `custom_attributes.${name}`,
          label: name,
          data_type,
          api_writable: true,
          custom: true,
        }));
        const data = [...STANDARD_ATTRIBUTES.map((a) => ({ ...a, full_name: a.name, custom: false })), ...custom];
        return reply(200, { type: "list", data: data.map((a) => ({ type: "data_attribute", model: "contact", archived: false, ...a })) });
      }
      if (path === "/contacts/search" && method === "POST") {
        const query = (body.query ?? {}) as { field?: string; operator?: string; value?: unknown };
        if ((query.field !== "external_id" && query.field !== "email") || query.operator !== "=") {
          return reply(400, errorList("parameter_invalid", `unsupported query ${JSON.stringify(query)}`));
        }
        const field = query.field;
        const data = [...ws.contacts.values()].filter((c) => c.searchable && !c.archived && c[field] === query.value);
        return reply(200, {
          type: "list",
          data,
          total_count: data.length,
          pages: { type: "pages", page: 1, per_page: 50, total_pages: 1 },
        });
      }
      if (path === "/contacts" && method === "POST") {
        const conflict = [...ws.contacts.values()].find(
          (c) =>
            !c.archived &&
            ((body.external_id !== undefined && c.external_id === body.external_id) ||
              (body.email !== undefined && c.email === body.email)),
        );
        if (conflict) return reply(409, errorList("conflict", `A contact matching those details already exists with id=${conflict.id}`));
        const problem = contactProblem(ws, body);
        if (problem) return reply(400, problem);
        const contact: Contact = {
          type: "contact",
          id: randomUUID().replaceAll("-", "").slice(0, 24),
          role: String(body.role ?? "user"),
          external_id: null,
          email: null,
          archived: false,
          searchable: !ws.config.search_lag,
          custom_attributes: {},
        };
        apply(contact, body);
        ws.contacts.set(contact.id, contact);
        return reply(200, contact);
      }
      const one = /^\/contacts\/(\w+)(\/archive)?$/.exec(path);
      if (one?.[1]) {
        const contact = ws.contacts.get(one[1]);
        if (!contact) return reply(404, errorList("not_found", "User Not Found"));
        if (one[2] && method === "POST") {
          contact.archived = true;
          return reply(200, { id: contact.id, external_id: contact.external_id, object: "contact", archived: true });
        }
        if (!one[2] && method === "PUT") {
          const problem = contactProblem(ws, body);
          if (problem) return reply(400, problem);
          apply(contact, body);
          return reply(200, contact);
        }
      }
      reply(404, errorList("not_found", `no route for ${method} ${path}`));
    } catch (err) {
      reply(400, errorList("parameter_invalid", `Malformed JSON: ${String(err)}`));
    }
  });

  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      resolve({ server, port: typeof address === "object" && address ? address.port : port });
    });
  });
}

function contactProblem(ws: Workspace, body: Record<string, unknown>) {
  if (typeof body.email === "string" && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(body.email)) {
    return errorList("parameter_invalid", "Invalid email address");
  }
  for (const name of Object.keys(body)) {
    if (!STANDARD.includes(name) && name !== "custom_attributes") return errorList("parameter_invalid", `Unknown parameter: ${name}`);
  }
  for (const name of Object.keys((body.custom_attributes ?? {}) as object)) {
    if (!(name in ws.config.custom_attributes)) return errorList("parameter_not_found", `Custom attribute '${name}' does not exist`);
  }
  for (const ts of ["signed_up_at", "last_seen_at"]) {
    if (body[ts] !== undefined && body[ts] !== null && !Number.isInteger(body[ts])) {
      return errorList("parameter_invalid", `${ts} must be a Unix timestamp`);
    }
  }
  return undefined;
}

function apply(contact: Contact, body: Record<string, unknown>) {
  const { custom_attributes, ...rest } = body;
  Object.assign(contact, rest);
  Object.assign(contact.custom_attributes, custom_attributes ?? {});
}

function errorList(code: string, message: string) {
  return { type: "error.list", request_id: randomUUID(), errors: [{ code, message }] };
}
