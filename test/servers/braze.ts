import { createServer, type Server } from "node:http";
import { json, readBody, tenants } from "./http";

/**
 * A fake Braze workspace for connector tests, following the documented REST contract:
 * - `POST /users/track` (https://www.braze.com/docs/api/endpoints/user_data/post_user_track): at most
 *   75 attribute objects (https://www.braze.com/docs/api/api_limits), each naming the user by
 *   `external_id`; fields are set, `null` removes one; `_update_existing_only: true` updates an
 *   existing profile and never creates one (https://www.braze.com/docs/api/objects_filters/user_attributes_object),
 *   and Braze reports nothing for the skipped ones. Answers 201 `{"message":"success",
 *   "attributes_processed":n}`, with non-fatal errors as `"errors":[{type, input_array:"attributes",
 *   index}]` (https://www.braze.com/docs/api/errors): the other objects are still applied. A request
 *   with nothing to track, or over 75 objects, is a fatal 400 `{"message":…}`.
 * - `POST /users/delete` (https://www.braze.com/docs/api/endpoints/user_data/post_user_delete): at most 50
 *   `external_ids`; unknown ids are ignored; 201 `{"deleted":n,"message":"success"}`.
 * - Auth: `Authorization: Bearer <REST API key>`, else 401 `{"message":"Invalid API key: …"}`.
 * - Rate limit (https://www.braze.com/docs/api/api_limits): with `rate_limit` set, `max` requests per
 *   `window_ms`; beyond it 429 with `X-RateLimit-Limit`, `-Remaining` and `-Reset` (epoch seconds),
 *   and `Retry-After` when `retry_after` is set.
 *
 * The fake's own trigger for a non-fatal error is an attribute whose value is `"INVALID"` (type
 * `"'<name>' is not a valid value"`). Every path is under `/t/{workspace}/…`. Control:
 * `GET /t/{w}/_state`, `POST /t/{w}/_config` (a partial {@link WorkspaceConfig}; users are kept).
 */
interface WorkspaceConfig {
  api_key: string;
  rate_limit: { max: number; window_ms: number; retry_after?: boolean } | null;
  /** Answered in order before anything else, each `times` times (default once). */
  faults: { status: number; body?: unknown; retry_after?: string; times?: number }[];
}

interface Workspace {
  config: WorkspaceConfig;
  users: Map<string, Record<string, unknown>>;
  requests: { path: string; size: number; status: number; at: number; update_existing_only?: boolean[] }[];
  hits: number[];
}

const defaults = (): WorkspaceConfig => ({ api_key: "braze-test-key", rate_limit: null, faults: [] });
const MAX_ATTRIBUTES = 75;
const MAX_DELETES = 50;

/** Starts the fake Braze REST API on 127.0.0.1. */
export function startFakeBraze(port = 0): Promise<{ server: Server; port: number }> {
  const workspaces = tenants<Workspace>(() => ({ config: defaults(), users: new Map(), requests: [], hits: [] }));

  const server = createServer(async (req, res) => {
    const found = workspaces.route(new URL(req.url ?? "/", "http://127.0.0.1"));
    if (!found) return json(res, 404, { message: "unknown path" });
    const { tenant: ws, path } = found;
    const raw = await readBody(req);
    if (path === "/_state" && req.method === "GET") {
      return json(res, 200, { users: Object.fromEntries(ws.users), requests: ws.requests });
    }
    if (path === "/_config" && req.method === "POST") {
      ws.config = { ...defaults(), ...(JSON.parse(raw || "{}") as Partial<WorkspaceConfig>) };
      return json(res, 200, { ok: true });
    }
    const log: Workspace["requests"][number] = { path, size: 0, status: 201, at: Date.now() };
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
        fault.body ?? { message: `simulated ${fault.status}` },
        fault.retry_after ? { "retry-after": fault.retry_after } : {},
      );
    }
    if (req.headers.authorization !== `Bearer ${ws.config.api_key}`) {
      return reply(401, { message: "Invalid API key: the key is not valid for this workspace" });
    }
    const limit = ws.config.rate_limit;
    if (limit) {
      const now = Date.now();
      ws.hits = ws.hits.filter((t) => t > now - limit.window_ms);
      const reset = Math.ceil(((ws.hits[0] ?? now) + limit.window_ms) / 1000);
      const headers = { "x-ratelimit-limit": String(limit.max), "x-ratelimit-reset": String(reset) };
      if (ws.hits.length >= limit.max) {
        return reply(
          429,
          { message: "API rate limit exceeded" },
          {
            ...headers,
            "x-ratelimit-remaining": "0",
            ...(limit.retry_after ? { "retry-after": String(Math.max(1, reset - Math.floor(now / 1000))) } : {}),
          },
        );
      }
      ws.hits.push(now);
    }

    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return reply(400, { message: "Received unparseable JSON" });
    }
    if (path === "/users/track" && req.method === "POST") {
      const attributes = Array.isArray(body.attributes) ? (body.attributes as Record<string, unknown>[]) : [];
      log.size = attributes.length;
      if (attributes.length === 0 && !Array.isArray(body.events) && !Array.isArray(body.purchases)) {
        return reply(400, { message: "Request must contain at least one of attributes, events or purchases" });
      }
      if (attributes.length > MAX_ATTRIBUTES) {
        return reply(400, { message: `Too many attributes objects: ${attributes.length}, the limit is ${MAX_ATTRIBUTES}` });
      }
      log.update_existing_only = attributes.map((a) => a._update_existing_only === true);
      const errors: { type: string; input_array: string; index: number }[] = [];
      let processed = 0;
      for (const [index, object] of attributes.entries()) {
        const { external_id: id, _update_existing_only: updateOnly, ...fields } = object;
        if (typeof id !== "string" || id === "") {
          errors.push({ type: "'external_id' or 'braze_id' or 'user_alias' is required", input_array: "attributes", index });
          continue;
        }
        const invalid = Object.entries(fields).find(([, v]) => v === "INVALID");
        if (invalid) {
          errors.push({ type: `'${invalid[0]}' is not a valid value`, input_array: "attributes", index });
          continue;
        }
        const existing = ws.users.get(id);
        if (!existing && updateOnly === true) continue;
        const profile = existing ?? { external_id: id };
        for (const [name, value] of Object.entries(fields)) {
          if (value === null) delete profile[name];
          else profile[name] = value;
        }
        ws.users.set(id, profile);
        processed++;
      }
      return reply(201, { message: "success", attributes_processed: processed, ...(errors.length > 0 ? { errors } : {}) });
    }
    if (path === "/users/delete" && req.method === "POST") {
      const ids = Array.isArray(body.external_ids) ? (body.external_ids as unknown[]) : [];
      log.size = ids.length;
      if (ids.length > MAX_DELETES) return reply(400, { message: `Too many external_ids: ${ids.length}, the limit is ${MAX_DELETES}` });
      let deleted = 0;
      for (const id of ids) if (typeof id === "string" && ws.users.delete(id)) deleted++;
      return reply(201, { deleted, message: "success" });
    }
    reply(404, { message: `no route for ${req.method} ${path}` });
  });

  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      resolve({ server, port: typeof address === "object" && address ? address.port : port });
    });
  });
}
