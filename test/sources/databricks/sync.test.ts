import { describe, expect, it } from "vitest";
import { api, expectStatus } from "../../harness";
import {
  changeModel,
  createDestination,
  createSync,
  customersTable,
  expectedRows,
  type Mode,
  modelNow,
  runSync,
  WEBHOOK_FIELDS,
  webhookRows,
  webhookState,
  webhookUrl,
} from "../../harness/run";
import { oauthSettings, patSettings, workspace, workspaceState } from "./helpers";

/** A Databricks source through the API (config and credentials as the API takes them). */
async function createDatabricksSource(settings: Record<string, unknown>): Promise<string> {
  const { token, client_id, client_secret, ...config } = settings;
  const credentials = token !== undefined ? { token } : { client_id, client_secret };
  const res = await api.post("/api/v1/sources", { body: { name: "dbx", type: "databricks", config, credentials } });
  expectStatus(res, 201);
  return res.body.id;
}

/** A webhook sync in `mode` of a model on the Databricks source over `table`. */
async function databricksSync(sourceId: string, table: string, mode: Mode, extra: Record<string, unknown> = {}): Promise<string> {
  const model = await api.post("/api/v1/models", {
    body: { name: table, source_id: sourceId, sql: `SELECT id, email, name, plan, score FROM ${table}`, primary_key: "id" },
  });
  expectStatus(model, 201);
  const destinationId = await createDestination({ name: "receiver", type: "webhook", config: { url: webhookUrl(table), batch_size: 25 } });
  return createSync(model.body.id, destinationId, mode, WEBHOOK_FIELDS, extra);
}

describe("Databricks source end to end", () => {
  it.each(["upsert", "mirror", "append"] as const)(
    "syncs a model in %s mode over several chunks; a no-change run sends nothing",
    async (mode) => {
      const host = await workspace({ chunk_rows: 16 });
      const table = await customersTable(60);
      const settings = mode === "mirror" ? oauthSettings(host) : patSettings(host);
      const syncId = await databricksSync(await createDatabricksSource(settings), table, mode);

      const first = await runSync(syncId);
      expect(first, JSON.stringify(first)).toMatchObject({ status: "succeeded", rows_processed: 60, rows_created: 60, rows_failed: 0 });
      const before = await modelNow(table);
      expect(webhookRows(await webhookState(table))).toEqual(before);

      await changeModel(table, 60);
      const second = await runSync(syncId);
      expect(second, JSON.stringify(second)).toMatchObject({ status: "succeeded", rows_failed: 0 });
      const after = await modelNow(table);
      const state = await webhookState(table);
      expect(webhookRows(state)).toEqual(expectedRows(mode, before, after));

      const downloads = (await workspaceState(host)).downloads.length;
      const third = await runSync(syncId);
      expect(third).toMatchObject({ status: "succeeded", rows_created: 0, rows_updated: 0, rows_deleted: 0 });
      expect((await webhookState(table)).operations).toBe(state.operations);
      // The warehouse was read again (4 chunks of 16, and the row estimate's plan), the destination was not called.
      const read = (await workspaceState(host)).downloads.slice(downloads).map((d) => d.chunk);
      expect(read.sort()).toEqual([0, 0, 1, 2, 3]);
    },
  );

  it("puts the sync in error at once when Databricks refuses the token", async () => {
    const host = await workspace();
    const table = await customersTable(10);
    const sourceId = await createDatabricksSource(patSettings(host));
    const syncId = await databricksSync(sourceId, table, "upsert", { schedule: { type: "interval", interval_minutes: 30 } });
    expectStatus(await api.put(`/api/v1/sources/${sourceId}`, { body: { credentials: { token: "dapi-revoked" } } }), 200);
    const run = await runSync(syncId);
    expect(run.status).toBe("failed");
    expect(run.error?.code).toBe("auth_failed");
    const after = await api.get(`/api/v1/syncs/${syncId}`);
    expect(after.body).toMatchObject({ status: "error", next_run_at: null });
    expect(after.body.status_reason).toMatch(/UNAUTHENTICATED/);
  });

  it("is created through the API with config returned, credentials never returned, and one credential mode", async () => {
    const host = await workspace();
    const created = await api.post("/api/v1/sources", {
      body: {
        name: "dbx",
        type: "databricks",
        config: { host, warehouse_id: "wh-test", catalog: "main", schema: "public" },
        credentials: { token: "dapi-test-token" },
      },
    });
    expectStatus(created, 201);
    expect(created.body.config).toEqual({ host, warehouse_id: "wh-test", catalog: "main", schema: "public" });
    expect(JSON.stringify(created.body)).not.toContain("dapi-test-token");
    expect((await api.post(`/api/v1/sources/${created.body.id}/test`)).body).toMatchObject({ ok: true });

    const config = { host, warehouse_id: "wh-test" };
    const both = await api.post("/api/v1/sources", {
      body: { name: "dbx", type: "databricks", config, credentials: { token: "t", client_id: "a", client_secret: "b" } },
    });
    expect([both.status, both.error?.message]).toEqual([400, expect.stringMatching(/^credentials\.token: .*not both/)]);
    const none = await api.post("/api/v1/sources", { body: { name: "dbx", type: "databricks", config, credentials: {} } });
    expect([none.status, none.error?.message]).toEqual([400, expect.stringMatching(/^credentials\.token: give token/)]);
    const half = await api.post("/api/v1/sources", { body: { name: "dbx", type: "databricks", config, credentials: { client_id: "a" } } });
    expect([half.status, half.error?.message]).toEqual([
      400,
      expect.stringMatching(/^credentials\.client_secret: OAuth M2M needs both client_id and client_secret/),
    ]);
    const badHost = await api.post("/api/v1/sources", {
      body: {
        name: "dbx",
        type: "databricks",
        config: { host: "dbc-1.cloud.databricks.com", warehouse_id: "wh" },
        credentials: { token: "t" },
      },
    });
    expect(badHost.status).toBe(400);
    expect(JSON.stringify(badHost.body)).toMatch(/host/);
  });
});
