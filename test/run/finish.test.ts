/**
 * A run always finishes: cancel, the time limit per run, batches whose messages were lost (sent
 * again when their reports are overdue, and at once after the object restarts), each ending with
 * the destination equal to the model and no record created twice. Lost messages are real losses:
 * a wrap of the queue binding's sendBatch (the Worker runs in the test's isolate) drops them
 * before the queue sees them, as a local queue does when its process dies.
 * Sequential: the restart case aborts every object of the isolate.
 */
import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeliveryMessage } from "../../src/delivery/message";
import { api, expectError, expectStatus } from "../harness";
import {
  configureWebhook,
  customersTable,
  modelNow,
  type ReceiverState,
  runSync,
  stubOf,
  waitForRun,
  webhookRows,
  webhookState,
  webhookSync,
  sleep,
} from "../harness/run";

/** Runs whose messages are lost, with which of their messages (by order of sending) to lose. */
const losses = new Map<string, { lose: (index: number, body: DeliveryMessage) => boolean; sent: number; lost: string[] }>();

const queueProto = Object.getPrototypeOf(env.DELIVERIES) as Queue<DeliveryMessage>;
const realSendBatch = queueProto.sendBatch;

beforeAll(() => {
  queueProto.sendBatch = function (this: Queue<DeliveryMessage>, messages: Iterable<MessageSendRequest<DeliveryMessage>>, options) {
    const kept: MessageSendRequest<DeliveryMessage>[] = [];
    for (const m of messages) {
      const loss = losses.get(m.body.run_id);
      if (loss?.lose(loss.sent++, m.body)) loss.lost.push(m.body.batch_id);
      else kept.push(m);
    }
    return kept.length
      ? realSendBatch.call(this, kept, options)
      : Promise.resolve({ metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } });
  } as Queue<DeliveryMessage>["sendBatch"];
});
afterAll(() => {
  queueProto.sendBatch = realSendBatch;
});

