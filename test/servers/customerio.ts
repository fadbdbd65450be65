import { createServer, type Server } from "node:http";
import { json, readBody, tenants } from "./http";

/**
 * A fake Customer.io workspace for connector tests, following the Track API's documented contract
 * (https://docs.customer.io/api/track/):
 * - Auth: HTTP Basic with the Site ID as user name and the Track API key as password; otherwise
 *   401 `{"meta":{"error":"Unauthorized request"}}`.
 * - `GET /api/v1/accounts/region` → 200 `{url, data_center, environment_id}` for valid credentials,
 *   400 otherwise ("Your credentials are not valid").
 * - `POST /api/v2/batch` `{"batch":[entry…]}` (https://docs.customer.io/integrations/api/track/tag/track_v2/):
 *   requests must be smaller than 500 kB ("v2 API Limits"; larger ones are answered 413). Entries
 *   `{type:"person", action:"identify", identifiers:{id}, attributes}` add the person or update
 *   the one with that id (a null attribute removes it); `{type:"person", action:"delete",
 *   identifiers:{id}}` deletes one. Entries that break the documented customer limits (ID up to
 *   150 bytes, attribute names up to 150 bytes, values up to 1000 bytes, 300 attributes) or lack
 *   identifiers are not applied and reported as `{"errors":[{batch_index, reason, field, message}]}`
 *   with status 207; the others are applied (200 `{}` when none failed).
 * - Rate limit: the Track API's fair-use limit is 100 requests/s; with `rate_limit` set, requests
 *   beyond `max` per second are answered 429, with `Retry-After` when `retry_after` is set.
 *
 * Every path is under `/t/{workspace}/…`. Control: `GET /t/{w}/_state`, `POST /t/{w}/_config`
 * (a partial {@link WorkspaceConfig}; people are kept).
 */
interface WorkspaceConfig {
  site_id: string;
  api_key: string;
  region: "us" | "eu";
  rate_limit: { max: number; retry_after?: boolean } | null;
  /** Answered in order before anything else, each `times` times (default once). */
  faults: { status: number; body?: unknown; retry_after?: string; times?: number }[];
}

interface Workspace {
  config: WorkspaceConfig;
  people: Map<string, Record<string, unknown>>;
  requests: { method: string; path: string; size: number; bytes: number; status: number; at: number }[];
  hits: number[];
}

const defaults = (): WorkspaceConfig => ({ site_id: "cio-site", api_key: "cio-key", region: "us", rate_limit: null, faults: [] });
const MAX_REQUEST_BYTES = 500 * 1000;
const bytes = (s: string) => Buffer.byteLength(s, "utf8");

