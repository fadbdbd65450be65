import { describe, expect, it } from "vitest";
import { ATTEMPT_SECONDS, reportOverdueAt } from "../../src/delivery/backoff";
import type { OpenBatch } from "../../src/run/ledger";
import { overdueBatches } from "../../src/run/resend";

const policy = { baseSeconds: 1, maxSeconds: 1 };
const batch = (batchId: string, signAt: number, waitSeconds = 0): OpenBatch => ({
  batchId,
  partition: 0,
  firstOp: 0,
  lastOp: 9,
  signAt,
  waitSeconds,
});
const ids = (batches: OpenBatch[]) => batches.map((b) => b.batchId);

describe("which open batches are sent again", () => {
  const deadline = reportOverdueAt({ at: 0 }, policy);

  it("after the deadline, once the consumer has been silent about the run for an attempt's time", () => {
    const open = [batch("old", 0), batch("young", deadline - 1_000), batch("waiting", 0, 3_600)];
    // The object has been up all along and heard from the consumer long ago.
    const input = { bootAt: 0, lastProgress: 1, policy };
    expect(ids(overdueBatches(open, { ...input, now: deadline - 1 }))).toEqual([]);
    expect(ids(overdueBatches(open, { ...input, now: deadline }))).toEqual(["old"]);
    // A batch whose announced wait (Retry-After) is not over is not overdue.
    expect(ids(overdueBatches(open, { ...input, now: deadline + 3_599_000 }))).toEqual(["old", "young"]);
  });

  it("not while the consumer is still reporting other batches of the run (they are queued behind them)", () => {
    const open = [batch("old", 0)];
    const now = deadline + 60_000;
    expect(ids(overdueBatches(open, { now, bootAt: 0, lastProgress: now - 1_000, policy }))).toEqual([]);
    expect(ids(overdueBatches(open, { now, bootAt: 0, lastProgress: now - ATTEMPT_SECONDS * 1000, policy }))).toEqual(["old"]);
  });

  it("at once after a restart with no word from the consumer since: batches last heard of before it, wait over", () => {
    const bootAt = 100_000;
    const open = [batch("before", 50_000), batch("retrying", 90_000, 3_600), batch("after", 100_500)];
    expect(ids(overdueBatches(open, { now: bootAt + 10, bootAt, lastProgress: 60_000, policy }))).toEqual(["before"]);
    // The consumer spoke since the restart: its queue is alive, the usual deadline applies.
    expect(ids(overdueBatches(open, { now: bootAt + 10, bootAt, lastProgress: bootAt + 5, policy }))).toEqual([]);
  });
});
