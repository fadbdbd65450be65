/**
 * Lost queue messages at random (`npm run stress`): every delivery message of the scenario's runs,
 * first sends and resends alike, is lost with probability STRESS_DROP_RATE (default 0.3) by a wrap
 * of the queue binding's sendBatch (the Worker runs in this isolate), so the queue never sees it.
 * When a run stops moving, the clock is moved an hour on (the ledger's last signs and the last
 * consumer progress, backdated) and the alarm runs: its overdue batches go out again. Every few
 * stalls the objects are aborted instead (a restart: memory lost, storage kept), which resends at
 * once. Runs alternate with random changes of the model. At the end the destination must equal the
 * model with no record created twice, after at least STRESS_MIN_DROPS (default 100) losses.
 */
import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeliveryMessage } from "../../../src/delivery/message";
import { api, expectStatus } from "../../harness";
import {
  configureWebhook,
  customersTable,
  modelNow,
  pg,
  type Run,
  stubOf,
  webhookRows,
  webhookState,
  webhookSync,
} from "../../harness/run";
import { seeded } from "../lib";
import { setting } from "./lib";

const ROWS = setting("STRESS_DROP_ROWS", 20_000);
const RUNS = setting("STRESS_DROP_RUNS", 3);
const DROP_RATE = setting("STRESS_DROP_RATE", 0.3);
const MIN_DROPS = setting("STRESS_MIN_DROPS", 100);
const SEED = setting("STRESS_SEED", Math.floor(Math.random() * 2 ** 31));

const random = seeded(SEED);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const figures = { drops: 0, resent: 0, stalls: 0, restarts: 0, runs: 0 };
/** Runs whose messages are lost at random. */
const lossy = new Set<string>();
const queueProto = Object.getPrototypeOf(env.DELIVERIES) as Queue<DeliveryMessage>;
const realSendBatch = queueProto.sendBatch;

beforeAll(() => {
  queueProto.sendBatch = function (this: Queue<DeliveryMessage>, messages: Iterable<MessageSendRequest<DeliveryMessage>>, options) {
    const kept = [...messages].filter((m) => {
      const lose = lossy.has(m.body.run_id) && random() < DROP_RATE;
      if (lose) figures.drops += 1;
      return !lose;
    });
    return kept.length
      ? realSendBatch.call(this, kept, options)
      : Promise.resolve({ metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } });
  } as Queue<DeliveryMessage>["sendBatch"];
});
afterAll(() => {
  queueProto.sendBatch = realSendBatch;
});

async function getRun(syncId: string, runId: string): Promise<Run> {
  const res = await api.get(`/api/v1/syncs/${syncId}/runs/${runId}`);
  expectStatus(res, 200);
  return res.body;
}

/** Drives a run to its end: the alarm now and then; on a stall, the clock an hour on (or a restart). */
async function lossyRun(syncId: string): Promise<Run> {
  const trigger = await api.post(`/api/v1/syncs/${syncId}/trigger`);
  expectStatus(trigger, 202);
  const runId = trigger.body.id;
  lossy.add(runId);
  const deadline = Date.now() + 10 * 60_000;
  let seen = "";
  let changedAt = Date.now();
  for (;;) {
    await runDurableObjectAlarm(stubOf(syncId));
    const run = await getRun(syncId, runId);
    if (["succeeded", "partial", "failed", "cancelled"].includes(run.status)) {
      lossy.delete(runId);
      figures.resent += run.progress.batches_resent ?? 0;
      figures.runs += 1;
      return run;
    }
    if (Date.now() > deadline) throw new Error(`run ${runId} not final: ${JSON.stringify(run)}`);
    const signature = JSON.stringify([run.phase, run.progress]);
    if (signature !== seen) {
      seen = signature;
      changedAt = Date.now();
    } else if (Date.now() - changedAt > 1_500 && run.phase === "deliver") {
      figures.stalls += 1;
      changedAt = Date.now();
      if (figures.stalls % 4 === 0) {
        figures.restarts += 1;
        await abortAllDurableObjects();
      } else {
        await runInDurableObject(stubOf(syncId), (_instance, state) => {
          state.storage.sql.exec("UPDATE batches SET sign_at = sign_at - 3600000");
          state.storage.sql.exec("UPDATE progress SET at = at - 3600000");
        });
      }
    }
    await sleep(200);
  }
}

describe("lost queue messages", () => {
  it(`${RUNS} runs of ${ROWS} rows, messages lost at ${DROP_RATE}: the destination equals the model, nothing created twice`, async () => {
    const table = await customersTable(ROWS);
    const { syncId, endpoint } = await webhookSync(table, "mirror", { destination: { batch_size: 50 } });
    await configureWebhook(endpoint, { idempotent: true });
    for (let i = 0; i < RUNS; i++) {
      if (i > 0) {
        // Random changes: updates, deletes and new rows.
        const lo = 1 + Math.floor(random() * (ROWS - 600));
        await pg(`UPDATE ${table} SET score = score + 1, plan = 'changed${i}' WHERE id::int BETWEEN ${lo} AND ${lo + 300}`);
        await pg(`DELETE FROM ${table} WHERE id::int BETWEEN ${lo + 400} AND ${lo + 450}`);
        await pg(
          `INSERT INTO ${table} SELECT g::text, 'new' || g || '@example.com', 'New ' || g, 'free', g FROM generate_series(${ROWS + i * 1000 + 1}, ${ROWS + i * 1000 + 200}) g`,
        );
      }
      const run = await lossyRun(syncId);
      expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_failed: 0 });
    }
    const state = await webhookState(endpoint);
    expect(webhookRows(state)).toEqual(await modelNow(table));
    expect(state.stats.duplicate_creates).toBe(0);
    expect(Object.values(state.creates).filter((n) => n > 1)).toEqual([]);
    console.log(`drops: seed ${SEED}; ${JSON.stringify(figures)}`);
    expect(figures.drops, "messages lost").toBeGreaterThanOrEqual(MIN_DROPS);
  });
});