/** Starts the fake Customer.io Track API on 127.0.0.1. */
export function startFakeCustomerio(port = 0): Promise<{ server: Server; port: number }> {
  const workspaces = tenants<Workspace>(() => ({ config: defaults(), people: new Map(), requests: [], hits: [] }));

  const server = createServer(async (req, res) => {
    const found = workspaces.route(new URL(req.url ?? "/", "http://127.0.0.1"));
    if (!found) return json(res, 404, { meta: { error: "unknown path" } });
    const { tenant: ws, path } = found;
    const raw = await readBody(req);
    if (path === "/_state" && req.method === "GET") {
      return json(res, 200, { people: Object.fromEntries(ws.people), requests: ws.requests });
    }
    if (path === "/_config" && req.method === "POST") {
      ws.config = { ...defaults(), ...(JSON.parse(raw || "{}") as Partial<WorkspaceConfig>) };
      return json(res, 200, { ok: true });
    }
    const log: Workspace["requests"][number] = {
      method: req.method ?? "GET",
      path,
      size: 0,
      bytes: bytes(raw),
      status: 200,
      at: Date.now(),
    };
    ws.requests.push(log);
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      log.status = status;
      json(res, status, body, headers);
    };

    const fault = ws.config.faults[0];
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) ws.config.faults.shift();
      return reply(
        fault.status,
        fault.body ?? { meta: { error: `simulated ${fault.status}` } },
        fault.retry_after ? { "retry-after": fault.retry_after } : {},
      );
    }
    const expected = `Basic ${Buffer.from(`${ws.config.site_id}:${ws.config.api_key}`).toString("base64")}`;
    const authorized = req.headers.authorization === expected;
    if (path === "/api/v1/accounts/region" && req.method === "GET") {
      if (!authorized) return reply(400, { meta: { error: "Your credentials are not valid." } });
      const url = ws.config.region === "eu" ? "https://track-eu.customer.io" : "https://track.customer.io";
      return reply(200, { url, data_center: ws.config.region, environment_id: 1 });
    }
    if (!authorized) return reply(401, { meta: { error: "Unauthorized request" } });
    const limit = ws.config.rate_limit;
    if (limit) {
      const now = Date.now();
      ws.hits = ws.hits.filter((t) => t > now - 1000);
      if (ws.hits.length >= limit.max)
        return reply(429, { meta: { error: "Too many requests" } }, limit.retry_after ? { "retry-after": "1" } : {});
      ws.hits.push(now);
    }
    if (path !== "/api/v2/batch" || req.method !== "POST") return reply(404, { meta: { error: `no route for ${req.method} ${path}` } });
    if (log.bytes >= MAX_REQUEST_BYTES) return reply(413, { meta: { error: "request body too large: the limit is 500kb" } });
    let entries: Record<string, unknown>[];
    try {
      const body = JSON.parse(raw) as { batch?: unknown };
      if (!Array.isArray(body.batch)) throw new Error("batch must be an array");
      entries = body.batch as Record<string, unknown>[];
    } catch (err) {
      return reply(400, { meta: { error: `malformed request: ${String(err)}` } });
    }
    log.size = entries.length;
    const errors: { batch_index: number; reason: string; field: string; message: string }[] = [];
    for (const [index, entry] of entries.entries()) {
      const fail = (reason: string, field: string, message: string) => errors.push({ batch_index: index, reason, field, message });
      const identifiers = (entry.identifiers ?? {}) as Record<string, unknown>;
      const id = identifiers.id;
      if (entry.type !== "person" || (entry.action !== "identify" && entry.action !== "delete")) {
        fail("invalid", "action", `unsupported type/action ${String(entry.type)}/${String(entry.action)}`);
        continue;
      }
      if (typeof id !== "string" || id === "") {
        fail("required", "identifiers", "identifiers must contain an id");
        continue;
      }
      if (bytes(id) > 150) {
        fail("invalid", "identifiers.id", "id must be at most 150 bytes");
        continue;
      }
      if (entry.action === "delete") {
        ws.people.delete(id);
        continue;
      }
      const attributes = (entry.attributes ?? {}) as Record<string, unknown>;
      const names = Object.keys(attributes);
      const tooLong = names.find((n) => bytes(n) > 150);
      const bigValue = names.find(
        (n) =>
          attributes[n] !== null &&
          bytes(typeof attributes[n] === "string" ? (attributes[n] as string) : JSON.stringify(attributes[n])) > 1000,
      );
      const person = ws.people.get(id) ?? { id };
      const total = new Set([...Object.keys(person), ...names]).size;
      if (tooLong) fail("invalid", `attributes.${tooLong.slice(0, 20)}`, "attribute names must be at most 150 bytes");
      else if (bigValue) fail("invalid", `attributes.${bigValue}`, "attribute values must be at most 1000 bytes");
      else if (total > 300) fail("invalid", "attributes", "a person may have at most 300 attributes");
      else {
        for (const [name, value] of Object.entries(attributes)) {
          if (value === null) delete person[name];
          else person[name] = value;
        }
        ws.people.set(id, person);
      }
    }
    if (errors.length === 0) return reply(200, {});
    reply(207, { errors });
  });

  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      resolve({ server, port: typeof address === "object" && address ? address.port : port });
    });
  });
}
