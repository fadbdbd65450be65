import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { destinations, syncs } from "../../src/db/schema";
import { newId } from "../../src/lib/ids";
import { api, detailPaths, createSource, expectError, expectStatus, newWorkspace, tokenFor } from "../harness";

// Needs no table: the warehouse computes the rows.
const USERS_SQL = "SELECT g AS id, 'user' || g AS email, g % 3 = 0 AS vip FROM generate_series(1, 20) g";

let sourceId: string;

beforeAll(async () => {
  sourceId = await createSource();
});

function modelBody(extra: Record<string, unknown> = {}) {
  return { name: "users", source_id: sourceId, sql: USERS_SQL, primary_key: "id", ...extra };
}

async function createModel(token?: string, source = sourceId): Promise<string> {
  const res = await api.post("/api/v1/models", { token, body: modelBody({ source_id: source }) });
  expectStatus(res, 201);
  return res.body.id;
}

/** A sync on `modelId`, written straight to D1 so these tests do not depend on the syncs API. */
async function seedSync(modelId: string, mappedColumns: string[], workspaceId = "wsp_default"): Promise<string> {
  const db = createDb(env.DB);
  const now = new Date().toISOString();
  const destinationId = newId("destination");
  const syncId = newId("sync");
  await db.insert(destinations).values({
    id: destinationId,
    workspaceId,
    name: "hook",
    type: "webhook",
    config: { url: "https://hooks.example.com/x" },
    createdAt: now,
    updatedAt: now,
  });
  await db.insert(syncs).values({
    id: syncId,
    workspaceId,
    name: "users to hook",
    modelId,
    destinationId,
    mode: "upsert",
    schedule: { type: "manual" },
    fieldMappings: mappedColumns.map((c) => ({ source: c, destination: c.toUpperCase() })),
    status: "created",
    triggerSecretCiphertext: "v1.x.y",
    createdAt: now,
    updatedAt: now,
  });
  return syncId;
}

