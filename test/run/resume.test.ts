/**
 * An interrupted extraction resumes instead of starting over (keyset pages of EXTRACT_PAGE_ROWS =
 * 1000 rows in tests): a backend terminated mid-extraction, or the sync's object killed mid-step,
 * and the run goes on from its last finished page. The warehouse itself counts what was read: the
 * model filters through a PL/pgSQL function whose calls Postgres counts (`track_functions`), so a
 * restart from the first page would show as thousands of extra calls. Duplicate and null keys give
 * the same failed rows across page boundaries as one COPY of the whole model, and a model whose key
 * no index serves is read in one go.
 * Sequential: the object-kill case aborts every object of the isolate.
 */
import { abortAllDurableObjects, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { closePostgres, connectPostgres } from "../../src/sources/postgres/connection";
import { api, createSource, expectStatus, WAREHOUSE_URL } from "../harness";
import {
  createDestination,
  createSync,
  customersTable,
  modelRows,
  pg,
  runErrors,
  runSync,
  stubOf,
  uniqueName,
  WEBHOOK_FIELDS,
  waitForRun,
  webhookState,
  webhookUrl,
  sleep,
} from "../harness/run";

const PAGE_ROWS = 1000;
const ROWS = 10_000;

/** A read-write session for the test's own queries. */
async function withClient<T>(fn: (client: Awaited<ReturnType<typeof connectPostgres>>) => Promise<T>): Promise<T> {
  const client = await connectPostgres(WAREHOUSE_URL, { statementTimeoutMs: 30_000, allowPrivate: true });
  try {
    return await fn(client);
  } finally {
    await closePostgres(client);
  }
}

/**
 * A customers table, and `fn(id)`: true for every row, counted by Postgres, and for row `sleepAt`
 * a 60 s sleep until the table `flag` has a row.
 */
async function countedModel(rows: number, sleepAt: string) {
  const table = await customersTable(rows);
  const flag = `${table}_go`;
  const fn = `${table}_seen`;
  await pg(`CREATE TABLE ${flag} (go boolean)`);
  await pg(
    `CREATE FUNCTION ${fn}(id text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN ` +
      `IF id = '${sleepAt}' AND NOT EXISTS (SELECT 1 FROM ${flag}) THEN PERFORM pg_sleep(60); END IF; RETURN true; END $$`,
  );
  // The run's sessions count the function's calls (a superuser setting, given in the connection string).
  const url = `${WAREHOUSE_URL}${WAREHOUSE_URL.includes("?") ? "&" : "?"}options=${encodeURIComponent("-c track_functions=pl")}`;
  const sourceId = await createSource(undefined, url);
  const model = await api.post("/api/v1/models", {
    body: { name: table, source_id: sourceId, sql: `SELECT id, email, name, plan, score FROM ${table} WHERE ${fn}(id)`, primary_key: "id" },
  });
  expectStatus(model, 201);
  const destinationId = await createDestination({ type: "webhook", config: { url: webhookUrl(table), batch_size: 1000 } });
  const syncId = await createSync(model.body.id, destinationId, "mirror", WEBHOOK_FIELDS);
  return { table, flag, fn, syncId };
}

/** Calls of `fn` Postgres has counted (every session that ran it has ended). */
async function calls(fn: string): Promise<number> {
  return withClient(async (client) => {
    const r = await client.query<{ calls: string }>(
      "SELECT coalesce(sum(calls), 0)::text AS calls FROM pg_stat_user_functions WHERE funcname = $1",
      [fn],
    );
    return Number(r.rows[0]?.calls ?? 0);
  });
}

/** Waits until a backend sleeps inside `fn`; returns its pid. */
async function sleepingBackend(fn: string, timeoutMs = 60_000): Promise<number> {
  return withClient(async (client) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = await client.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND strpos(query, $1) > 0",
        [fn],
      );
      const pid = found.rows[0]?.pid;
      if (pid !== undefined) return pid;
      await sleep(20);
    }
    throw new Error(`no backend sleeping in ${fn}`);
  });
}

/** Waits until no session has `fn` in its query any more (their counts are flushed when they end). */
async function sessionsGone(fn: string): Promise<void> {
  await withClient(async (client) => {
    for (let i = 0; i < 200; i++) {
      const r = await client.query("SELECT 1 FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND strpos(query, $1) > 0", [fn]);
      if (r.rows.length === 0) return;
      await sleep(50);
    }
  });
}

