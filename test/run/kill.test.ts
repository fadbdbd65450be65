/**
 * A run never hangs and never loses a row; any step can be killed. The sync's object is killed
 * (abortAllDurableObjects: its memory is lost, its storage and alarm stay) between steps, in the
 * middle of them, and inside the files destination's finishRun (right after one of its writes
 * landed); an update-mode run is also cancelled mid-run. Each time the run resumes or the next one
 * converges: every row arrives once, and update mode creates nothing.
 * Sequential: the kills abort every object of the isolate.
 */
import { abortAllDurableObjects, runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import type { RunManifest } from "../../src/destinations/files/connector";
import { api, expectStatus, type Run } from "../harness";
import {
  configureWebhook,
  createDestination,
  createSync,
  customersTable,
  expectedRows,
  modelNow,
  modelOf,
  pg,
  type ReceiverState,
  runErrors,
  runKilledBetweenSteps,
  runKilledInSteps,
  runSync,
  stubOf,
  text,
  triggerRun,
  uniqueName,
  waitForRun,
  webhookRows,
  webhookState,
  webhookSync,
  sleep,
} from "../harness/run";

// ---- the files destination's finishRun ----

type BucketWrite = "put" | "delete";
const bucketProto = Object.getPrototypeOf(env.SNAPSHOTS) as R2Bucket;
const realPut = bucketProto.put;
const realDelete = bucketProto.delete;

/**
 * Makes the first write of the Worker's bucket that `matches` land, then not answer: the step that
 * made it waits until the test kills the object, as if it died right after the write. The answer
 * says whether it has landed (a flag the test polls: a promise resolved from the object's request
 * and awaited by the test's would tie the two requests together).
 */
function hangAfter(write: BucketWrite, matches: (key: string) => boolean): () => boolean {
  let armed = true;
  let landed = false;
  const hang = <A extends unknown[], R>(
    kind: BucketWrite,
    real: (this: R2Bucket, ...args: A) => Promise<R>,
    keysOf: (args: A) => string[],
  ) =>
    function (this: R2Bucket, ...args: A): Promise<R> {
      if (!armed || kind !== write || !keysOf(args).some(matches)) return real.apply(this, args);
      armed = false;
      return real.apply(this, args).then(async (result) => {
        landed = true;
        // Long enough for the test to kill the object, which cancels this wait with the rest of the step.
        await sleep(120_000);
        return result;
      });
    };
  bucketProto.put = hang("put", realPut as (this: R2Bucket, ...args: Parameters<R2Bucket["put"]>) => Promise<R2Object | null>, (args) => [
    String(args[0]),
  ]) as R2Bucket["put"];
  bucketProto.delete = hang("delete", realDelete as (this: R2Bucket, ...args: Parameters<R2Bucket["delete"]>) => Promise<void>, (args) =>
    [args[0]].flat().map(String),
  ) as R2Bucket["delete"];
  return () => landed;
}

afterEach(() => {
  bucketProto.put = realPut;
  bucketProto.delete = realDelete;
});

/** Drives the run's alarms until the write has `landed`, then kills the object and lets the run finish. */
async function runKilledAt(syncId: string, landed: () => boolean): Promise<Run> {
  const runId = await triggerRun(syncId);
  const deadline = Date.now() + 60_000;
  let step: Promise<unknown> = Promise.resolve();
  let stepDone = true;
  while (!landed()) {
    if (Date.now() > deadline) throw new Error("the write to kill after never came");
    if (stepDone) {
      stepDone = false;
      step = runDurableObjectAlarm(stubOf(syncId))
        .catch(() => false)
        .finally(() => (stepDone = true));
    }
    await sleep(50);
  }
  await abortAllDurableObjects();
  await step;
  bucketProto.put = realPut;
  bucketProto.delete = realDelete;
  return waitForRun(syncId, runId);
}

const FIELDS = { email: "email", name: "name", plan: "plan", score: "score" };

/** A files sync (NDJSON, changes, one folder per run) of a fresh customers table on the Worker's bucket. */
async function filesSync(rows: number) {
  const table = await customersTable(rows);
  const destinationId = await createDestination({
    type: "files",
    config: { format: "ndjson", contents: "changes", path: "kill/{{ run_id }}/", batch_size: 50 },
  });
  const syncId = await createSync(await modelOf(table), destinationId, "mirror", FIELDS);
  return { table, syncId };
}

async function object(key: string): Promise<string> {
  const found = await env.SNAPSHOTS.get(key);
  if (!found) throw new Error(`no object ${key}`);
  return found.text();
}

/**
 * The run's files hold every row of the model exactly once, as the manifest says; its folder holds
 * only them and the manifest, and no staged part is left.
 */
async function expectFilesHoldModel(syncId: string, run: Run, table: string): Promise<void> {
  const manifest = JSON.parse(await object(`exports/${syncId}/kill/${run.id}/${run.id}.manifest.json`)) as RunManifest;
  const keys: string[] = [];
  const rows: Record<string, { email: string | null; name: string | null; plan: string | null; score: string | null }> = {};
  for (const file of manifest.files) {
    for (const line of (await object(`exports/${syncId}/${file.path}`)).trim().split("\n")) {
      const r = JSON.parse(line) as Record<string, unknown>;
      keys.push(String(r._key));
      rows[String(r._key)] = { email: text(r.email), name: text(r.name), plan: text(r.plan), score: text(r.score) };
    }
  }
  const model = await modelNow(table);
  expect(keys.length, "rows in the files").toBe(Object.keys(model).length);
  expect(new Set(keys).size, "each key once").toBe(keys.length);
  expect(rows).toEqual(model);
  expect(manifest).toMatchObject({ rows: keys.length, operations: { create: keys.length, update: 0, delete: 0 } });
  // A file written before a kill and written again is the same object: the folder holds nothing else.
  const folder = await env.SNAPSHOTS.list({ prefix: `exports/${syncId}/kill/${run.id}/` });
  expect(folder.objects.map((o) => o.key).sort()).toEqual(
    [...manifest.files.map((f) => `exports/${syncId}/${f.path}`), `exports/${syncId}/kill/${run.id}/${run.id}.manifest.json`].sort(),
  );
  const staged = await env.SNAPSHOTS.list({ prefix: `exports/${syncId}/kill/_staging/` });
  expect(
    staged.objects.map((o) => o.key),
    "staged parts removed",
  ).toEqual([]);
}

/** The next run finds nothing to do: the killed run committed its snapshot. */
async function expectConverged(syncId: string): Promise<void> {
  const next = await runSync(syncId);
  expect(next, JSON.stringify(next)).toMatchObject({
    status: "succeeded",
    rows_created: 0,
    rows_updated: 0,
    rows_deleted: 0,
    rows_failed: 0,
  });
}

describe("the files destination's finishRun, killed", () => {
  const ROWS = 400;

  it("between every step (before and after finishRun): the files hold every row once", async () => {
    const { table, syncId } = await filesSync(ROWS);
    const run = await runKilledBetweenSteps(syncId, 12);
    expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_created: ROWS, rows_failed: 0 });
    await expectFilesHoldModel(syncId, run, table);
    await expectConverged(syncId);
  }, 90_000);

  it("in the middle of steps: the files hold every row once", async () => {
    const { table, syncId } = await filesSync(ROWS);
    const run = await runKilledInSteps(syncId);
    expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_created: ROWS, rows_failed: 0 });
    await expectFilesHoldModel(syncId, run, table);
    await expectConverged(syncId);
  }, 90_000);

  // Which write of finishRun the object dies right after (keys under the sync's export folder).
  const inside: [string, BucketWrite, (key: string) => boolean][] = [
    ["once the data file is written, before the manifest", "put", (key) => !key.includes("/_staging/") && key.endsWith(".ndjson")],
    ["once the manifest is written, before the parts are deleted", "put", (key) => key.endsWith(".manifest.json")],
    ["once the parts are deleted, before the step's checkpoint", "delete", (key) => key.includes("/_staging/")],
  ];
  for (const [when, write, matches] of inside) {
    it(`inside finishRun ${when}: the run resumes and the files hold every row once`, async () => {
      const { table, syncId } = await filesSync(ROWS);
      const landed = hangAfter(write, (key) => key.startsWith(`exports/${syncId}/kill/`) && matches(key));
      const run = await runKilledAt(syncId, landed);
      expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_created: ROWS, rows_failed: 0 });
      await expectFilesHoldModel(syncId, run, table);
      await expectConverged(syncId);
    }, 90_000);
  }
});

