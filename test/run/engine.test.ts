import { abortAllDurableObjects, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { RunEngine } from "../../src/run/driver";
import { diffCounters } from "../../src/run/steps/diff";
import { api, expectStatus, WAREHOUSE_URL } from "../harness";
import {
  configureWebhook,
  customersTable,
  modelRows,
  pg,
  runKilledBetweenSteps,
  runKilledInSteps,
  runSync,
  stubOf,
  waitForRun,
  webhookState,
  webhookSync,
} from "../harness/run";

const N = 3_000;

/** Inserts 5 rows, updates 10, deletes 7 in the model's table. */
async function change(table: string) {
  await pg(
    `INSERT INTO ${table} SELECT g::text, 'new' || g || '@example.com', 'New ' || g, 'free', g FROM generate_series(${N + 1}, ${N + 5}) g`,
  );
  await pg(`UPDATE ${table} SET plan = 'enterprise' WHERE id::int BETWEEN 11 AND 20`);
  await pg(`DELETE FROM ${table} WHERE id::int BETWEEN 101 AND 107`);
}

describe("run engine end to end (Postgres → R2 → diff → Queue → webhook)", () => {
  it("mirror: creates everything, then exactly the inserts, updates and deletes; the destination equals the model", async () => {
    const table = await customersTable(N);
    const { syncId, endpoint } = await webhookSync(table, "mirror");
    const first = await runSync(syncId);
    expect(first, JSON.stringify(first)).toMatchObject({
      status: "succeeded",
      rows_processed: N,
      rows_created: N,
      rows_updated: 0,
      rows_deleted: 0,
      rows_failed: 0,
      phase: "done",
    });
    expect(first.duration_ms).toBeGreaterThan(0);
    expect((await webhookState(endpoint)).rows).toEqual(await modelRows(table));

    await change(table);
    const second = await runSync(syncId);
    expect(second).toMatchObject({
      status: "succeeded",
      rows_processed: N - 2,
      rows_created: 5,
      rows_updated: 10,
      rows_deleted: 7,
      rows_unchanged: N - 7 - 10,
      rows_failed: 0,
    });
    const state = await webhookState(endpoint);
    expect(state.rows).toEqual(await modelRows(table));
    expect(Math.max(...Object.values(state.creates))).toBe(1);

    const third = await runSync(syncId);
    expect(third).toMatchObject({ status: "succeeded", rows_created: 0, rows_updated: 0, rows_deleted: 0, rows_unchanged: N - 2 });
    expect((await webhookState(endpoint)).operations).toBe(state.operations);
  });

  it("diffs and plans each partition once per run: deliver and commit read the stored plan", async () => {
    const table = await customersTable(N);
    const { syncId, endpoint } = await webhookSync(table, "mirror");
    await runSync(syncId);
    await change(table);
    const before = diffCounters.partitionsPlanned;
    const run = await runSync(syncId);
    expect(run).toMatchObject({ status: "succeeded", rows_created: 5, rows_updated: 10, rows_deleted: 7 });
    // The old engine diffed every partition three times (diff, deliver, commit).
    expect(diffCounters.partitionsPlanned - before).toBe(run.progress.partitions);
    expect((await webhookState(endpoint)).rows).toEqual(await modelRows(table));
  });

  it("dry run: counts the plan, sends nothing, keeps the snapshot; the next run sends exactly that plan", async () => {
    const table = await customersTable(N);
    const { syncId, endpoint } = await webhookSync(table, "mirror");
    await runSync(syncId);
    await change(table);
    const before = await webhookState(endpoint);
    const dry = await runSync(syncId, { dry_run: true });
    expect(dry).toMatchObject({
      status: "succeeded",
      options: { dry_run: true },
      rows_processed: N - 2,
      rows_unchanged: N - 7 - 10,
      rows_created: 0,
      rows_updated: 0,
      rows_deleted: 0,
      rows_failed: 0,
    });
    expect(dry.progress).toMatchObject({
      planned_creates: 5,
      planned_updates: 10,
      planned_upserts: 0,
      planned_deletes: 7,
      operations_planned: 22,
      mass_delete_blocked: 0,
      batches_sent: 0,
      partitions_committed: 0,
    });
    expect((await webhookState(endpoint)).requests).toBe(before.requests);
    // The snapshot is the one before the preview: the real run finds the same changes.
    const real = await runSync(syncId);
    expect(real).toMatchObject({ status: "succeeded", rows_created: 5, rows_updated: 10, rows_deleted: 7 });
    const afterReal = await webhookState(endpoint);
    expect(afterReal.rows).toEqual(await modelRows(table));

    // A model that lost most of its rows: the preview says the mass-delete guard would stop the run.
    await pg(`DELETE FROM ${table} WHERE id::int > 100`);
    const guarded = await runSync(syncId, { dry_run: true });
    expect(guarded.status).toBe("succeeded");
    expect(guarded.progress).toMatchObject({ planned_deletes: N + 5 - 7 - 100, mass_delete_blocked: 1 });
    expect((await webhookState(endpoint)).requests).toBe(afterReal.requests);
  });

  it("refuses a dry run while a run is in flight or queued, and takes it once the sync is idle", async () => {
    const table = await customersTable(50);
    const { syncId } = await webhookSync(table, "upsert");
    const res = await api.post(`/api/v1/syncs/${syncId}/trigger`);
    expectStatus(res, 202);
    const refused = await api.post(`/api/v1/syncs/${syncId}/trigger`, { body: { dry_run: true } });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: "conflict", message: expect.stringMatching(/dry run/) });
    await waitForRun(syncId, res.body.id);
    const dry = await runSync(syncId, { dry_run: true });
    expect(dry).toMatchObject({ status: "succeeded", options: { dry_run: true }, rows_processed: 50 });
  });

  it("upsert: sends new and changed rows as upserts and never deletes", async () => {
    const table = await customersTable(N);
    const { syncId, endpoint } = await webhookSync(table, "upsert");
    await runSync(syncId);
    await change(table);
    const run = await runSync(syncId);
    expect(run).toMatchObject({ status: "succeeded", rows_created: 5, rows_updated: 10, rows_deleted: 0 });
    const state = await webhookState(endpoint);
    expect(Object.keys(state.rows)).toHaveLength(N + 5);
    expect(state.rows["101"]).toBeDefined();
    expect(state.rows["15"]?.Plan).toBe("enterprise");
  });

  it("append: sends only new rows", async () => {
    const table = await customersTable(N);
    const { syncId, endpoint } = await webhookSync(table, "append");
    await runSync(syncId);
    await change(table);
    const run = await runSync(syncId);
    expect(run).toMatchObject({ status: "succeeded", rows_created: 5, rows_updated: 0, rows_deleted: 0 });
    const state = await webhookState(endpoint);
    expect(state.rows["15"]?.Plan).not.toBe("enterprise");
    expect(Object.keys(state.rows)).toHaveLength(N + 5);
  });

  it("never sends duplicate or null primary keys; lists them as failed rows with a reason", async () => {
    const table = await customersTable(50);
    await pg(`ALTER TABLE ${table} DROP CONSTRAINT ${table}_pkey`);
    await pg(`ALTER TABLE ${table} ALTER COLUMN id DROP NOT NULL`);
    await pg(`INSERT INTO ${table} VALUES ('7', 'dup@example.com', 'Dup', 'free', 7), (NULL, 'null@example.com', 'Null', 'free', 0)`);
    const { syncId, endpoint } = await webhookSync(table, "mirror");
    const run = await runSync(syncId);
    expect(run).toMatchObject({ status: "partial", rows_processed: 52, rows_created: 49, rows_failed: 3 });
    const state = await webhookState(endpoint);
    expect(state.rows["7"]).toBeUndefined();
    expect(Object.keys(state.rows)).toHaveLength(49);
    const errors = await api.get(`/api/v1/syncs/${syncId}/runs/${run.id}/errors`);
    expectStatus(errors, 200);
    const messages = errors.body.data.map((e) => `${e.primary_key}: ${e.message}`);
    expect(messages.filter((m: string) => m.startsWith("7:") && /appears 2 times/.test(m))).toHaveLength(2);
    expect(messages.filter((m: string) => m.startsWith("null:") && /null|empty/i.test(m))).toHaveLength(1);
  });

  it("retries a row the destination rejected on every run until it succeeds, without duplicate creates", async () => {
    const table = await customersTable(200);
    const { syncId, endpoint } = await webhookSync(table, "mirror");
    await configureWebhook(endpoint, { fail_keys: { "42": "Email: invalid domain" } });
    const first = await runSync(syncId);
    expect(first).toMatchObject({ status: "partial", rows_created: 199, rows_failed: 1 });
    const errors = await api.get(`/api/v1/syncs/${syncId}/runs/${first.id}/errors`);
    expect(errors.body.data).toEqual([
      expect.objectContaining({ primary_key: "42", operation: "create", message: "Email: invalid domain" }),
    ]);

    // Nothing changed in the model, but the failed row is sent again.
    const second = await runSync(syncId);
    expect(second).toMatchObject({ status: "partial", rows_created: 0, rows_failed: 1, rows_unchanged: 199 });

    await configureWebhook(endpoint, { fail_keys: {} });
    const third = await runSync(syncId);
    expect(third).toMatchObject({ status: "succeeded", rows_created: 1, rows_failed: 0 });
    const state = await webhookState(endpoint);
    expect(state.rows).toEqual(await modelRows(table));
    expect(state.creates["42"]).toBe(1);
    expect(Math.max(...Object.values(state.creates))).toBe(1);
  });

  it("stops a mirror run that would delete most of the destination until the user confirms", async () => {
    const table = await customersTable(100);
    const { syncId, endpoint } = await webhookSync(table, "mirror");
    await runSync(syncId);
    await pg(`DELETE FROM ${table} WHERE id::int > 30`);
    const blocked = await runSync(syncId);
    expect(blocked.status).toBe("failed");
    expect(blocked.error?.code).toBe("mass_delete_blocked");
    expect(blocked.error?.message).toMatch(/70 of 100/);
    expect(Object.keys((await webhookState(endpoint)).rows)).toHaveLength(100);

    const confirmed = await runSync(syncId, { allow_mass_delete: true });
    expect(confirmed).toMatchObject({ status: "succeeded", rows_deleted: 70 });
    expect((await webhookState(endpoint)).rows).toEqual(await modelRows(table));
  });

  it("stops when the model suddenly returns no rows", async () => {
    const table = await customersTable(20);
    const { syncId, endpoint } = await webhookSync(table, "mirror");
    await runSync(syncId);
    await pg(`DELETE FROM ${table}`);
    const run = await runSync(syncId);
    expect(run.error?.code).toBe("mass_delete_blocked");
    expect(run.error?.message).toMatch(/no rows/);
    expect(Object.keys((await webhookState(endpoint)).rows)).toHaveLength(20);
  });

  it("full_resync sends every row again", async () => {
    const table = await customersTable(100);
    const { syncId, endpoint } = await webhookSync(table, "upsert");
    await runSync(syncId);
    const before = (await webhookState(endpoint)).operations;
    const run = await runSync(syncId, { full_resync: true });
    expect(run.status).toBe("succeeded");
    expect(run.rows_created + run.rows_updated).toBe(100);
    expect((await webhookState(endpoint)).operations - before).toBe(100);
  });

  it("resumes after the object is killed between every step, without losing or double-counting rows", async () => {
    const table = await customersTable(N);
    const { syncId, endpoint } = await webhookSync(table, "mirror");
    await runSync(syncId);
    await change(table);
    // Kill the object after every step: its in-memory state is lost, only storage survives.
    const run = await runKilledBetweenSteps(syncId);
    expect(run).toMatchObject({ status: "succeeded", rows_created: 5, rows_updated: 10, rows_deleted: 7, rows_processed: N - 2 });
    // Final progress comes from the checkpoint, not from a run record a kill may have lost.
    expect(run.progress).toMatchObject({
      rows_read: N - 2,
      operations_planned: 22,
      partitions_diffed: run.progress.partitions,
      partitions_committed: run.progress.partitions,
    });
    const state = await webhookState(endpoint);
    expect(state.rows).toEqual(await modelRows(table));
    expect(Math.max(...Object.values(state.creates))).toBe(1);
  });

  it("resumes after the object is killed in the middle of steps", async () => {
    const table = await customersTable(N);
    const { syncId, endpoint } = await webhookSync(table, "mirror");
    const run = await runKilledInSteps(syncId);
    expect(run).toMatchObject({ status: "succeeded", rows_processed: N, rows_created: N, rows_failed: 0 });
    expect(run.progress).toMatchObject({ rows_read: N, operations_planned: N, partitions_diffed: run.progress.partitions });
    const state = await webhookState(endpoint);
    expect(state.rows).toEqual(await modelRows(table));
    // A batch sent just before a kill may be sent again; the receiver saw it under the same Idempotency-Key.
    expect(Object.keys(state.creates)).toHaveLength(N);
  });

  it("reports final progress from the checkpoint when every step dies before the run record is saved", async () => {
    const table = await customersTable(N);
    const { syncId } = await webhookSync(table, "mirror");
    const res = await api.post(`/api/v1/syncs/${syncId}/trigger`);
    // Each step saves its checkpoint, then the handler throws: the progress it set on the run is lost.
    const advance = RunEngine.prototype.advance;
    RunEngine.prototype.advance = async function (this: RunEngine, ...args: Parameters<RunEngine["advance"]>) {
      const result = await advance.apply(this, args);
      if (!result.done) throw new Error("injected: the step's run record is never saved");
      return result;
    };
    try {
      for (let i = 0; i < 12; i++) {
        await runDurableObjectAlarm(stubOf(syncId)).catch(() => false);
        await abortAllDurableObjects(); // and nothing of the step stays in memory
      }
    } finally {
      RunEngine.prototype.advance = advance;
    }
    const run = await waitForRun(syncId, res.body.id);
    expect(run).toMatchObject({ status: "succeeded", rows_processed: N, rows_created: N });
    expect(run.progress).toMatchObject({ rows_read: N, operations_planned: N, partitions_diffed: run.progress.partitions });
  });

  it("puts the sync in error at once when the warehouse refuses its credentials", async () => {
    const table = await customersTable(10);
    const { syncId } = await webhookSync(table, "upsert", { sync: { schedule: { type: "interval", interval_minutes: 30 } } });
    const sync = await api.get(`/api/v1/syncs/${syncId}`);
    const model = await api.get(`/api/v1/models/${sync.body.model_id}`);
    const badRole = WAREHOUSE_URL.replace("postgres@", "no_such_role_retl@");
    expectStatus(await api.put(`/api/v1/sources/${model.body.source_id}`, { body: { connection_string: badRole } }), 200);
    const run = await runSync(syncId);
    expect(run.status).toBe("failed");
    expect(run.error?.code).toBe("auth_failed");
    const after = await api.get(`/api/v1/syncs/${syncId}`);
    expect(after.body).toMatchObject({ status: "error", next_run_at: null });
    expect(after.body.status_reason).toMatch(/authentication failed/);
  });

  it("fails a run whose query breaks, with the warehouse's message, and keeps the snapshot", async () => {
    const table = await customersTable(10);
    const { syncId, endpoint } = await webhookSync(table, "mirror");
    await runSync(syncId);
    await pg(`ALTER TABLE ${table} RENAME COLUMN plan TO tier`);
    const run = await runSync(syncId);
    expect(run.status).toBe("failed");
    expect(run.error?.code).toBe("query_failed");
    expect(run.error?.message).toMatch(/plan/);
    await pg(`ALTER TABLE ${table} RENAME COLUMN tier TO plan`);
    const again = await runSync(syncId);
    expect(again).toMatchObject({ status: "succeeded", rows_created: 0, rows_unchanged: 10 });
    expect(Object.keys((await webhookState(endpoint)).rows)).toHaveLength(10);
  });
});