/** Polls until `predicate` holds (throws after `ms`). */
async function until(what: string, predicate: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** No key was created twice at the receiver. */
function expectNoDuplicateCreates(state: ReceiverState): void {
  expect(state.stats.duplicate_creates, "duplicate creates").toBe(0);
  expect(
    Object.values(state.creates).filter((n) => n > 1),
    "keys created more than once",
  ).toEqual([]);
}

async function getRun(syncId: string, runId: string) {
  const res = await api.get(`/api/v1/syncs/${syncId}/runs/${runId}`);
  expectStatus(res, 200);
  return res.body;
}

describe("a run always finishes", () => {
  it("cancel mid-run commits what was acknowledged; the next run sends the rest, nothing twice", async () => {
    const rows = 3000;
    const table = await customersTable(rows);
    // 30 batches, one at a time, 150 ms each: long enough to cancel in the middle.
    const { syncId, endpoint } = await webhookSync(table, "mirror", { destination: { batch_size: 100, rate_limit: { concurrency: 1 } } });
    await configureWebhook(endpoint, { idempotent: true, delay_ms: 150 });
    const trigger = await api.post(`/api/v1/syncs/${syncId}/trigger`);
    expectStatus(trigger, 202);
    const runId = trigger.body.id;
    await until("a few batches applied", async () => (await webhookState(endpoint)).requests >= 4);

    // A trigger now answers with the run in flight, its phase and age; the new run is queued behind it.
    const second = await api.post(`/api/v1/syncs/${syncId}/trigger`);
    expectStatus(second, 202);
    expect(second.body.in_flight, JSON.stringify(second.body)).toMatchObject({ run_id: runId, phase: "deliver" });
    expect(second.body.in_flight?.age_seconds).toBeGreaterThanOrEqual(0);
    expect(second.body).toMatchObject({ status: "queued" });
    // Cancelling the queued follow-up ends it at once.
    const cancelQueued = await api.post(`/api/v1/syncs/${syncId}/runs/${second.body.id}/cancel`);
    expectStatus(cancelQueued, 202);
    expect(cancelQueued.body).toMatchObject({ status: "cancelled", error: { code: "cancelled" } });

    const cancel = await api.post(`/api/v1/syncs/${syncId}/runs/${runId}/cancel`);
    expectStatus(cancel, 202);
    expect(cancel.body.id).toBe(runId);
    const run = await waitForRun(syncId, runId);
    expect(run, JSON.stringify(run)).toMatchObject({ status: "cancelled", error: { code: "cancelled" }, rows_failed: 0 });
    expect(run.rows_created).toBeGreaterThan(0);
    expect(run.rows_created).toBeLessThan(rows);
    const afterCancel = await webhookState(endpoint);
    // What the destination applied is exactly what the run committed.
    expect(Object.keys(afterCancel.rows).length, "rows at the destination = rows the run committed").toBe(run.rows_created);

    expectError(await api.post(`/api/v1/syncs/${syncId}/runs/${runId}/cancel`), 409, "conflict");
    expectError(await api.post(`/api/v1/syncs/${syncId}/runs/run_unknown/cancel`), 404, "not_found");

    await configureWebhook(endpoint, { idempotent: true });
    const next = await runSync(syncId);
    expect(next, JSON.stringify(next)).toMatchObject({ status: "succeeded", rows_created: rows - run.rows_created, rows_failed: 0 });
    const state = await webhookState(endpoint);
    expect(webhookRows(state)).toEqual(await modelNow(table));
    expectNoDuplicateCreates(state);
  }, 90_000);

  it("a run past max_run_minutes stops with run_timeout and counts as failed; the next run converges", async () => {
    const rows = 400;
    const table = await customersTable(rows);
    const { syncId, endpoint } = await webhookSync(table, "mirror", { sync: { max_run_minutes: 1 }, destination: { batch_size: 100 } });
    const sync = await api.get(`/api/v1/syncs/${syncId}`);
    expect(sync.body.max_run_minutes).toBe(1);
    expectError(await api.put(`/api/v1/syncs/${syncId}`, { body: { max_run_minutes: 0 } }), 400, "validation_failed");
    const updated = await api.put(`/api/v1/syncs/${syncId}`, { body: { max_run_minutes: 2 } });
    expectStatus(updated, 200);
    expect(updated.body.max_run_minutes).toBe(2);

    // The destination is down: batches wait for their retries.
    await configureWebhook(endpoint, { idempotent: true, always: { status: 503, retry_after: "1", body: { error: "down" } } });
    const trigger = await api.post(`/api/v1/syncs/${syncId}/trigger`);
    expectStatus(trigger, 202);
    const runId = trigger.body.id;
    await until("the first attempts", async () => (await webhookState(endpoint)).deliveries.length >= 2);
    // The clock, moved past the limit: the run started 3 minutes ago.
    await runInDurableObject(stubOf(syncId), (instance) => {
      // The object's in-memory sync state (private): its run in flight.
      const current = (instance as unknown as { state?: { current: { id: string; started_at: string | null } | null } }).state?.current;
      if (current?.id === runId) current.started_at = new Date(Date.now() - 3 * 60_000).toISOString();
    });
    const run = await waitForRun(syncId, runId);
    expect(run, JSON.stringify(run)).toMatchObject({ status: "failed", error: { code: "run_timeout" }, rows_created: 0 });
    expect(run.error?.message).toContain("2 minutes");

    await configureWebhook(endpoint, { idempotent: true });
    const next = await runSync(syncId);
    expect(next, JSON.stringify(next)).toMatchObject({ status: "succeeded", rows_created: rows });
    const state = await webhookState(endpoint);
    expect(webhookRows(state)).toEqual(await modelNow(table));
    expectNoDuplicateCreates(state);
  }, 60_000);

  it("a batch whose message was lost is sent again once its report is overdue", async () => {
    const rows = 500;
    const table = await customersTable(rows);
    const { syncId, endpoint } = await webhookSync(table, "mirror", { destination: { batch_size: 100 } });
    await configureWebhook(endpoint, { idempotent: true });
    const trigger = await api.post(`/api/v1/syncs/${syncId}/trigger`);
    expectStatus(trigger, 202);
    const runId = trigger.body.id;
    // Messages 1 and 3 of the run never reach the queue.
    const loss = { lose: (i: number) => i === 1 || i === 3, sent: 0, lost: [] as string[] };
    losses.set(runId, loss);
    await until("the other batches applied", async () => (await webhookState(endpoint)).requests >= 3);
    await runDurableObjectAlarm(stubOf(syncId));
    expect((await getRun(syncId, runId)).status, "waiting for the lost batches").toBe("running");
    expect(loss.lost).toHaveLength(2);

    // The clock, moved an hour on: the lost batches' reports are overdue.
    await runInDurableObject(stubOf(syncId), (_instance, state) => {
      state.storage.sql.exec("UPDATE batches SET sign_at = sign_at - 3600000");
      state.storage.sql.exec("UPDATE progress SET at = at - 3600000");
    });
    const run = await waitForRun(syncId, runId);
    expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_created: rows, rows_failed: 0 });
    expect(run.progress.batches_resent).toBe(2);
    const state = await webhookState(endpoint);
    expect(webhookRows(state)).toEqual(await modelNow(table));
    expectNoDuplicateCreates(state);
    losses.delete(runId);
  }, 60_000);

  it("after a restart with the queue's messages lost, the run sends them again at once and finishes", async () => {
    const rows = 2000;
    const table = await customersTable(rows);
    const { syncId, endpoint } = await webhookSync(table, "mirror", { destination: { batch_size: 100, rate_limit: { concurrency: 1 } } });
    await configureWebhook(endpoint, { idempotent: true, delay_ms: 50 });
    const trigger = await api.post(`/api/v1/syncs/${syncId}/trigger`);
    expectStatus(trigger, 202);
    const runId = trigger.body.id;
    // The queue dies with the process: from the 6th message on, nothing reaches the consumer.
    const loss = { lose: (i: number) => i >= 5, sent: 0, lost: [] as string[] };
    losses.set(runId, loss);
    await until("the surviving batches applied", async () => (await webhookState(endpoint)).requests >= 5);
    await runDurableObjectAlarm(stubOf(syncId));
    expect(loss.lost.length, "lost messages").toBe(loss.sent - 5);
    const acknowledged = (await webhookState(endpoint)).requests;

    // The restart: every object loses its memory (storage and the alarm stay); the queue is empty.
    losses.delete(runId);
    const restartedAt = Date.now();
    await abortAllDurableObjects();
    const run = await waitForRun(syncId, runId);
    const seconds = (Date.now() - restartedAt) / 1000;
    expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_created: rows, rows_failed: 0 });
    // The lost ones, and any whose attempt the restart cut short.
    expect(run.progress.batches_resent).toBeGreaterThanOrEqual(loss.lost.length);
    const state = await webhookState(endpoint);
    expect(webhookRows(state)).toEqual(await modelNow(table));
    expectNoDuplicateCreates(state);
    console.log(
      JSON.stringify({
        figure: "restart_to_finished",
        seconds,
        batches_lost: loss.lost.length,
        batches_resent: run.progress.batches_resent,
        acknowledged_before: acknowledged,
      }),
    );
  }, 90_000);
});