// ---- update mode ----

/** No key was created at the receiver but the seeded ones, each once. */
function expectOnlySeedsCreated(state: ReceiverState, seeded: number): void {
  expect(Object.keys(state.creates).length, "keys created").toBe(seeded);
  expect(
    Object.entries(state.creates).filter(([key, n]) => n !== 1 || Number(key) > seeded),
    "created twice, or by the update sync",
  ).toEqual([]);
  expect(state.stats.updates_of_missing).toBe(0);
}

/**
 * An endpoint holding the first half of a customers table (an upsert sync put them there), and an
 * update sync of the whole table, whose rows all changed plan since.
 */
async function updateSync(rows: number, destination: Record<string, unknown> = {}) {
  const seeded = rows / 2;
  const endpoint = uniqueName("update");
  await configureWebhook(endpoint, { idempotent: true });
  const seed = await webhookSync(await customersTable(seeded), "upsert", { endpoint });
  expect(await runSync(seed.syncId)).toMatchObject({ status: "succeeded", rows_created: seeded });
  const held = webhookRows(await webhookState(endpoint));
  const table = await customersTable(rows);
  await pg(`UPDATE ${table} SET plan = 'enterprise'`);
  const { syncId } = await webhookSync(table, "update", { endpoint, destination });
  return { seeded, endpoint, held, table, syncId };
}

