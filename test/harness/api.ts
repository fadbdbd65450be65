/**
 * The typed API client of the tests: `api.get/post/put/delete(path, options)` calls the Worker's
 * fetch handler like an HTTP client. The body's type follows from the method and the path, using
 * the API's own response schemas (z.infer), so tests read typed fields without casts.
 */
import { exports } from "cloudflare:workers";
import type { z } from "@hono/zod-openapi";
import { expect } from "vitest";
import type { ErrorSchema } from "../../src/api/openapi";
import type { AlertChannelSchema, CreatedAlertChannelSchema } from "../../src/routes/alert-channels/schema";
import type { DestinationSchema } from "../../src/routes/destinations/schema";
import type { ModelColumnSchema, ModelSchema } from "../../src/routes/models/schema";
import type { SourceSchema } from "../../src/routes/sources/schema";
import type { AuditEventSchema } from "../../src/routes/audit";
import type { OperationSchema, RecordEventSchema } from "../../src/routes/syncs/operations";
import type { RunSchema, TriggerResponse } from "../../src/routes/syncs/run-schema";
import type { SyncSchema } from "../../src/routes/syncs/schema";
import type { CreatedTokenSchema, TokenSchema } from "../../src/routes/tokens/schema";

export const ADMIN = "test_admin_token";

type Source = z.infer<typeof SourceSchema>;
type Model = z.infer<typeof ModelSchema>;
type Destination = z.infer<typeof DestinationSchema>;
type Sync = z.infer<typeof SyncSchema>;
export type Run = z.infer<typeof RunSchema>;
type Token = z.infer<typeof TokenSchema>;
type AlertChannel = z.infer<typeof AlertChannelSchema>;
export type RunOperation = z.infer<typeof OperationSchema>;
export type RecordEvent = z.infer<typeof RecordEventSchema>;
export type AuditEvent = z.infer<typeof AuditEventSchema>;
type CreatedToken = z.infer<typeof CreatedTokenSchema>;
/** The `error` of every error response (`{ "error": { code, message, details?, request_id } }`). */
type ApiErrorBody = z.infer<typeof ErrorSchema>["error"];

// Response schemas declared inline in their route files (not exported there); the same shapes.
/** GET /api/v1/syncs/{id}/runs/{run_id}/errors items (src/routes/syncs/runs.ts `RowError`). */
export interface RowError {
  primary_key: string | null;
  operation: string;
  message: string;
  code: "invalid_row" | "not_sent" | "rejected" | "not_found" | null;
  created_at: string;
}
/** POST /api/v1/models/preview and /api/v1/models/{id}/preview (src/routes/models/preview.ts `Preview`). */
interface ModelPreview {
  columns: z.infer<typeof ModelColumnSchema>[];
  rows: Record<string, unknown>[];
  mapped?: ({ fields: Record<string, unknown> } | { error: string })[];
}
/** POST /api/v1/{sources,destinations}/{id}/test (the routes' `ConnectionTest`). */
interface ConnectionTest {
  ok: boolean;
  latency_ms?: number;
  server_version?: string;
  error?: string | { code: string; message: string };
}
/** POST /api/v1/syncs/{id}/trigger-secret (src/routes/syncs/rotate-trigger-secret.ts). */
interface TriggerSecret {
  trigger_url: string;
  secret: string;
}
/** POST /api/v1/syncs/{id}/trigger and the trigger webhooks (src/routes/syncs/run-schema.ts `TriggeredRun`): `in_flight` when a run was already going. */
type TriggeredRun = z.infer<typeof TriggerResponse>;
/** Every list: a page and the cursor of the next one (src/api/openapi.ts `listOf`). */
export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/** GET /api/v1/openapi.json: the parts the tests read. */
interface OpenApiDocument {
  openapi: string;
  paths: Record<string, unknown>;
  components: { schemas: Record<string, SchemaObject> };
}

/** The JSON Schema keywords the tests read. */
interface SchemaObject {
  required?: string[];
  properties?: Record<string, SchemaObject>;
  enum?: string[];
  const?: string;
  oneOf?: SchemaObject[];
  anyOf?: SchemaObject[];
}

type Method = "GET" | "POST" | "PUT" | "DELETE";

/**
 * The response body of each route: [method, path pattern, body], the first match wins, so a more
 * specific pattern comes before a shorter one (`${string}` also spans a query string).
 */
