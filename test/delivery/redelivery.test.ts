import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import type { DeliveryMessage } from "../../src/delivery/message";
import { api, expectStatus } from "../harness";
import {
  configureWebhook,
  createDestination,
  createSync,
  customersTable,
  type Delivery,
  modelNow,
  modelOf,
  runErrors,
  uniqueName,
  waitForRun,
  WEBHOOK_FIELDS,
  webhookRows,
  webhookState,
  webhookUrl,
  sleep,
} from "../harness/run";

/** Hands one message to the Worker's queue() handler, as the queue would, and returns what it acked or retried. */
async function deliver(queue: "deliveries" | "deliveries-dlq", id: string, body: unknown, attempts = 1) {
  const batch = createMessageBatch(queue, [{ id, timestamp: new Date(), attempts, body }]);
  const ctx = createExecutionContext();
  await worker.queue(batch, env);
  return getQueueResult(batch, ctx);
}

/**
 * A run whose only batch the sink answered with a 503 (Retry-After `retryAfter`), so it waits for
 * the queue's retry; returns the batch's message as the engine enqueued it (rebuilt from the request).
 */
async function runWithPendingBatch(rows: number, retryAfter: string, config: Record<string, unknown> = {}) {
  const table = await customersTable(rows);
  const name = uniqueName("redeliver");
  await configureWebhook(name, {
    idempotent: true,
    keep_bodies: true,
    always: { status: 503, retry_after: retryAfter, body: { error: "busy" } },
  });
  const destinationId = await createDestination({ type: "webhook", config: { url: webhookUrl(name), batch_size: 100, ...config } });
  const syncId = await createSync(await modelOf(table), destinationId, "mirror", WEBHOOK_FIELDS);
  const trigger = await api.post(`/api/v1/syncs/${syncId}/trigger`);
  expectStatus(trigger, 202);
  let first: Delivery | undefined;
  for (let i = 0; i < 150 && !first; i++) {
    first = (await webhookState(name, true)).deliveries[0];
    if (!first) await sleep(100);
  }
  if (!first) throw new Error("the batch never reached the receiver");
  const sent = first.body as { sync_id: string; run_id: string; batch_id: string; operations: DeliveryMessage["operations"] };
  const message: DeliveryMessage = { ...sent, destination_id: destinationId, workspace_id: "wsp_default" };
  return { table, name, syncId, destinationId, runId: trigger.body.id, message, firstAt: first.at };
}