/** The endpoint holds the seeded rows updated to the model, and nothing else; a run after finds nothing to send. */
async function expectUpdated(fx: Awaited<ReturnType<typeof updateSync>>): Promise<void> {
  const state = await webhookState(fx.endpoint);
  const expected = expectedRows("update", fx.held, await modelNow(fx.table));
  expect(Object.values(expected).every((r) => r.plan === "enterprise")).toBe(true);
  expect(webhookRows(state)).toEqual(expected);
  expectOnlySeedsCreated(state, fx.seeded);
  const operations = state.operations;
  const next = await runSync(fx.syncId);
  expect(next, JSON.stringify(next)).toMatchObject({ status: "succeeded", rows_created: 0, rows_updated: 0, rows_failed: 0 });
  expect((await webhookState(fx.endpoint)).operations).toBe(operations);
}

describe("an update-mode run stopped mid-run", () => {
  it("killed between every step: it resumes, updates what the destination holds and creates nothing", async () => {
    const fx = await updateSync(400, { batch_size: 50 });
    const run = await runKilledBetweenSteps(fx.syncId);
    expect(run, JSON.stringify(run)).toMatchObject({ status: "partial", rows_created: 0, rows_updated: 200, rows_failed: 200 });
    const errors = await runErrors(fx.syncId, run.id);
    expect(new Set(errors.map((e) => e.code))).toEqual(new Set(["not_found"]));
    await expectUpdated(fx);
  }, 90_000);

  it("killed in the middle of steps: it resumes, updates what the destination holds and creates nothing", async () => {
    const fx = await updateSync(400, { batch_size: 50 });
    const run = await runKilledInSteps(fx.syncId);
    expect(run, JSON.stringify(run)).toMatchObject({ status: "partial", rows_created: 0, rows_updated: 200, rows_failed: 200 });
    await expectUpdated(fx);
  }, 90_000);

  it("cancelled: it commits what was acknowledged; the next run updates the rest and creates nothing", async () => {
    const rows = 2000;
    // 20 batches, one at a time, 150 ms each: long enough to cancel in the middle.
    const fx = await updateSync(rows, { batch_size: 100, rate_limit: { concurrency: 1 } });
    await configureWebhook(fx.endpoint, { idempotent: true, delay_ms: 150 });
    const runId = await triggerRun(fx.syncId);
    const start = (await webhookState(fx.endpoint)).requests;
    for (let t = Date.now(); (await webhookState(fx.endpoint)).requests < start + 4; await sleep(50)) {
      if (Date.now() - t > 30_000) throw new Error("no batches applied");
    }
    expectStatus(await api.post(`/api/v1/syncs/${fx.syncId}/runs/${runId}/cancel`), 202);
    const cancelled = await waitForRun(fx.syncId, runId);
    expect(cancelled, JSON.stringify(cancelled)).toMatchObject({ status: "cancelled", rows_created: 0 });
    expect(cancelled.rows_updated + cancelled.rows_failed).toBeGreaterThan(0);
    expect(cancelled.rows_updated).toBeLessThan(fx.seeded);
    // What the destination applied is exactly what the run committed.
    const applied = Object.values(webhookRows(await webhookState(fx.endpoint))).filter((r) => r.plan === "enterprise");
    expect(applied.length, "rows updated at the destination = rows the run committed").toBe(cancelled.rows_updated);

    await configureWebhook(fx.endpoint, { idempotent: true });
    const next = await runSync(fx.syncId);
    expect(next, JSON.stringify(next)).toMatchObject({
      status: "partial",
      rows_created: 0,
      rows_updated: fx.seeded - cancelled.rows_updated,
      rows_failed: rows - fx.seeded - cancelled.rows_failed,
    });
    await expectUpdated(fx);
  }, 120_000);
});