type Routes = [
  ["GET", "/api/v1/openapi.json", OpenApiDocument],
  ["GET", `/api/v1/audit-events${string}`, Page<AuditEvent>],
  ["GET", `/api/v1/syncs/${string}/runs/${string}/errors${string}`, Page<RowError>],
  ["GET", `/api/v1/syncs/${string}/runs/${string}/operations${string}`, Page<RunOperation>],
  ["GET", `/api/v1/syncs/${string}/records/${string}`, Page<RecordEvent>],
  ["GET", `/api/v1/syncs/${string}/runs/${string}`, Run],
  ["GET", `/api/v1/syncs/${string}/runs${string}`, Page<Run>],
  ["GET", `/api/v1/syncs/${string}`, Sync],
  ["GET", `/api/v1/syncs${string}`, Page<Sync>],
  ["GET", `/api/v1/sources/${string}`, Source],
  ["GET", `/api/v1/sources${string}`, Page<Source>],
  ["GET", `/api/v1/models/${string}`, Model],
  ["GET", `/api/v1/models${string}`, Page<Model>],
  ["GET", `/api/v1/destinations/${string}`, Destination],
  ["GET", `/api/v1/destinations${string}`, Page<Destination>],
  ["GET", `/api/v1/tokens/${string}`, Token],
  ["GET", `/api/v1/tokens${string}`, Page<Token>],
  ["GET", `/api/v1/alert-channels/${string}`, AlertChannel],
  ["GET", `/api/v1/alert-channels${string}`, Page<AlertChannel>],
  ["POST", `/api/v1/alert-channels/${string}/test`, { ok: boolean; error?: string }],
  ["POST", "/api/v1/alert-channels", z.infer<typeof CreatedAlertChannelSchema>],
  ["PUT", `/api/v1/alert-channels/${string}`, AlertChannel],
  ["POST", `/api/v1/${"sources" | "destinations"}/${string}/test`, ConnectionTest],
  ["POST", "/api/v1/sources", Source],
  ["POST", "/api/v1/models/preview", ModelPreview],
  ["POST", `/api/v1/models/${string}/preview`, ModelPreview],
  ["POST", "/api/v1/models", Model],
  ["POST", "/api/v1/destinations", Destination],
  ["POST", "/api/v1/tokens", CreatedToken],
  ["POST", `/api/v1/syncs/${string}/trigger-secret`, TriggerSecret],
  ["POST", `/api/v1/syncs/${string}/runs/${string}/cancel`, Run],
  ["POST", `/api/v1/syncs/${string}/trigger`, TriggeredRun],
  ["POST", `/api/v1/hooks/syncs/${string}`, TriggeredRun],
  ["POST", `/api/v1/syncs/${string}/${"pause" | "resume" | "restore"}`, Sync],
  ["POST", "/api/v1/syncs", Sync],
  ["PUT", `/api/v1/syncs/${string}`, Sync],
  ["PUT", `/api/v1/sources/${string}`, Source],
  ["PUT", `/api/v1/models/${string}`, Model],
  ["PUT", `/api/v1/destinations/${string}`, Destination],
  ["DELETE", `/api/v1/tokens/${string}`, Token],
  // Archived; `?permanent=true` answers 204 (no body), as do sources, models and destinations.
  ["DELETE", `/api/v1/syncs/${string}?permanent=true`, null],
  ["DELETE", `/api/v1/syncs/${string}`, Sync],
  ["DELETE", string, null],
];

/** The body type of `method path` by {@link Routes}; `unknown` for a path no route matches. */
type BodyOf<M extends Method, P extends string, R = Routes> = R extends [[infer RM, infer RP, infer B], ...infer Rest]
  ? M extends RM
    ? P extends RP
      ? B
      : BodyOf<M, P, Rest>
    : BodyOf<M, P, Rest>
  : unknown;

export interface ApiResult<T> {
  status: number;
  /** The success body, typed by the route (on an error status, read `error`). */
  body: T;
  /** The error envelope's `error` when the answer is one (4xx/5xx), else undefined. */
  error: ApiErrorBody | undefined;
  headers: Headers;
}

interface CallOptions {
  /** Bearer token; default the admin token, `null` for none. */
  token?: string | null;
  /** JSON body. */
  body?: unknown;
  /** A body sent as is (malformed JSON and the like). */
  raw?: string;
  headers?: Record<string, string>;
}

async function request<T>(method: string, path: string, opts: CallOptions): Promise<ApiResult<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  const token = opts.token === undefined ? ADMIN : opts.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !headers["content-type"]) headers["content-type"] = "application/json";
  const res = await exports.default.fetch(new Request(`http://api.test${path}`, { method, headers, body }));
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // non-JSON body kept as text
  }
  return { status: res.status, body: parsed as T, error: errorOf(res.status, parsed), headers: res.headers };
}

function errorOf(status: number, body: unknown): ApiErrorBody | undefined {
  if (status < 400 || typeof body !== "object" || body === null || !("error" in body)) return undefined;
  return (body as { error: ApiErrorBody }).error;
}

/** The typed API client: each method's body type follows from the path. */
export const api = {
  get: <P extends string>(path: P, opts: CallOptions = {}) => request<BodyOf<"GET", P>>("GET", path, opts),
  post: <P extends string>(path: P, opts: CallOptions = {}) => request<BodyOf<"POST", P>>("POST", path, opts),
  put: <P extends string>(path: P, opts: CallOptions = {}) => request<BodyOf<"PUT", P>>("PUT", path, opts),
  delete: <P extends string>(path: P, opts: CallOptions = {}) => request<BodyOf<"DELETE", P>>("DELETE", path, opts),
  /** Any other method (e.g. PATCH, OPTIONS), untyped. */
  send: (method: string, path: string, opts: CallOptions = {}) => request<unknown>(method, path, opts),
};

/** Asserts a status, printing the body when it differs. */
export function expectStatus(res: ApiResult<unknown>, status: number): void {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
}

/**
 * Asserts an error response with a code, and (optionally) that `details` names `path`; returns
 * the error for further checks.
 */
export function expectError(res: ApiResult<unknown>, status: number, code: string, path?: string): ApiErrorBody {
  expectStatus(res, status);
  const error = res.error;
  expect(error?.code, JSON.stringify(res.body)).toBe(code);
  expect(typeof error?.request_id, JSON.stringify(res.body)).toBe("string");
  if (path !== undefined) expect(detailPaths(res), JSON.stringify(res.body)).toContain(path);
  if (!error) throw new Error(`no error body: ${JSON.stringify(res.body)}`);
  return error;
}

/** The `path` of each entry of a validation error's `details`. */
export function detailPaths(res: ApiResult<unknown>): string[] {
  const details = res.error?.details;
  if (!Array.isArray(details)) return [];
  return details.map((d: unknown) => (typeof d === "object" && d !== null && "path" in d ? String(d.path) : ""));
}
