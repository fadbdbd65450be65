import { describe, expect, it } from "vitest";
import {
  changeModel,
  CHAOS_KINDS,
  configureWebhook,
  createDestination,
  createSync,
  customersTable,
  modelNow,
  modelOf,
  runErrors,
  runSync,
  uniqueName,
  WEBHOOK_FIELDS,
  webhookRows,
  webhookState,
  webhookUrl,
} from "../harness/run";

const N = 300;
// This seed's first draws include every kind of failure (asserted below, so a change of generator shows).
const SEED = 20261117;

/** Runs the sync until a run acknowledges everything; each run must account for every planned row. */
async function runUntilClean(syncId: string, maxRuns: number) {
  const runs = [];
  for (let i = 0; i < maxRuns; i++) {
    const run = await runSync(syncId);
    runs.push(run);
    const summary = JSON.stringify(run);
    expect(["succeeded", "partial"], summary).toContain(run.status);
    // Zero lost rows: every planned operation ended acknowledged or failed, never neither.
    expect(run.rows_created + run.rows_updated + run.rows_deleted + run.rows_failed, summary).toBe(run.progress.operations_planned);
    // Transient failures were retried by the queue, never given up on; only the destination's per-record refusals remain.
    for (const e of await runErrors(syncId, run.id)) expect(e.message, JSON.stringify(e)).toMatch(/^chaos: record \S+ refused$/);
    if (run.status === "succeeded") return runs;
  }
  throw new Error(`still failing rows after ${maxRuns} runs: ${JSON.stringify(runs.at(-1))}`);
}

describe("a destination failing 30% of requests at random", () => {
  it("ends equal to the model after the failed rows' retries: no row lost, no duplicate create, redeliveries under the same Idempotency-Key", async () => {
    const table = await customersTable(N);
    const name = uniqueName("chaos");
    await configureWebhook(name, { idempotent: true, chaos: { seed: SEED, rate: 0.3, hold_ms: 1_200, retry_after: "1" } });
    const destinationId = await createDestination({
      type: "webhook",
      // Requests answered after 500 ms are timeouts; the sink holds its slow answers for 1.2 s.
      config: { url: webhookUrl(name), batch_size: 10, timeout_ms: 500, rate_limit: { requests_per_second: 100, concurrency: 10 } },
    });
    const syncId = await createSync(await modelOf(table), destinationId, "mirror", WEBHOOK_FIELDS);

    const initial = await runUntilClean(syncId, 6);
    expect(initial[0]?.rows_created, "the first run acknowledged most rows despite the faults").toBeGreaterThan(N * 0.8);
    expect(webhookRows(await webhookState(name))).toEqual(await modelNow(table));

    await changeModel(table, N);
    const changed = await runUntilClean(syncId, 6);
    expect(changed[0], JSON.stringify(changed[0])).toMatchObject({ rows_deleted: 4 });

    const state = await webhookState(name);
    expect(webhookRows(state)).toEqual(await modelNow(table));
    // No key was created twice although batches applied-then-timed-out were sent again.
    const duplicates = Object.entries(state.creates).filter(([, n]) => n !== 1);
    expect(duplicates, JSON.stringify(duplicates)).toEqual([]);
    expect(Object.keys(state.creates)).toHaveLength(N + 5);

    // Every request carried its batch id as the Idempotency-Key, so a resent batch carries the same key.
    const mismatched = state.deliveries.filter((r) => !r.idempotency_key || r.idempotency_key !== r.batch_id);
    expect(mismatched, JSON.stringify(mismatched.slice(0, 3))).toEqual([]);
    // Each kind of failure really happened, and each batch applied-then-timed-out was resent and answered from the stored response.
    const outcomes = state.deliveries.map((r) => r.outcome);
    for (const kind of CHAOS_KINDS) expect(outcomes, `no ${kind} in ${JSON.stringify(outcomes)}`).toContain(`fault:${kind}`);
    for (const lost of state.deliveries.filter((r) => r.outcome === "fault:timeout_after")) {
      const again = state.deliveries.filter((r) => r.seq > lost.seq && r.idempotency_key === lost.idempotency_key);
      expect(
        again.map((r) => r.outcome),
        `batch ${lost.batch_id}`,
      ).toContain("replayed");
    }
    const faults = outcomes.filter((o) => o.startsWith("fault:")).length;
    expect(faults / outcomes.length, `fault share of ${outcomes.length} requests`).toBeGreaterThan(0.15);
  }, 150_000);
});
