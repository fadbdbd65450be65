/**
 * Transient warehouse errors are retried inside the run: the extraction's backend is terminated
 * mid-read (57P01 from a second connection, as a warehouse restart or failover does) and the run
 * starts the extraction over and succeeds, nothing counted twice; a warehouse that stays down fails
 * the run after the retries; a permanent error (bad SQL at run time) fails it at once.
 */
import { describe, expect, it } from "vitest";
import { closePostgres, connectPostgres } from "../../src/sources/postgres/connection";
import { api, createSource, expectStatus, WAREHOUSE_URL } from "../harness";
import {
  createDestination,
  createSync,
  customersTable,
  modelRows,
  pg,
  runSync,
  WEBHOOK_FIELDS,
  waitForRun,
  webhookState,
  webhookSync,
  webhookUrl,
  sleep,
} from "../harness/run";

/**
 * Once a backend sleeps in a query naming `flag`: puts a row in `flag` (the sleeping read's
 * snapshot predates it; the retry sees it), then terminates that backend. When it was terminated (epoch ms).
 */
async function interruptRead(flag: string, timeoutMs = 60_000): Promise<number> {
  const client = await connectPostgres(WAREHOUSE_URL, { statementTimeoutMs: 30_000, allowPrivate: true });
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = await client.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND pid <> pg_backend_pid() AND strpos(query, $1) > 0",
        [flag],
      );
      const pid = found.rows[0]?.pid;
      if (pid !== undefined) {
        await client.query(`INSERT INTO ${flag} VALUES (true)`);
        await client.query("SELECT pg_terminate_backend($1)", [pid]);
        return Date.now();
      }
      await sleep(20);
    }
    throw new Error(`no backend sleeping in a query on ${flag}`);
  } finally {
    await closePostgres(client);
  }
}

describe("transient warehouse errors are retried inside the run", () => {
  it("a backend terminated mid-read: the extraction starts over, the run succeeds, nothing counted twice", async () => {
    // Big enough for a read that streams for a while; the pause makes the kill land mid-read at any size
    // (300k rows ran the same way in 47 s, most of it delivering 300 batches).
    const rows = 30_000;
    const table = await customersTable(rows);
    // Half-way through the read, the model waits in pg_sleep until the flag table has a row: the
    // first extraction is terminated there, after half the rows went out; the retry sees the flag.
    const flag = `${table}_go`;
    await pg(`CREATE TABLE ${flag} (go boolean)`);
    const sourceId = await createSource();
    const model = await api.post("/api/v1/models", {
      body: {
        name: table,
        source_id: sourceId,
        sql:
          `SELECT id, email, name, plan, score FROM ${table} WHERE id <> '${rows / 2}' ` +
          `OR pg_sleep(CASE WHEN EXISTS (SELECT 1 FROM ${flag}) THEN 0 ELSE 60 END) IS NOT NULL`,
        primary_key: "id",
      },
    });
    expectStatus(model, 201);
    const endpoint = table;
    const destinationId = await createDestination({ type: "webhook", config: { url: webhookUrl(endpoint), batch_size: 1000 } });
    const syncId = await createSync(model.body.id, destinationId, "mirror", WEBHOOK_FIELDS);

    const trigger = await api.post(`/api/v1/syncs/${syncId}/trigger`);
    expectStatus(trigger, 202);
    const [run, killedAt] = await Promise.all([waitForRun(syncId, trigger.body.id, { timeoutMs: 240_000 }), interruptRead(flag)]);
    expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_processed: rows, rows_created: rows, rows_failed: 0 });
    expect(run.progress.warehouse_retries).toBeGreaterThanOrEqual(1);
    expect(run.progress.rows_read).toBe(rows);
    const state = await webhookState(endpoint);
    expect(state.rows).toEqual(await modelRows(table));
    expect(state.stats.duplicate_creates).toBe(0);
    const finishedAt = Date.parse(run.finished_at ?? "");
    console.log(
      `warehouse retry: ${run.progress.warehouse_retries} retr${run.progress.warehouse_retries === 1 ? "y" : "ies"}; ` +
        `${((finishedAt - killedAt) / 1000).toFixed(1)} s from the kill to the run finished (${rows} rows; run ${run.duration_ms} ms)`,
    );
  }, 300_000);

  it("a warehouse that stays unreachable fails the run after 3 retries", async () => {
    const table = await customersTable(10);
    const { syncId } = await webhookSync(table, "upsert");
    const sync = await api.get(`/api/v1/syncs/${syncId}`);
    const model = await api.get(`/api/v1/models/${sync.body.model_id}`);
    // Nothing listens on port 1: connection refused, every time.
    const refused = WAREHOUSE_URL.replace(/@[^/]+\//, "@127.0.0.1:1/");
    expectStatus(await api.put(`/api/v1/sources/${model.body.source_id}`, { body: { connection_string: refused } }), 200);
    const started = Date.now();
    const run = await runSync(syncId);
    expect(run.status).toBe("failed");
    expect(run.error?.code).toBe("unreachable");
    expect(run.progress.warehouse_retries).toBe(3);
    // The backoff was waited (0.1 s, 0.4 s, 1.6 s in tests, each at least 75 %), not skipped by early alarms.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
  });

  it("a permanent error is not retried", async () => {
    const table = await customersTable(10);
    const { syncId } = await webhookSync(table, "mirror");
    await pg(`ALTER TABLE ${table} RENAME COLUMN plan TO tier`);
    const run = await runSync(syncId);
    expect(run.status).toBe("failed");
    expect(run.error?.code).toBe("query_failed");
    expect(run.progress.warehouse_retries ?? 0).toBe(0);
  });
});