describe("at-least-once redelivery", () => {
  it.concurrent("a batch delivered twice (ack lost) is sent once and counted once", async () => {
    const rows = 25;
    const { table, name, syncId, runId, message, firstAt } = await runWithPendingBatch(rows, "5");
    await configureWebhook(name, { idempotent: true, keep_bodies: true });

    const once = await deliver("deliveries", "copy-1", message, 2);
    expect(once, JSON.stringify(once)).toMatchObject({ explicitAcks: ["copy-1"], retryMessages: [] });
    const twice = await deliver("deliveries", "copy-2", message, 2);
    expect(twice, JSON.stringify(twice)).toMatchObject({ explicitAcks: ["copy-2"], retryMessages: [] });

    const run = await waitForRun(syncId, runId);
    expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_created: rows, rows_failed: 0 });
    // After the run: the queue's own retry of the 503 (due 5 s after it) and one more copy must not send either.
    await sleep(Math.max(0, firstAt + 7_000 - Date.now()));
    const late = await deliver("deliveries", "copy-3", message, 3);
    expect(late, JSON.stringify(late)).toMatchObject({ explicitAcks: ["copy-3"] });

    const state = await webhookState(name);
    expect(
      state.deliveries.map((r) => `${r.status} ${r.outcome}`),
      "the 503, then one applied send",
    ).toEqual(["503 refused", "200 applied"]);
    expect(webhookRows(state)).toEqual(await modelNow(table));
    const after = await api.get(`/api/v1/syncs/${syncId}/runs/${runId}`);
    expect(after.body, "the finished run's counts did not move").toMatchObject({ rows_created: rows, rows_failed: 0 });
  }, 60_000);

  it.concurrent("copies of one batch in one queue batch (the run resent it after a restart) are sent once", async () => {
    const rows = 6;
    const { syncId, name, runId, message } = await runWithPendingBatch(rows, "60");
    // Not idempotent: a second send of these creates would be a duplicate at the destination.
    await configureWebhook(name, { idempotent: false });
    const batch = createMessageBatch("deliveries", [
      { id: "copy-a", timestamp: new Date(), attempts: 1, body: message },
      { id: "copy-b", timestamp: new Date(), attempts: 1, body: message },
      { id: "copy-c", timestamp: new Date(), attempts: 1, body: message },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env);
    const result = await getQueueResult(batch, ctx);
    expect(result, JSON.stringify(result)).toMatchObject({ retryMessages: [] });
    expect([...result.explicitAcks].sort()).toEqual(["copy-a", "copy-b", "copy-c"]);
    const run = await waitForRun(syncId, runId);
    expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_created: rows, rows_failed: 0 });
    const state = await webhookState(name);
    expect(state.deliveries.map((r) => `${r.status} ${r.outcome}`)).toEqual(["503 refused", "200 applied"]);
    expect(Math.max(...Object.values(state.creates))).toBe(1);
  }, 60_000);

  it.concurrent("the dead-letter consumer fails the batch's rows with the last error, once", async () => {
    const rows = 8;
    const { name, syncId, runId, message } = await runWithPendingBatch(rows, "60");

    const dead = await deliver("deliveries-dlq", "dead-1", message, 9);
    expect(dead, JSON.stringify(dead)).toMatchObject({ explicitAcks: ["dead-1"], retryMessages: [] });
    const run = await waitForRun(syncId, runId);
    expect(run, JSON.stringify(run)).toMatchObject({
      status: "failed",
      rows_created: 0,
      rows_failed: rows,
      error: { code: "delivery_failed" },
    });
    const errors = await runErrors(syncId, runId);
    expect(errors.map((e) => e.message)).toEqual(Array(rows).fill('retries exhausted; last error: HTTP 503: {"error":"busy"}'));

    // A second dead letter of the same batch changes nothing.
    const again = await deliver("deliveries-dlq", "dead-2", message, 9);
    expect(again, JSON.stringify(again)).toMatchObject({ explicitAcks: ["dead-2"] });
    expect((await runErrors(syncId, runId)).length).toBe(rows);
    expect((await webhookState(name)).deliveries).toHaveLength(1);
  }, 60_000);

  it.concurrent("a batch kept waiting by the rate limiter is enqueued again, without spending its retries", async () => {
    const rows = 12;
    const { table, name, syncId, destinationId, runId, message } = await runWithPendingBatch(rows, "60", {
      rate_limit: { concurrency: 1 },
    });
    await configureWebhook(name, { idempotent: true });
    // Another request holds the destination's only slot for longer than the consumer waits in-process.
    const limiter = env.DESTINATION_LIMITER.get(env.DESTINATION_LIMITER.idFromName(destinationId));
    // The consumer that got the 503 frees its slot just after the sink saw the request: wait for it.
    let held = await limiter.acquire({ requestsPerSecond: 10, concurrency: 1 });
    for (let i = 0; i < 50 && !held.granted; i++) {
      await sleep(100);
      held = await limiter.acquire({ requestsPerSecond: 10, concurrency: 1 });
    }
    expect(held.granted).toBe(true);
    // A slot reserved a little ahead is only taken once confirmed at its time (as a sender does):
    // until then a sender whose slot is due goes first.
    if (held.granted && held.delayMs > 0) {
      await sleep(held.delayMs);
      held = await limiter.confirm(held.leaseId, { requestsPerSecond: 10, concurrency: 1 });
      expect(held, JSON.stringify(held)).toMatchObject({ granted: true, delayMs: 0 });
    }

    // The batch's last allowed attempt (max_retries 8): retry() here would dead-letter it.
    const result = await deliver("deliveries", "last-attempt", message, 9);
    expect(result, JSON.stringify(result)).toMatchObject({ explicitAcks: ["last-attempt"], retryMessages: [] });
    expect((await webhookState(name)).deliveries, "nothing was sent while the slot was taken").toHaveLength(1);

    // Its copy goes out once the slot is free, and the run completes.
    if (held.granted) await limiter.release(held.leaseId);
    const releasedAt = Date.now();
    const run = await waitForRun(syncId, runId, { timeoutMs: 40_000 });
    expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_created: rows, rows_failed: 0 });
    const state = await webhookState(name);
    expect(state.deliveries.map((r) => `${r.status} ${r.outcome}`)).toEqual(["503 refused", "200 applied"]);
    expect(webhookRows(state)).toEqual(await modelNow(table));
    // Sent by the deferred copy (due 1 s after it was deferred, behind at most one consumer batch
    // waiting for slots within the limiter's few-second horizon), not by the queue's retry of the 503
    // 60 s after it: the copy came back when the slot was free, not tens of seconds later.
    const applied = state.deliveries[1]?.at ?? Number.POSITIVE_INFINITY;
    expect(applied - releasedAt, "ms from the slot's release to the copy's send").toBeLessThan(20_000);
  }, 90_000);

  it.concurrent("a batch answered 429 is sent again in-process on the limiter's next slot, after the Retry-After, not through the queue's retry", async () => {
    const rows = 10;
    const { table, name, syncId, runId, message } = await runWithPendingBatch(rows, "60");
    await configureWebhook(name, { idempotent: true, faults: [{ status: 429, retry_after: "1", label: "throttled" }] });

    const result = await deliver("deliveries", "throttled-once", message, 2);
    expect(result, JSON.stringify(result)).toMatchObject({ explicitAcks: ["throttled-once"], retryMessages: [] });
    const state = await webhookState(name);
    expect(state.deliveries.map((r) => `${r.status} ${r.outcome}`)).toEqual(["503 refused", "429 fault:throttled", "200 applied"]);
    const [, refused, applied] = state.deliveries;
    // The 429's Retry-After paused the destination's limiter: the resend waited for its end.
    expect((applied?.at ?? 0) - (refused?.at ?? 0), "ms from the 429 to the resend").toBeGreaterThanOrEqual(900);
    const run = await waitForRun(syncId, runId);
    expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_created: rows, rows_failed: 0 });
    expect(webhookRows(state)).toEqual(await modelNow(table));
  }, 60_000);

  it.concurrent("a batch answered 429 again and again goes back to the queue's retry after a few in-process resends", async () => {
    const rows = 4;
    const { name, message } = await runWithPendingBatch(rows, "60");
    await configureWebhook(name, { idempotent: true, faults: [{ status: 429, retry_after: "1", times: 10, label: "throttled" }] });

    const result = await deliver("deliveries", "throttled-always", message, 2);
    // retry(): the queue counts the attempt, so a destination that never stops refusing still dead-letters the batch.
    expect(result, JSON.stringify(result)).toMatchObject({ explicitAcks: [], retryMessages: [{ msgId: "throttled-always" }] });
    const state = await webhookState(name);
    expect(state.deliveries.map((r) => r.status)).toEqual([503, 429, 429, 429, 429]);
  }, 60_000);

  it("acks (drops) a malformed message instead of retrying it forever", async () => {
    for (const queue of ["deliveries", "deliveries-dlq"] as const) {
      const result = await deliver(queue, "junk", { sync_id: "syn_x", operations: "nope" });
      expect(result, JSON.stringify(result)).toMatchObject({ explicitAcks: ["junk"], retryMessages: [] });
    }
  });
});
