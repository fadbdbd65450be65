/** Seeding for the API tests: workspaces, tokens, sources and models written straight to D1 or through the API. */
import { env } from "cloudflare:workers";
import { apiTokens, destinations, models, sources, workspaces, type TokenScope } from "../../src/db/schema";
import { createDb } from "../../src/db/client";
import { newId } from "../../src/lib/ids";
import { sha256Hex } from "../../src/lib/crypto";
import { ADMIN, api, expectStatus } from "./api";

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
  const res = await api.post("/api/v1/sources", { token, body: { name: "warehouse", type: "postgres", connection_string } });
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
