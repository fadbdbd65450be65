import { describe, expect, it } from "vitest";
import {
  configureWebhook,
  createDestination,
  createSync,
  customersTable,
  modelNow,
  modelOf,
  peakPerWindow,
  type ReceiverState,
  runSync,
  uniqueName,
  WEBHOOK_FIELDS,
  webhookRows,
  webhookState,
  webhookUrl,
} from "../harness/run";

/**
 * Arrival times at the receiver differ from grant times by each request's trip, which varies on a
 * busy machine; each counting window is this much shorter than its whole seconds (the variation
 * does not accumulate over many requests).
 */
const JITTER_MS = 150;
const ROWS = 24;
const BATCH = 2;

/** Syncs ROWS rows in batches of BATCH to an endpoint answering after `delayMs`, under `rateLimit`; returns what the receiver saw. */
async function deliverUnder(rateLimit: { requests_per_second: number; concurrency: number }, delayMs: number): Promise<ReceiverState> {
  const table = await customersTable(ROWS);
  const name = uniqueName("limit");
  await configureWebhook(name, { idempotent: true, delay_ms: delayMs });
  const destinationId = await createDestination({
    type: "webhook",
    config: { url: webhookUrl(name), batch_size: BATCH, rate_limit: rateLimit },
  });
  const syncId = await createSync(await modelOf(table), destinationId, "mirror", WEBHOOK_FIELDS);
  const run = await runSync(syncId);
  expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_created: ROWS, rows_failed: 0 });
  const state = await webhookState(name);
  expect(webhookRows(state)).toEqual(await modelNow(table));
  expect(state.deliveries).toHaveLength(ROWS / BATCH);
  return state;
}

/** Arrivals relative to the first, as the receiver logged them (for failure messages). */
const timeline = (state: ReceiverState) => {
  const first = Math.min(...state.deliveries.map((d) => d.at));
  return state.deliveries.map((d) => `${d.at - first}..${d.end - first}`).join(" ");
};

describe("destination rate limit, shared by every consumer that writes to the destination", () => {
  it("never more requests per second than configured, nor more in flight than the concurrency", async () => {
    const [paced, serial, parallel] = await Promise.all([
      // requests_per_second 2: never more than 2 requests in any second.
      deliverUnder({ requests_per_second: 2, concurrency: 1 }, 0),
      // concurrency 1 with slow answers (the rate not binding): one request at a time.
      deliverUnder({ requests_per_second: 1000, concurrency: 1 }, 300),
      // concurrency 3: up to 3 at once, and more than 1 (else the limit would not be what was configured).
      deliverUnder({ requests_per_second: 1000, concurrency: 3 }, 300),
    ]);

    // Counted as the receiver saw them: at most 2k requests in any k seconds (k = 1 … the whole run).
    for (let seconds = 1; seconds <= ROWS / BATCH / 2; seconds++) {
      const count = peakPerWindow(paced, seconds * 1000 - JITTER_MS);
      expect(count, `${count} requests within ${seconds} s: ${timeline(paced)}`).toBeLessThanOrEqual(2 * seconds);
    }
    // The receiver counts the requests it holds at once (arrived, not yet answered).
    expect(serial.stats.peak_in_flight, timeline(serial)).toBe(1);
    expect(parallel.stats.peak_in_flight, timeline(parallel)).toBeLessThanOrEqual(3);
    expect(parallel.stats.peak_in_flight, timeline(parallel)).toBeGreaterThan(1);
  }, 90_000);
});
