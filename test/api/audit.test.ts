import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { auditChanges, maskSecrets } from "../../src/api/audit";
import {
  type ApiResult,
  type AuditEvent,
  api,
  expectError,
  type Page,
  expectStatus,
  newWorkspace,
  tokenFor,
  WAREHOUSE_URL,
} from "../harness";
import { customersTable } from "../harness/run";

/** Every audit event of a resource (or of the workspace, given ""), newest first, all pages (2 a page, so paging is exercised). */
async function eventsOf(token: string, resourceId: string): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  let cursor: string | null = null;
  do {
    const res: ApiResult<Page<AuditEvent>> = await api.get(
      `/api/v1/audit-events?limit=2${resourceId ? `&resource_id=${resourceId}` : ""}${cursor ? `&cursor=${cursor}` : ""}`,
      { token },
    );
    expectStatus(res, 200);
    out.push(...res.body.data);
    cursor = res.body.next_cursor;
  } while (cursor);
  return out;
}

describe("audit log", () => {
  it("records every create, update, delete and lifecycle action with its actor, request id and masked changes", async () => {
    const { workspaceId, token: admin } = await newWorkspace("admin");
    // A write token made through the API, so the actor has a name we chose.
    const made = await api.post("/api/v1/tokens", { token: admin, body: { name: "ci deployer", scope: "write" } });
    expectStatus(made, 201);
    const writer = made.body.token;
    const writerId = made.body.id;

    const password = "s3cret-warehouse-pass";
    const newPassword = "n3w-warehouse-pass-2";
    const warehouse = new URL(WAREHOUSE_URL);
    const withPassword = (p: string) => {
      const u = new URL(warehouse);
      u.password = p;
      return u.toString();
    };
    const source = await api.post("/api/v1/sources", {
      token: writer,
      body: { name: "warehouse", type: "postgres", connection_string: withPassword(password) },
    });
    expectStatus(source, 201);
    const sourceId = source.body.id;
    expectStatus(
      await api.put(`/api/v1/sources/${sourceId}`, {
        token: writer,
        body: { name: "warehouse 2", connection_string: withPassword(newPassword) },
      }),
      200,
    );

    const table = await customersTable(3);
    const model = await api.post("/api/v1/models", {
      token: writer,
      body: { name: "customers", source_id: sourceId, sql: `SELECT id, email, name FROM ${table}`, primary_key: "id" },
    });
    expectStatus(model, 201);

    const signing = "whsec-signing-secret-value-1";
    const headerSecret = "Bearer header-secret-value-42";
    const destination = await api.post("/api/v1/destinations", {
      token: writer,
      body: {
        name: "receiver",
        type: "webhook",
        config: { url: `${env.WEBHOOK_RECEIVER_URL}/hook/${table}` },
        credentials: { signing_secret: signing, headers: { Authorization: headerSecret } },
      },
    });
    expectStatus(destination, 201);
    const destinationId = destination.body.id;
    const rotatedSigning = "whsec-rotated-secret-value-2";
    expectStatus(
      await api.put(`/api/v1/destinations/${destinationId}`, { token: writer, body: { credentials: { signing_secret: rotatedSigning } } }),
      200,
    );

    const sync = await api.post("/api/v1/syncs", {
      token: writer,
      body: {
        name: "customers",
        model_id: model.body.id,
        destination_id: destinationId,
        mode: "upsert",
        schedule: { type: "manual" },
        field_mappings: [{ source: "email", destination: "Email" }],
      },
    });
    expectStatus(sync, 201);
    const syncId = sync.body.id;
    const firstSecret = sync.body.trigger_url.split("/").at(-1) ?? "";
    const update = await api.put(`/api/v1/syncs/${syncId}`, { token: writer, body: { name: "customers v2" } });
    expectStatus(update, 200);
    expectStatus(await api.post(`/api/v1/syncs/${syncId}/pause`, { token: writer }), 200);
    expectStatus(await api.post(`/api/v1/syncs/${syncId}/resume`, { token: writer }), 200);
    const trigger = await api.post(`/api/v1/syncs/${syncId}/trigger`, { token: writer, body: { full_resync: true } });
    expectStatus(trigger, 202);
    const rotated = await api.post(`/api/v1/syncs/${syncId}/trigger-secret`, { token: writer });
    expectStatus(rotated, 200);
    // A trigger webhook has no token: the log names the webhook.
    const hook = await api.post(`/api/v1/hooks/syncs/${syncId}/${rotated.body.secret}`, { token: null });
    expectStatus(hook, 202);
    expectStatus(await api.delete(`/api/v1/syncs/${syncId}`, { token: writer }), 200);
    expectStatus(await api.post(`/api/v1/syncs/${syncId}/restore`, { token: writer }), 200);
    expectStatus(await api.delete(`/api/v1/syncs/${syncId}?permanent=true`, { token: writer }), 204);
    expectStatus(await api.delete(`/api/v1/tokens/${writerId}`, { token: admin }), 200);

    const syncEvents = await eventsOf(admin, syncId);
    expect(syncEvents.map((e) => e.action)).toEqual([
      "delete",
      "restore",
      "archive",
      "trigger",
      "rotate_trigger_secret",
      "trigger",
      "resume",
      "pause",
      "update",
      "create",
    ]);
    const byWriter = syncEvents.filter((e) => e.action !== "trigger" || e.actor.token_id !== null);
    expect(byWriter.length).toBe(9);
    for (const e of byWriter) {
      expect(e.actor, JSON.stringify(e)).toEqual({ token_id: writerId, name: "ci deployer" });
      expect(e.resource).toEqual({ type: "sync", id: syncId });
    }
    expect(syncEvents[3]?.actor).toEqual({ token_id: null, name: "trigger webhook" });
    const at = (action: string) => syncEvents.find((e) => e.action === action);
    expect(at("update")?.changes).toEqual({ name: { before: "customers", after: "customers v2" } });
    expect(at("update")?.request_id).toBe(update.headers.get("x-request-id"));
    expect(at("pause")?.changes.status).toEqual({ before: "created", after: "paused" });
    expect(at("archive")?.changes.status).toEqual({ before: "active", after: "archived" });
    expect(at("create")?.changes.mode).toEqual({ before: null, after: "upsert" });
    expect(at("delete")?.changes.name).toEqual({ before: "customers v2", after: null });
    expect(syncEvents.at(-5)?.changes).toMatchObject({
      run_id: { before: null, after: trigger.body.id },
      options: { before: null, after: { full_resync: true } },
    });
    expect(at("rotate_trigger_secret")?.changes.trigger_url).toMatchObject({ secret_changed: true });
    expect(at("create")?.changes.trigger_url?.after).toMatch(/\/\*\*\*\*$/);

    const sourceEvents = await eventsOf(admin, sourceId);
    expect(sourceEvents.map((e) => e.action)).toEqual(["update", "create"]);
    expect(sourceEvents[0]?.changes.connection_string).toMatchObject({ secret_changed: true });
    expect(sourceEvents[0]?.changes.name).toEqual({ before: "warehouse", after: "warehouse 2" });
    const destinationEvents = await eventsOf(admin, destinationId);
    expect(destinationEvents.map((e) => e.action)).toEqual(["update", "create"]);
    expect(destinationEvents[0]?.changes.credentials).toMatchObject({ secret_changed: true });
    const tokenEvents = await eventsOf(admin, writerId);
    expect(tokenEvents.map((e) => [e.action, e.actor.name])).toEqual([
      ["revoke", "admin test token"],
      ["create", "admin test token"],
    ]);

    // No secret is in the log, in any form the requests carried it.
    const everything = await eventsOf(admin, "");
    const all = JSON.stringify([...syncEvents, ...sourceEvents, ...destinationEvents, ...tokenEvents, ...everything]);
    for (const secret of [
      password,
      newPassword,
      signing,
      rotatedSigning,
      headerSecret,
      "header-secret-value-42",
      firstSecret,
      rotated.body.secret,
      writer,
    ]) {
      expect(all, `the log holds ${secret}`).not.toContain(secret);
    }
    expect(all).toContain("****");

    // Only this workspace's events, and only for admin tokens.
    const other = await newWorkspace("admin");
    expect((await api.get(`/api/v1/audit-events?resource_id=${syncId}`, { token: other.token })).body.data).toEqual([]);
    expectError(await api.get("/api/v1/audit-events", { token: await tokenFor(workspaceId, "read") }), 403, "forbidden");
    expectError(await api.get("/api/v1/audit-events", { token: await tokenFor(workspaceId, "write") }), 403, "forbidden");
    expectError(await api.get("/api/v1/audit-events?limit=0", { token: admin }), 400, "validation_failed", "limit");
    expectError(
      await api.get(`/api/v1/audit-events?resource_id=${"x".repeat(65)}`, { token: admin }),
      400,
      "validation_failed",
      "resource_id",
    );
  });

  it("records alert channels' create, update and delete, their secrets masked", async () => {
    const { token } = await newWorkspace("admin");
    const routingKey = "0123456789abcdef0123456789abcdef";
    const created = await api.post("/api/v1/alert-channels", {
      token,
      body: { name: "on call", type: "pagerduty", config: { routing_key: routingKey } },
    });
    expectStatus(created, 201);
    const id = created.body.id;
    expectStatus(await api.put(`/api/v1/alert-channels/${id}`, { token, body: { name: "on call (EU)" } }), 200);
    expectStatus(await api.delete(`/api/v1/alert-channels/${id}`, { token }), 204);
    const events = await eventsOf(token, id);
    expect(events.map((e) => [e.action, e.resource.type])).toEqual([
      ["delete", "alert_channel"],
      ["update", "alert_channel"],
      ["create", "alert_channel"],
    ]);
    expect(JSON.stringify(events)).not.toContain(routingKey);
    expect(JSON.stringify(events)).toContain("on call (EU)");
  });

  it("a refused request records nothing", async () => {
    const { token } = await newWorkspace("admin");
    const before = (await api.get("/api/v1/audit-events", { token })).body.data.length;
    expectError(await api.post("/api/v1/sources", { token, body: { name: "x", type: "postgres" } }), 400, "validation_failed");
    expectError(await api.post("/api/v1/syncs/syn_missing/pause", { token }), 404, "not_found");
    expect((await api.get("/api/v1/audit-events", { token })).body.data.length).toBe(before);
  });
});

describe("audit changes (pure)", () => {
  it("keeps changed fields only, masks secret-named values a serializer left in the clear, flags replaced secrets", () => {
    expect(
      auditChanges(
        { id: "x", name: "a", updated_at: "1", config: { url: "https://h" }, credentials: { api_key: "****abcd" } },
        { id: "x", name: "b", updated_at: "2", config: { url: "https://h" }, credentials: { api_key: "****wxyz" } },
        ["credentials"],
      ),
    ).toEqual({
      name: { before: "a", after: "b" },
      credentials: { before: { api_key: "****abcd" }, after: { api_key: "****wxyz" }, secret_changed: true },
    });
    expect(maskSecrets({ routing_key: "R0123456789abcdef", headers: { authorization: "Bearer abc" }, note: "plain" })).toEqual({
      routing_key: "****cdef",
      headers: { authorization: "****" },
      note: "plain",
    });
    expect(maskSecrets({ connection_string: "postgres://u:pw@h/db" })).toEqual({ connection_string: "postgres://u:****@h/db" });
  });
});
