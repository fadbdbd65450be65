import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import { apiTokens, destinations, models, sources, workspaces, type TokenScope } from "../src/db/schema";
import { createDb } from "../src/db/client";
import { newId } from "../src/lib/ids";
import { sha256Hex } from "../src/lib/crypto";

export const ADMIN = "test_admin_token";

export interface CallResult<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** Calls the Worker's fetch handler like an HTTP client. */
export async function call<T = any>(
  method: string,
  path: string,
  opts: { token?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<CallResult<T>> {
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
  return { status: res.status, body: parsed as T, headers: res.headers };
}

/** Asserts a status, printing the body when it differs. */
export function expectStatus(res: CallResult, status: number) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
}

/** Asserts an error response with a code, and (optionally) that `details` names `path`. */
export function expectError(res: CallResult, status: number, code: string, path?: string) {
  expectStatus(res, status);
  expect(res.body.error.code, JSON.stringify(res.body)).toBe(code);
  expect(typeof res.body.error.request_id).toBe("string");
  if (path !== undefined) {
    const paths = (res.body.error.details ?? []).map((d: { path: string }) => d.path);
    expect(paths, JSON.stringify(res.body)).toContain(path);
  }
}

/** A new workspace with a token of the given scope, written straight to D1. */
export async function newWorkspace(scope: TokenScope = "admin"): Promise<{ workspaceId: string; token: string }> {
  const db = createDb(env.DB);
  const now = new Date().toISOString();
  const workspaceId = newId("workspace");
  await db.insert(workspaces).values({ id: workspaceId, name: "other", createdAt: now, updatedAt: now });
  const token = await tokenFor(workspaceId, scope);
  return { workspaceId, token };
}

/** A token of `scope` in `workspaceId`, written straight to D1. */
export async function tokenFor(workspaceId: string, scope: TokenScope): Promise<string> {
  const db = createDb(env.DB);
  const now = new Date().toISOString();
  const token = `retl_test_${crypto.randomUUID()}`;
  await db.insert(apiTokens).values({
    id: newId("token"),
    workspaceId,
    name: `${scope} test token`,
    scope,
    tokenHash: await sha256Hex(token),
    prefix: token.slice(0, 12),
    createdAt: now,
    updatedAt: now,
  });
  return token;
}

export const WAREHOUSE_URL = env.TEST_WAREHOUSE_URL;

/** Creates a source on the test warehouse and returns its id. */
export async function createSource(token: string = ADMIN, connection_string: string = WAREHOUSE_URL): Promise<string> {
  const res = await call("POST", "/api/v1/sources", { token, body: { name: "warehouse", type: "postgres", connection_string } });
  expectStatus(res, 201);
  return res.body.id;
}

/**
 * A model (on a source of its own) written straight to D1, for tests that must not depend on the
 * warehouse. Its columns are id, email, first_name, plan.
 */
export async function seedModel(workspaceId = "wsp_default"): Promise<string> {
  const db = createDb(env.DB);
  const now = new Date().toISOString();
  const sourceId = newId("source");
  const modelId = newId("model");
  await db.insert(sources).values({
    id: sourceId,
    workspaceId,
    name: "seeded",
    type: "postgres",
    connectionCiphertext: "v1.x.y",
    connectionMasked: "postgres://seed@127.0.0.1/test",
    createdAt: now,
    updatedAt: now,
  });
  await db.insert(models).values({
    id: modelId,
    workspaceId,
    sourceId,
    name: "customers",
    sql: "SELECT id, email, first_name, plan FROM customers",
    primaryKey: "id",
    columns: ["id", "email", "first_name", "plan"].map((name) => ({ name, type: "text" })),
    createdAt: now,
    updatedAt: now,
  });
  return modelId;
}

/** {@link seedModel} and a webhook destination, both straight to D1. */
export async function seedModelAndDestination(workspaceId = "wsp_default"): Promise<{ modelId: string; destinationId: string }> {
  const modelId = await seedModel(workspaceId);
  const destinationId = newId("destination");
  const now = new Date().toISOString();
  await createDb(env.DB)
    .insert(destinations)
    .values({
      id: destinationId,
      workspaceId,
      name: "hook",
      type: "webhook",
      config: { url: "http://127.0.0.1:9/hook" },
      createdAt: now,
      updatedAt: now,
    });
  return { modelId, destinationId };
}

/** A valid create-sync body for the seeded model and destination. */
export function syncBody(ids: { modelId: string; destinationId: string }, extra: Record<string, unknown> = {}) {
  return {
    name: "Active Customers to CRM",
    model_id: ids.modelId,
    destination_id: ids.destinationId,
    mode: "upsert",
    schedule: { type: "interval", interval_minutes: 60 },
    field_mappings: [
      { source: "email", destination: "Email" },
      { source: "first_name", destination: "FirstName" },
    ],
    ...extra,
  };
}