describe("an interrupted extraction resumes from its last finished page", () => {
  it("a backend terminated mid-extraction: the retry reads on from the checkpointed key, not from the first page", async () => {
    // Text keys: '5000' sits near the middle of the key order.
    const { table, flag, fn, syncId } = await countedModel(ROWS, "5000");
    const before = await calls(fn);
    const trigger = await api.post(`/api/v1/syncs/${syncId}/trigger`);
    expectStatus(trigger, 202);
    const running = waitForRun(syncId, trigger.body.id, { timeoutMs: 120_000 });
    const pid = await sleepingBackend(fn);
    await pg(`INSERT INTO ${flag} VALUES (true)`);
    await pg("SELECT pg_terminate_backend($1)", [pid]);
    const run = await running;
    expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_processed: ROWS, rows_created: ROWS, rows_failed: 0 });
    // 10 pages of 1000 keys, an empty range past the last key, and the (empty) page of null keys: each finished once.
    expect(run.progress).toMatchObject({ warehouse_retries: 1, extract_resumes: 1, pages_read: 12, rows_read: ROWS });
    expect(run.progress.rows_reread).toBeLessThan(PAGE_ROWS);
    await sessionsGone(fn);
    const interrupted = (await calls(fn)) - before;

    // The same model read again without interruption: what one full read costs the warehouse.
    const clean = await runSync(syncId);
    expect(clean).toMatchObject({ status: "succeeded", rows_unchanged: ROWS });
    expect(clean.progress).toMatchObject({ pages_read: 12, extract_resumes: 0, rows_reread: 0 });
    await sessionsGone(fn);
    const full = (await calls(fn)) - before - interrupted;
    const extra = interrupted - full;
    const perPage = full / 10;
    console.log(
      `resume: the model's filter ran ${interrupted} times for the interrupted run, ${full} for a clean one: ` +
        `${extra} extra, ${(extra / perPage).toFixed(2)} page(s) read again (starting over would have re-read about 5 pages); ` +
        `rows read again ${run.progress.rows_reread}`,
    );
    // Each row's filter runs twice in a clean read (its page's bound, its page), never once per page:
    // a bound planned as a sort of the rows left would read them all again on every page.
    expect(full).toBeLessThanOrEqual(2 * ROWS);
    // At most the interrupted page again (its bound and its rows), not the pages before it.
    expect(extra).toBeGreaterThanOrEqual(0);
    expect(extra).toBeLessThanOrEqual(1.5 * perPage);
    const state = await webhookState(table);
    expect(state.rows).toEqual(await modelRows(table));
    expect(state.stats.duplicate_creates).toBe(0);
  }, 240_000);

  it("the object killed mid-extraction: its watchdog alarm stands under a minute ahead, and the run resumes from the page it was on", async () => {
    const { table, flag, fn, syncId } = await countedModel(ROWS, "5000");
    const trigger = await api.post(`/api/v1/syncs/${syncId}/trigger`);
    expectStatus(trigger, 202);
    // One alarm, which stays in the extraction (asleep in the page holding '5000').
    const step = runInDurableObject(stubOf(syncId), (instance: { alarm(): Promise<void> }) => instance.alarm()).catch(() => undefined);
    await sleepingBackend(fn);
    const alarmAt = () => runInDurableObject(stubOf(syncId), (_i, state) => state.storage.getAlarm());
    const first = (await alarmAt()) ?? 0;
    // The heartbeat pushes the watchdog forward while the step lives (every 10 s, 45 s ahead).
    await sleep(11_000);
    const pushed = (await alarmAt()) ?? 0;
    expect(pushed).toBeGreaterThan(first);
    expect(pushed - Date.now()).toBeLessThanOrEqual(45_000);
    await abortAllDurableObjects();
    await step;
    const killedAt = Date.now();
    const armed = (await alarmAt()) ?? Number.POSITIVE_INFINITY;
    // Without a live step nothing pushes it: it fires within 45 s of the kill (5 minutes before).
    expect(armed - killedAt).toBeLessThanOrEqual(45_000);
    await pg(`INSERT INTO ${flag} VALUES (true)`);
    // The tests fire the alarm now instead of waiting for it.
    const run = await waitForRun(syncId, trigger.body.id, { timeoutMs: 120_000 });
    expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_processed: ROWS, rows_created: ROWS, rows_failed: 0 });
    expect(run.progress).toMatchObject({ extract_resumes: 1, pages_read: 12, rows_read: ROWS });
    const state = await webhookState(table);
    expect(state.rows).toEqual(await modelRows(table));
    expect(state.stats.duplicate_creates).toBe(0);
  }, 240_000);
});

