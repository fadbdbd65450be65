import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { json, readBody, tenants } from "./http";

/**
 * A plain JSON REST API for the generic `http` destination's tests: no vendor, so it follows the
 * HTTP specifications themselves, as a careful API does:
 * - Bearer tokens, RFC 6750 (https://www.rfc-editor.org/rfc/rfc6750#section-2.1); Basic auth,
 *   RFC 7617 (https://www.rfc-editor.org/rfc/rfc7617#section-2); a refused one answers 401.
 * - HMAC body signatures as webhook providers document them (e.g. GitHub's X-Hub-Signature-256,
 *   https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries): an HMAC of
 *   the exact raw body under a shared secret in a header, hex or base64, with an optional prefix.
 * - 429 and 503 with Retry-After, RFC 9110 §10.2.3 (https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3).
 *
 * Each tenant (`/t/{tenant}/…`) is a separate API with its own `users` collection:
 * - `PUT|PATCH|POST /t/{tenant}/users/{id}`: writes the JSON body as the user (PATCH merges into
 *   an existing user, 404 `{"message"}` when there is none, RFC 5789 §2);
 *   answers `{"ok":true,"id"}`, or 422 `{"message"}` for an id in `fail_ids`.
 * - `DELETE /t/{tenant}/users/{id}`: removes it (204).
 * - `POST /t/{tenant}/users/batch` with `{"items":[{"id",…}]}`: writes each item and answers
 *   `{"results":[{"id","ok":true}|{"id","ok":false,"error"}]}` in order; a batch holding an id of
 *   `reject_ids` is refused whole with 400 `{"message"}`.
 * - `GET /t/{tenant}/…`: 200 `{}` (a connection test's probe).
 * Control: `POST /_config/{tenant}` ({@link RestApiConfig}), `GET /_state/{tenant}` ({@link RestApiState}).
 */
export function startFakeRestApi(port = 0): Promise<{ server: Server; port: number }> {
  const all = tenants<Tenant>(() => ({ config: {}, users: new Map(), requests: [], faults: [] }));
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const [, kind = "", name = "", ...rest] = url.pathname.split("/");
    try {
      const tenant = all.of(name);
      const raw = await readBody(req);
      if (kind === "_config" && req.method === "POST") {
        tenant.config = JSON.parse(raw || "{}") as RestApiConfig;
        tenant.faults = (tenant.config.faults ?? []).map((f) => ({ ...f }));
        return json(res, 200, { ok: true });
      }
      if (kind === "_state" && req.method === "GET") {
        return json(res, 200, { users: Object.fromEntries(tenant.users), requests: tenant.requests } satisfies RestApiState);
      }
      if (kind !== "t") return json(res, 404, { message: "unknown path" });
      const logged: LoggedRequest = {
        at: Date.now(),
        method: req.method ?? "",
        path: `/${rest.map(decodeURIComponent).join("/")}`,
        headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
        body: raw,
        status: 0,
      };
      tenant.requests.push(logged);
      const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        logged.status = status;
        if (status === 204) {
          res.writeHead(204);
          return res.end();
        }
        return json(res, status, body, headers);
      };
      const refusal = authRefusal(tenant.config.auth, req, raw);
      if (refusal) return answer(401, { message: refusal });
      const fault = tenant.faults[0];
      if (fault) {
        fault.times = (fault.times ?? 1) - 1;
        if (fault.times <= 0) tenant.faults.shift();
        return answer(
          fault.status,
          fault.body ?? { message: `simulated ${fault.status}` },
          fault.retry_after ? { "retry-after": fault.retry_after } : {},
        );
      }
      return handle(tenant, logged, rest.map(decodeURIComponent), answer);
    } catch (err) {
      json(res, 400, { message: String(err) });
    }
  });
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      resolve({ server, port: typeof address === "object" && address ? address.port : port });
    });
  });
}