describe("models", () => {
  it("creates a model, learning its columns from the warehouse, then gets, lists, updates and deletes it", async () => {
    const created = await api.post("/api/v1/models", { body: modelBody() });
    expectStatus(created, 201);
    expect(created.body.id).toMatch(/^mod_[0-9a-z]{26}$/);
    expect(created.body).toMatchObject({ name: "users", source_id: sourceId, sql: USERS_SQL, primary_key: "id" });
    expect(created.body.columns).toEqual([
      { name: "id", type: "int4" },
      { name: "email", type: "text" },
      { name: "vip", type: "bool" },
    ]);

    const got = await api.get(`/api/v1/models/${created.body.id}`);
    expectStatus(got, 200);
    expect(got.body).toEqual(created.body);

    const list = await api.get("/api/v1/models?limit=200");
    expectStatus(list, 200);
    expect(list.body.data.map((m) => m.id)).toContain(created.body.id);

    const renamed = await api.put(`/api/v1/models/${created.body.id}`, { body: { name: "all users" } });
    expectStatus(renamed, 200);
    expect(renamed.body.name).toBe("all users");
    expect(renamed.body.columns).toEqual(created.body.columns);

    const requeried = await api.put(`/api/v1/models/${created.body.id}`, {
      body: { sql: "SELECT g::text AS user_id, now() AS seen_at FROM generate_series(1, 3) g", primary_key: "user_id" },
    });
    expectStatus(requeried, 200);
    expect(requeried.body.primary_key).toBe("user_id");
    expect(requeried.body.columns).toEqual([
      { name: "user_id", type: "text" },
      { name: "seen_at", type: "timestamptz" },
    ]);

    expectStatus(await api.delete(`/api/v1/models/${created.body.id}`), 204);
    expectError(await api.get(`/api/v1/models/${created.body.id}`), 404, "not_found");
  });

  it("pages with limit and cursor, newest first", async () => {
    const { token } = await newWorkspace();
    const source = await createSource(token);
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await createModel(token, source));
    const first = await api.get("/api/v1/models?limit=2", { token });
    expect(first.body.data.map((m) => m.id)).toEqual([ids[2], ids[1]]);
    const second = await api.get(`/api/v1/models?limit=2&cursor=${first.body.next_cursor}`, { token });
    expect(second.body.data.map((m) => m.id)).toEqual([ids[0]]);
    expect(second.body.next_cursor).toBeNull();
  });

  it("names each bad field of the body", async () => {
    const res = await api.post("/api/v1/models", { body: { name: "", source_id: 7, sql: "  ", extra: true } });
    expectError(res, 400, "validation_failed");
    const paths = detailPaths(res);
    expect(paths).toEqual(expect.arrayContaining(["name", "source_id", "sql", "primary_key"]));
    expect(JSON.stringify(res.error?.details)).toContain("extra");
  });

  it("refuses an unknown source and another workspace's source, naming source_id", async () => {
    expectError(
      await api.post("/api/v1/models", { body: modelBody({ source_id: "src_01jd0000000000000000000000" }) }),
      400,
      "validation_failed",
      "source_id",
    );
    const other = await newWorkspace();
    const foreign = await createSource(other.token);
    expectError(await api.post("/api/v1/models", { body: modelBody({ source_id: foreign }) }), 400, "validation_failed", "source_id");
  });

  it("rejects SQL the warehouse refuses, naming sql", async () => {
    const bad = await api.post("/api/v1/models", { body: modelBody({ sql: "SELECT 1 AS id FROM WHERE" }) });
    expectError(bad, 400, "validation_failed", "sql");
    expect(bad.error?.message).toMatch(/syntax/i);
    const missing = await api.post("/api/v1/models", { body: modelBody({ sql: "SELECT id FROM no_such_table_anywhere" }) });
    expectError(missing, 400, "validation_failed", "sql");
    expect(missing.error?.message).toContain("no_such_table_anywhere");
    const ambiguous = await api.post("/api/v1/models", { body: modelBody({ sql: "SELECT 1 AS id, 2 AS id" }) });
    expectError(ambiguous, 400, "validation_failed", "sql");
    expect(ambiguous.error?.message).toContain("unique");
  });

  it("refuses queries that write, naming sql", async () => {
    for (const sql of [
      "INSERT INTO anything (id) VALUES (1) RETURNING id",
      "CREATE TABLE sneaky AS SELECT 1 AS id",
      // A data-modifying CTE starts with WITH; the read-only transaction stops it.
      "WITH gone AS (DELETE FROM pg_catalog.pg_description WHERE false RETURNING objoid AS id) SELECT id FROM gone",
    ]) {
      const res = await api.post("/api/v1/models", { body: modelBody({ sql }) });
      expectError(res, 400, "validation_failed", "sql");
      expect(res.error?.message, sql).toMatch(/read-only/);
    }
  });

  it("rejects a primary key that is not a column, naming primary_key and listing the columns", async () => {
    const res = await api.post("/api/v1/models", { body: modelBody({ primary_key: "user_id" }) });
    expectError(res, 400, "validation_failed", "primary_key");
    expect(res.error?.message).toContain("id, email, vip");
  });

  it("answers 422 source_error when the warehouse cannot be reached or refuses the login", async () => {
    const unreachable = await createSource(undefined, "postgres://etl:secret@127.0.0.1:1/test");
    const down = await api.post("/api/v1/models", { body: modelBody({ source_id: unreachable }) });
    expectError(down, 422, "source_error");
    expect(down.error?.details).toMatchObject({ source_id: unreachable, warehouse_error: "unreachable" });
    expect(JSON.stringify(down.body)).not.toContain("secret");

    const stranger = await createSource(undefined, "postgres://no_such_role:pw@127.0.0.1:5432/test");
    const refused = await api.post("/api/v1/models", { body: modelBody({ source_id: stranger }) });
    expectError(refused, 422, "source_error");
    expect(refused.error?.details).toMatchObject({ warehouse_error: "auth_failed" });
  });

  it("validates updates: bad SQL, a missing primary key and an unknown source are named", async () => {
    const id = await createModel();
    expectError(await api.put(`/api/v1/models/${id}`, { body: { sql: "SELECT nope(" } }), 400, "validation_failed", "sql");
    expectError(await api.put(`/api/v1/models/${id}`, { body: { primary_key: "nope" } }), 400, "validation_failed", "primary_key");
    expectError(
      await api.put(`/api/v1/models/${id}`, { body: { source_id: "src_01jd0000000000000000000000" } }),
      400,
      "validation_failed",
      "source_id",
    );
    expectError(await api.put(`/api/v1/models/${id}`, { body: { columns: [] } }), 400, "validation_failed");
    // Nothing was changed by the refused updates.
    const got = await api.get(`/api/v1/models/${id}`);
    expect(got.body).toMatchObject({ sql: USERS_SQL, primary_key: "id", source_id: sourceId });
  });

  it("keeps syncs working: no delete, no new primary key and no dropped mapped column while a sync uses the model", async () => {
    const id = await createModel();
    const syncId = await seedSync(id, ["email"]);

    const del = await api.delete(`/api/v1/models/${id}`);
    expectError(del, 409, "conflict");
    expect(del.error?.message).toContain(syncId);

    const rekey = await api.put(`/api/v1/models/${id}`, { body: { primary_key: "email" } });
    expectError(rekey, 409, "conflict");
    expect(rekey.error?.message).toContain(syncId);

    const dropped = await api.put(`/api/v1/models/${id}`, { body: { sql: "SELECT g AS id FROM generate_series(1, 5) g" } });
    expectError(dropped, 409, "conflict");
    expect(dropped.error?.details).toMatchObject({ sync_id: syncId, missing_columns: ["email"] });

    // A change that keeps the mapped columns is fine.
    const widened = await api.put(`/api/v1/models/${id}`, {
      body: { sql: "SELECT g AS id, 'user' || g AS email, 'x' AS extra FROM generate_series(1, 5) g" },
    });
    expectStatus(widened, 200);
    expect(widened.body.columns.map((c) => c.name)).toEqual(["id", "email", "extra"]);
  });

  it("previews the first rows as JSON, 10 by default", async () => {
    const id = await createModel();
    const byDefault = await api.post(`/api/v1/models/${id}/preview`);
    expectStatus(byDefault, 200);
    expect(byDefault.body.columns.map((c) => c.name)).toEqual(["id", "email", "vip"]);
    expect(byDefault.body.rows).toHaveLength(10);
    expect(byDefault.body.rows[0]).toEqual({ id: 1, email: "user1", vip: false });

    const three = await api.post(`/api/v1/models/${id}/preview`, { body: { limit: 3 } });
    expectStatus(three, 200);
    expect(three.body.rows.map((r) => r.email)).toEqual(["user1", "user2", "user3"]);

    expectStatus(await api.post(`/api/v1/models/${id}/preview`, { body: {} }), 200);
  });

  it("maps previewed rows through field mappings as a sync would send them, naming bad mappings", async () => {
    const id = await createModel();
    const field_mappings = [
      { source: "email", destination: "Email" },
      { static: { tier: "gold" }, destination: "Tier" },
      { template: "{{ email | upcase }}#{{ id | plus: 100 }}{% if vip %} (vip){% endif %}", destination: "Label" },
    ];
    const res = await api.post(`/api/v1/models/${id}/preview`, { body: { limit: 2, field_mappings } });
    expectStatus(res, 200);
    expect(res.body.rows).toEqual([
      { id: 1, email: "user1", vip: false },
      { id: 2, email: "user2", vip: false },
    ]);
    expect(res.body.mapped).toEqual([
      { fields: { Email: "user1", Tier: { tier: "gold" }, Label: "USER1#101" } },
      { fields: { Email: "user2", Tier: { tier: "gold" }, Label: "USER2#102" } },
    ]);
    // A template over its limits fails its row, with the reason; the request still answers.
    const runaway = [{ template: "{% for i in (1..100000000) %}{{ email }}{% endfor %}", destination: "Big" }];
    const limited = await api.post(`/api/v1/models/${id}/preview`, { body: { limit: 1, field_mappings: runaway } });
    expectStatus(limited, 200);
    expect(limited.body.mapped?.[0]).toEqual({ error: expect.stringMatching(/limit/i) });

    const bad = (mappings: unknown[]) => api.post(`/api/v1/models/${id}/preview`, { body: { field_mappings: mappings } });
    expectError(await bad([{ template: "{{ email ", destination: "x" }]), 400, "validation_failed", "field_mappings.0.template");
    expectError(await bad([{ template: "{{ nope }}", destination: "x" }]), 400, "validation_failed", "field_mappings.0.template");
    expectError(await bad([{ source: "nope", destination: "x" }]), 400, "validation_failed", "field_mappings.0.source");
    expectError(await bad([{ destination: "x" }]), 400, "validation_failed", "field_mappings.0.source");
  });

  it("previews a query before it is saved, naming sql, source_id or limit when they are wrong", async () => {
    const res = await api.post("/api/v1/models/preview", { body: { source_id: sourceId, sql: USERS_SQL, limit: 2 } });
    expectStatus(res, 200);
    expect(res.body.columns).toEqual([
      { name: "id", type: "int4" },
      { name: "email", type: "text" },
      { name: "vip", type: "bool" },
    ]);
    expect(res.body.rows).toEqual([
      { id: 1, email: "user1", vip: false },
      { id: 2, email: "user2", vip: false },
    ]);
    const body = { source_id: sourceId, sql: USERS_SQL };
    expectError(await api.post("/api/v1/models/preview", { body: { ...body, sql: "DELETE FROM users" } }), 400, "validation_failed", "sql");
    expectError(
      await api.post("/api/v1/models/preview", { body: { ...body, sql: "SELECT nope FROM nowhere" } }),
      400,
      "validation_failed",
      "sql",
    );
    expectError(
      await api.post("/api/v1/models/preview", { body: { ...body, source_id: "src_missing" } }),
      400,
      "validation_failed",
      "source_id",
    );
    expectError(await api.post("/api/v1/models/preview", { body: { ...body, limit: 101 } }), 400, "validation_failed", "limit");
    const other = await newWorkspace("write");
    expectError(await api.post("/api/v1/models/preview", { token: other.token, body }), 400, "validation_failed", "source_id");
  });

  it("validates the preview limit and reports a warehouse that went away as source_error", async () => {
    const id = await createModel();
    expectError(await api.post(`/api/v1/models/${id}/preview`, { body: { limit: 0 } }), 400, "validation_failed", "limit");
    expectError(await api.post(`/api/v1/models/${id}/preview`, { body: { limit: 101 } }), 400, "validation_failed", "limit");
    expectError(await api.post(`/api/v1/models/${id}/preview`, { body: { limit: "5" } }), 400, "validation_failed", "limit");

    const source = await createSource();
    const model = await createModel(undefined, source);
    expectStatus(await api.put(`/api/v1/sources/${source}`, { body: { connection_string: "postgres://etl@127.0.0.1:1/test" } }), 200);
    const res = await api.post(`/api/v1/models/${model}/preview`);
    expectError(res, 422, "source_error");
    expect(res.error?.details).toMatchObject({ warehouse_error: "unreachable" });
  });

  it("refuses missing and under-scoped tokens, and hides other workspaces' models", async () => {
    expectError(await api.get("/api/v1/models", { token: null }), 401, "unauthorized");
    expectError(await api.post("/api/v1/models", { token: "nope", body: modelBody() }), 401, "unauthorized");
    const id = await createModel();

    const reader = await tokenFor("wsp_default", "read");
    expectStatus(await api.get(`/api/v1/models/${id}`, { token: reader }), 200);
    expectError(await api.post("/api/v1/models", { token: reader, body: modelBody() }), 403, "forbidden");
    expectError(await api.put(`/api/v1/models/${id}`, { token: reader, body: { name: "x" } }), 403, "forbidden");
    expectError(await api.delete(`/api/v1/models/${id}`, { token: reader }), 403, "forbidden");
    // Preview reads warehouse rows, not just the catalogue, so it needs write like any POST.
    expectError(await api.post(`/api/v1/models/${id}/preview`, { token: reader }), 403, "forbidden");

    const other = await newWorkspace("write");
    expectError(await api.get(`/api/v1/models/${id}`, { token: other.token }), 404, "not_found");
    expectError(await api.put(`/api/v1/models/${id}`, { token: other.token, body: { name: "mine" } }), 404, "not_found");
    expectError(await api.delete(`/api/v1/models/${id}`, { token: other.token }), 404, "not_found");
    expectError(await api.post(`/api/v1/models/${id}/preview`, { token: other.token }), 404, "not_found");
    const theirs = await api.get("/api/v1/models?limit=200", { token: other.token });
    expect(theirs.body.data).toEqual([]);
  });
});