describe("keys across pages", () => {
  it("duplicate and null keys fail the same rows as one read of the whole model; a key no index serves is read in one go", async () => {
    const table = uniqueName("resume_dups");
    // Zero-padded keys (text order = number order); every key around the page boundaries appears
    // twice or three times, so some boundary falls inside a run of one key; three null keys and a blank one.
    await pg(`CREATE TABLE ${table} (id text, email text, name text, plan text, score int)`);
    await pg(
      `INSERT INTO ${table} SELECT lpad(g::text, 5, '0'), 'u' || g || '@example.com', 'Name ' || g, 'free', g FROM generate_series(1, 10000) g`,
    );
    await pg(
      `INSERT INTO ${table} SELECT lpad(g::text, 5, '0'), 'again' || g || '@example.com', 'Again ' || g, 'pro', g FROM generate_series(1, 10000) g ` +
        "WHERE g BETWEEN 990 AND 1010 OR g BETWEEN 1985 AND 2015 OR g % 500 = 7",
    );
    await pg(`INSERT INTO ${table} SELECT '01000', 'third@example.com', 'Third', 'pro', 1000`);
    await pg(
      `INSERT INTO ${table} VALUES (NULL, 'n1@example.com', 'N1', 'free', 0), (NULL, 'n2@example.com', 'N2', 'free', 0), (NULL, 'n3@example.com', 'N3', 'free', 0), ('', 'blank@example.com', 'Blank', 'free', 0)`,
    );
    await pg(`CREATE INDEX ON ${table} (id)`);
    await pg(`ANALYZE ${table}`);
    const sourceId = await createSource();
    const syncOf = async (sql: string, endpoint: string) => {
      const model = await api.post("/api/v1/models", { body: { name: endpoint, source_id: sourceId, sql, primary_key: "id" } });
      expectStatus(model, 201);
      const destinationId = await createDestination({ type: "webhook", config: { url: webhookUrl(endpoint), batch_size: 500 } });
      return createSync(model.body.id, destinationId, "mirror", WEBHOOK_FIELDS);
    };
    const paged = await syncOf(`SELECT id, email, name, plan, score FROM ${table}`, `${table}_paged`);
    // `id || ''` is the same key, but no index serves its order: one COPY of the whole model.
    const whole = await syncOf(`SELECT id || '' AS id, email, name, plan, score FROM ${table}`, `${table}_whole`);
    const [pagedRun, wholeRun] = [await runSync(paged), await runSync(whole)];
    expect(pagedRun.progress.pages_read, JSON.stringify(pagedRun.progress)).toBeGreaterThan(3);
    expect(wholeRun.progress.pages_read).toBeUndefined();
    const total = 10_000 + 70 + 1 + 4;
    expect(pagedRun).toMatchObject({ status: "partial", rows_processed: total });
    const failed = (errors: { primary_key: string | null; message: string }[]) =>
      errors.map((e) => `${e.primary_key}: ${e.message}`).sort();
    const pagedErrors = failed(await runErrors(paged, pagedRun.id));
    expect(pagedErrors).toEqual(failed(await runErrors(whole, wholeRun.id)));
    // 70 repeated keys (one of them three times), 3 null keys and a blank one.
    expect(pagedErrors).toHaveLength(2 * 70 + 1 + 3 + 1);
    expect(pagedErrors.filter((m) => m.startsWith("01000:") && /appears 3 times/.test(m))).toHaveLength(3);
    expect(pagedRun).toMatchObject({ rows_failed: wholeRun.rows_failed, rows_created: wholeRun.rows_created });
    expect((await webhookState(`${table}_paged`)).rows).toEqual((await webhookState(`${table}_whole`)).rows);
  }, 120_000);
});
