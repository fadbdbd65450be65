import { describe, expect, it } from "vitest";
import type { SinkRequest } from "../servers/delivery-sink-types";
import { customersTable } from "../run/harness";
import {
  configureSink,
  createDestination,
  createSync,
  modelNow,
  modelOf,
  runSync,
  sinkRows,
  sinkState,
  sinkUrl,
  uniqueName,
  WEBHOOK_FIELDS,
} from "./harness";

/**
 * Arrival times at the sink differ from grant times by each request's trip, which varies on a
 * busy machine; this bounds the variation (it does not accumulate over many requests).
 */
const JITTER_MS = 150;
/** The limiter's spacing at 2 requests/s: 1/rps plus its 20 ms allowance per second. */
const SPACING_MS = (1000 + 20) / 2;
const ROWS = 24;
const BATCH = 2;

/** Syncs ROWS rows in batches of BATCH to a sink answering after `delayMs`, under `rateLimit`; returns the requests by arrival. */
async function deliverUnder(rateLimit: { requests_per_second: number; concurrency: number }, delayMs: number): Promise<SinkRequest[]> {
  const table = await customersTable(ROWS);
  const name = uniqueName("limit");
  await configureSink(name, { delay_ms: delayMs });
  const destinationId = await createDestination({
    type: "webhook",
    config: { url: sinkUrl(name), batch_size: BATCH, rate_limit: rateLimit },
  });
  const syncId = await createSync(await modelOf(table), destinationId, "mirror", WEBHOOK_FIELDS);
  const run = await runSync(syncId);
  expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_created: ROWS, rows_failed: 0 });
  const state = await sinkState(name);
  expect(sinkRows(state)).toEqual(await modelNow(table));
  const requests = [...state.requests].sort((a, b) => a.at - b.at);
  expect(requests).toHaveLength(ROWS / BATCH);
  return requests;
}

const timeline = (requests: SinkRequest[]) =>
  requests.map((r) => `${r.at - (requests[0]?.at ?? 0)}..${r.end - (requests[0]?.at ?? 0)}`).join(" ");

/** Most requests in flight at once (answered at `end`). */
const maxInFlight = (requests: SinkRequest[]) =>
  Math.max(...requests.map((r) => requests.filter((q) => q.at <= r.at && q.end > r.at).length));

describe("destination rate limit, shared by every consumer that writes to the destination", () => {
  it("never more requests per second than configured, nor more in flight than the concurrency", async () => {
    const [paced, serial, parallel] = await Promise.all([
      // requests_per_second 2: grants at least 500 ms apart, so never more than 2 in any second.
      deliverUnder({ requests_per_second: 2, concurrency: 1 }, 0),
      // concurrency 1 with slow answers (the rate not binding): one request at a time.
      deliverUnder({ requests_per_second: 1000, concurrency: 1 }, 300),
      // concurrency 3: up to 3 at once, and more than 1 (else the limit would not be what was configured).
      deliverUnder({ requests_per_second: 1000, concurrency: 3 }, 300),
    ]);

    // Grants are at least SPACING_MS apart, so requests i and j arrive at least (j - i) spacings apart, give or take the jitter.
    for (let i = 0; i < paced.length; i++) {
      for (let j = i + 1; j < paced.length; j++) {
        const span = (paced[j]?.at ?? 0) - (paced[i]?.at ?? 0);
        expect(span, `requests ${i}..${j} within ${span} ms: ${timeline(paced)}`).toBeGreaterThanOrEqual((j - i) * SPACING_MS - JITTER_MS);
      }
    }
    // Hence never more than 2 in any second (windows shortened by the jitter).
    const perSecond = Math.max(...paced.map((r) => paced.filter((q) => q.at >= r.at && q.at < r.at + 1000 - JITTER_MS).length));
    expect(perSecond, timeline(paced)).toBeLessThanOrEqual(2);

    serial.slice(1).forEach((r, i) => {
      expect(r.at, `request ${i + 1} overlaps the previous one: ${timeline(serial)}`).toBeGreaterThanOrEqual(serial[i]?.end ?? 0);
    });
    expect(maxInFlight(serial), timeline(serial)).toBe(1);
    expect(maxInFlight(parallel), timeline(parallel)).toBeLessThanOrEqual(3);
    expect(maxInFlight(parallel), timeline(parallel)).toBeGreaterThan(1);
  }, 90_000);
});
