import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/lib/crypto";
import { api, detailPaths, expectError, expectStatus, newWorkspace, tokenFor, WAREHOUSE_URL } from "../harness";

const sourceBody = { name: "warehouse", type: "postgres", connection_string: WAREHOUSE_URL };

async function createToken(scope: "read" | "write" | "admin", token?: string) {
  const res = await api.post("/api/v1/tokens", { token, body: { name: `${scope} key`, scope } });
  expectStatus(res, 201);
  return res.body;
}

describe("tokens", () => {
  it("creates a token shown once, stored only as its SHA-256 hash", async () => {
    const res = await api.post("/api/v1/tokens", { body: { name: "CI deploys", scope: "write" } });
    expectStatus(res, 201);
    const { id, token, prefix } = res.body;
    expect(id).toMatch(/^tok_[0-9a-z]{26}$/);
    // 32 random bytes in URL-safe base64: 43 characters after the prefix.
    expect(token).toMatch(/^retl_[A-Za-z0-9_-]{43}$/);
    expect(prefix).toBe(token.slice(0, 12));
    expect(res.body).toMatchObject({ name: "CI deploys", scope: "write", last_used_at: null, revoked_at: null });

    const row = await env.DB.prepare("SELECT * FROM api_tokens WHERE id = ?").bind(id).first<Record<string, string>>();
    expect(row?.token_hash).toBe(await sha256Hex(token));
    expect(JSON.stringify(row)).not.toContain(token.slice(12));

    const got = await api.get(`/api/v1/tokens/${id}`);
    expectStatus(got, 200);
    const { token: _shownOnce, ...metadata } = res.body;
    expect(got.body).toEqual(metadata);
    expect(JSON.stringify(got.body)).not.toContain(token.slice(12));
    expect(JSON.stringify(got.body)).not.toContain(row?.token_hash);

    const list = await api.get("/api/v1/tokens?limit=200");
    expectStatus(list, 200);
    expect(list.body.data.find((t) => t.id === id)).toEqual(metadata);
    expect(JSON.stringify(list.body)).not.toMatch(/token_hash|[0-9a-f]{64}/);
  });

  it("gives each token exactly its scope", async () => {
    const reader = await createToken("read");
    const writer = await createToken("write");
    const admin = await createToken("admin");

    expectStatus(await api.get("/api/v1/sources", { token: reader.token }), 200);
    expectError(await api.post("/api/v1/sources", { token: reader.token, body: sourceBody }), 403, "forbidden");
    expectError(await api.get("/api/v1/tokens", { token: reader.token }), 403, "forbidden");

    expectStatus(await api.post("/api/v1/sources", { token: writer.token, body: sourceBody }), 201);
    expectError(await api.get("/api/v1/tokens", { token: writer.token }), 403, "forbidden");
    expectError(await api.post("/api/v1/tokens", { token: writer.token, body: { name: "escalate", scope: "admin" } }), 403, "forbidden");

    expectStatus(await api.get("/api/v1/tokens", { token: admin.token }), 200);
    expectStatus(await api.post("/api/v1/tokens", { token: admin.token, body: { name: "made by admin", scope: "read" } }), 201);
  });

  it("records when a token was last used", async () => {
    const writer = await createToken("write");
    expectStatus(await api.get("/api/v1/sources", { token: writer.token }), 200);
    await expect.poll(async () => (await api.get(`/api/v1/tokens/${writer.id}`)).body.last_used_at).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it("revokes a token, which then answers 401; revoking again keeps the first time", async () => {
    const writer = await createToken("write");
    expectStatus(await api.get("/api/v1/sources", { token: writer.token }), 200);

    const revoked = await api.delete(`/api/v1/tokens/${writer.id}`);
    expectStatus(revoked, 200);
    expect(revoked.body.revoked_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect("token" in revoked.body, JSON.stringify(revoked.body)).toBe(false);

    expectError(await api.get("/api/v1/sources", { token: writer.token }), 401, "unauthorized");
    expectError(await api.post("/api/v1/sources", { token: writer.token, body: sourceBody }), 401, "unauthorized");

    const again = await api.delete(`/api/v1/tokens/${writer.id}`);
    expectStatus(again, 200);
    expect(again.body.revoked_at).toBe(revoked.body.revoked_at);
    expect((await api.get(`/api/v1/tokens/${writer.id}`)).body.revoked_at).toBe(revoked.body.revoked_at);
  });

  it("does not let a workspace revoke its last admin token", async () => {
    const { token: firstAdmin } = await newWorkspace("admin");
    const own = await api.get("/api/v1/tokens", { token: firstAdmin });
    expectStatus(own, 200);
    const firstId = own.body.data[0]?.id;
    const res = await api.delete(`/api/v1/tokens/${firstId}`, { token: firstAdmin });
    expectError(res, 409, "conflict");
    expect(res.error?.message).toContain("last admin token");

    const second = await createToken("admin", firstAdmin);
    expectStatus(await api.delete(`/api/v1/tokens/${firstId}`, { token: second.token }), 200);
    expectError(await api.get("/api/v1/tokens", { token: firstAdmin }), 401, "unauthorized");
    expectError(await api.delete(`/api/v1/tokens/${second.id}`, { token: second.token }), 409, "conflict");
  });

  it("names each bad field", async () => {
    const res = await api.post("/api/v1/tokens", { body: { name: "", scope: "root", extra: 1 } });
    expectError(res, 400, "validation_failed");
    const paths = detailPaths(res);
    expect(paths).toEqual(expect.arrayContaining(["name", "scope"]));
    expect(JSON.stringify(res.error?.details)).toContain("extra");
    expectError(await api.post("/api/v1/tokens", { body: { name: "x" } }), 400, "validation_failed", "scope");
    expectError(await api.post("/api/v1/tokens", { raw: "{" }), 400, "bad_request");
    expectError(await api.get("/api/v1/tokens?limit=0"), 400, "validation_failed", "limit");
  });

  it("pages with limit and cursor, newest first", async () => {
    const { token } = await newWorkspace("admin");
    const ids = [];
    for (let i = 0; i < 2; i++) ids.push((await createToken("read", token)).id);
    const first = await api.get("/api/v1/tokens?limit=2", { token });
    expect(first.body.data.map((t) => t.id)).toEqual([ids[1], ids[0]]);
    const second = await api.get(`/api/v1/tokens?limit=2&cursor=${first.body.next_cursor}`, { token });
    // The workspace's own first token, made by the harness.
    expect(second.body.data).toHaveLength(1);
    expect(second.body.next_cursor).toBeNull();
  });

  it("keeps tokens per workspace: no token, bad token, and another workspace's token are refused", async () => {
    expectError(await api.get("/api/v1/tokens", { token: null }), 401, "unauthorized");
    expectError(await api.post("/api/v1/tokens", { token: "retl_nope", body: { name: "x", scope: "read" } }), 401, "unauthorized");

    const mine = await createToken("read");
    const other = await newWorkspace("admin");
    expectError(await api.get(`/api/v1/tokens/${mine.id}`, { token: other.token }), 404, "not_found");
    expectError(await api.delete(`/api/v1/tokens/${mine.id}`, { token: other.token }), 404, "not_found");
    const theirs = await api.get("/api/v1/tokens", { token: other.token });
    expect(theirs.body.data.map((t) => t.id)).not.toContain(mine.id);
    expect(theirs.body.data).toHaveLength(1);
    // The token still works: the other workspace's revoke did nothing.
    expectStatus(await api.get("/api/v1/sources", { token: mine.token }), 200);

    // A token made in a workspace acts in that workspace only.
    const made = await createToken("write", other.token);
    const created = await api.post("/api/v1/sources", { token: made.token, body: sourceBody });
    expectStatus(created, 201);
    expectError(await api.get(`/api/v1/sources/${created.body.id}`), 404, "not_found");

    const reader = await tokenFor(other.workspaceId, "read");
    expectError(await api.delete(`/api/v1/tokens/${made.id}`, { token: reader }), 403, "forbidden");
  });

  it("replays a create under the same Idempotency-Key without keeping the plaintext token in D1", async () => {
    const key = `k-${crypto.randomUUID()}`;
    const body = { name: "retried", scope: "read" };
    const a = await api.post("/api/v1/tokens", { body, headers: { "idempotency-key": key } });
    const b = await api.post("/api/v1/tokens", { body, headers: { "idempotency-key": key } });
    expectStatus(a, 201);
    expectStatus(b, 201);
    expect(b.headers.get("idempotent-replayed")).toBe("true");
    expect(b.body).toEqual(a.body);
    const stored = await env.DB.prepare("SELECT body FROM idempotency_keys WHERE key = ?").bind(key).first<{ body: string }>();
    expect(stored?.body).toMatch(/^v1\./);
    expect(stored?.body).not.toContain(a.body.token);
  });
});
