import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, detailPaths, createSource, expectError, expectStatus, newWorkspace, tokenFor, WAREHOUSE_URL } from "../harness";

describe("sources", () => {
  it("creates, lists, gets, updates and deletes a source, masking its password", async () => {
    const created = await api.post("/api/v1/sources", {
      body: { name: "prod", type: "postgres", connection_string: "postgres://etl:hunter2@db.example.com:5432/analytics" },
    });
    expectStatus(created, 201);
    expect(created.body.id).toMatch(/^src_[0-9a-z]{26}$/);
    expect(created.body.connection_string).toBe("postgres://etl:****@db.example.com:5432/analytics");

    const row = await env.DB.prepare("SELECT * FROM sources WHERE id = ?").bind(created.body.id).first<Record<string, string>>();
    expect(JSON.stringify(row)).not.toContain("hunter2");

    const got = await api.get(`/api/v1/sources/${created.body.id}`);
    expectStatus(got, 200);
    expect(got.body).toEqual(created.body);

    const list = await api.get("/api/v1/sources?limit=200");
    expect(list.body.data.map((s) => s.id)).toContain(created.body.id);

    const updated = await api.put(`/api/v1/sources/${created.body.id}`, { body: { name: "renamed" } });
    expectStatus(updated, 200);
    expect(updated.body.name).toBe("renamed");

    expectStatus(await api.delete(`/api/v1/sources/${created.body.id}`), 204);
    expectError(await api.get(`/api/v1/sources/${created.body.id}`), 404, "not_found");
  });

  it("pages with limit and cursor, newest first", async () => {
    const { token } = await newWorkspace();
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await createSource(token));
    const first = await api.get("/api/v1/sources?limit=2", { token });
    expect(first.body.data.map((s) => s.id)).toEqual([ids[4], ids[3]]);
    const second = await api.get(`/api/v1/sources?limit=2&cursor=${first.body.next_cursor}`, { token });
    expect(second.body.data.map((s) => s.id)).toEqual([ids[2], ids[1]]);
    const third = await api.get(`/api/v1/sources?limit=2&cursor=${second.body.next_cursor}`, { token });
    expect(third.body.data.map((s) => s.id)).toEqual([ids[0]]);
    expect(third.body.next_cursor).toBeNull();
  });

  it("names each bad field", async () => {
    const res = await api.post("/api/v1/sources", { body: { name: "", type: "oracle", connection_string: "nope", extra: 1 } });
    expectError(res, 400, "validation_failed");
    const paths = detailPaths(res);
    expect(paths).toEqual(expect.arrayContaining(["name", "type", "connection_string"]));
    expect(JSON.stringify(res.error?.details)).toContain("extra");
  });

  it("rejects malformed JSON, wrong content type and huge bodies without a 500", async () => {
    expectError(await api.post("/api/v1/sources", { raw: "{not json" }), 400, "bad_request");
    expectError(
      await api.post("/api/v1/sources", { raw: "name=x", headers: { "content-type": "application/x-www-form-urlencoded" } }),
      415,
      "unsupported_media_type",
    );
    const huge = JSON.stringify({ name: "x".repeat(300_000), type: "postgres", connection_string: WAREHOUSE_URL });
    expectError(await api.post("/api/v1/sources", { raw: huge }), 413, "payload_too_large");
  });

  it("refuses missing, bad and under-scoped tokens, and hides other workspaces' sources", async () => {
    expectError(await api.get("/api/v1/sources", { token: null }), 401, "unauthorized");
    expectError(await api.get("/api/v1/sources", { token: "nope" }), 401, "unauthorized");
    const id = await createSource();
    const other = await newWorkspace();
    expectError(await api.get(`/api/v1/sources/${id}`, { token: other.token }), 404, "not_found");
    expectError(await api.delete(`/api/v1/sources/${id}`, { token: other.token }), 404, "not_found");
    const reader = await tokenFor(other.workspaceId, "read");
    expectStatus(await api.get("/api/v1/sources", { token: reader }), 200);
    expectError(
      await api.post("/api/v1/sources", { token: reader, body: { name: "x", type: "postgres", connection_string: WAREHOUSE_URL } }),
      403,
      "forbidden",
    );
  });

  it("replays a POST with the same Idempotency-Key and refuses the key for another body", async () => {
    const headers = { "idempotency-key": `k-${crypto.randomUUID()}` };
    const body = { name: "once", type: "postgres", connection_string: WAREHOUSE_URL };
    const a = await api.post("/api/v1/sources", { body, headers });
    const b = await api.post("/api/v1/sources", { body, headers });
    expectStatus(a, 201);
    expectStatus(b, 201);
    expect(b.body.id).toBe(a.body.id);
    expect(b.headers.get("idempotent-replayed")).toBe("true");
    expectError(await api.post("/api/v1/sources", { body: { ...body, name: "other" }, headers }), 409, "idempotency_conflict");
  });
});