/** How a test configures one tenant (`POST /_config/{tenant}` replaces it; users are kept). */
export interface RestApiConfig {
  auth?:
    | { type: "bearer"; token: string }
    | { type: "basic"; username: string; password: string }
    | { type: "hmac"; secret: string; header: string; algorithm: "sha256" | "sha512"; encoding: "hex" | "base64"; prefix?: string };
  /** Answers played in order before any request is applied. */
  faults?: { status: number; retry_after?: string; body?: unknown; times?: number }[];
  /** Ids refused one by one: 422 on a single write, `ok:false` in a batch. */
  fail_ids?: Record<string, string>;
  /** A batch holding any of these ids is refused whole with 400. */
  reject_ids?: string[];
}

/** One request as the API saw it. */
interface LoggedRequest {
  at: number;
  method: string;
  /** Path below the tenant, decoded: `/users/42`. */
  path: string;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  /** The raw body. */
  body: string;
  status: number;
}

/** `GET /_state/{tenant}`. */
export interface RestApiState {
  users: Record<string, Record<string, unknown>>;
  requests: LoggedRequest[];
}

interface Tenant {
  config: RestApiConfig;
  users: Map<string, Record<string, unknown>>;
  requests: LoggedRequest[];
  faults: NonNullable<RestApiConfig["faults"]>;
}

type Answer = (status: number, body: unknown, headers?: Record<string, string>) => void;

function handle(tenant: Tenant, req: LoggedRequest, segments: string[], answer: Answer) {
  const [collection, id, ...more] = segments;
  if (req.method === "GET") return answer(200, {});
  if (collection !== "users" || !id || more.length > 0) return answer(404, { message: `no such resource ${req.path}` });
  const failIds = tenant.config.fail_ids ?? {};
  if (id === "batch" && req.method === "POST") {
    const body = JSON.parse(req.body) as { items?: Record<string, unknown>[] };
    if (!Array.isArray(body.items)) return answer(400, { message: "items must be an array" });
    const ids = body.items.map((item) => String(item.id));
    const rejected = ids.find((i) => tenant.config.reject_ids?.includes(i));
    if (rejected !== undefined) return answer(400, { message: `item ${rejected} is malformed` });
    const results = body.items.map((item, n) => {
      const itemId = ids[n] ?? "";
      const error = failIds[itemId];
      if (error !== undefined) return { id: itemId, ok: false, error };
      tenant.users.set(itemId, item);
      return { id: itemId, ok: true };
    });
    return answer(200, { results });
  }
  if (req.method === "DELETE") {
    tenant.users.delete(id);
    return answer(204, null);
  }
  const error = failIds[id];
  if (error !== undefined) return answer(422, { message: error });
  const body = JSON.parse(req.body || "{}") as Record<string, unknown>;
  const existing = tenant.users.get(id);
  if (req.method === "PATCH" && !existing) return answer(404, { message: `no user ${id}` });
  tenant.users.set(id, req.method === "PATCH" ? { ...existing, ...body } : body);
  return answer(200, { ok: true, id });
}

/** Why the request's credentials are refused, or `undefined` when they pass (or none are required). */
function authRefusal(auth: RestApiConfig["auth"], req: IncomingMessage, raw: string): string | undefined {
  if (!auth) return undefined;
  const given = (name: string) => {
    const v = req.headers[name.toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
  };
  if (auth.type === "bearer") return given("authorization") === `Bearer ${auth.token}` ? undefined : "invalid bearer token";
  if (auth.type === "basic") {
    const expected = `Basic ${Buffer.from(`${auth.username}:${auth.password}`, "utf8").toString("base64")}`;
    return given("authorization") === expected ? undefined : "invalid basic credentials";
  }
  const signature = given(auth.header) ?? "";
  const expected = `${auth.prefix ?? ""}${createHmac(auth.algorithm, auth.secret).update(raw, "utf8").digest(auth.encoding)}`;
  const ok = signature.length === expected.length && timingSafeEqual(Buffer.from(signature), Buffer.from(expected));
  return ok ? undefined : "invalid signature";
}
