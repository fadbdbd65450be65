import { describe, expect, it } from "vitest";
import { commitPartition, RESULT_ACKNOWLEDGED } from "../../src/engine/commit";
import { diffPartition } from "../../src/engine/diff";
import { planPartition } from "../../src/engine/plan";
import { decodePlannedPartition, encodePlannedPartition } from "../../src/run/plan-file";
import { emptySnapshot, entries, rowsOf, type Row } from "../engine/helpers";

describe("stored partition plan", () => {
  it("round-trips a diff and plan so commit builds the same snapshot", async () => {
    const first: Row[] = Array.from({ length: 40 }, (_, i): Row => [String(i), `v${i}`]);
    const prevRows = await rowsOf(first);
    const prevDiff = diffPartition(emptySnapshot(), prevRows);
    const prevPlan = planPartition(prevDiff, "mirror");
    const prev = commitPartition(
      emptySnapshot(),
      prevRows,
      prevDiff,
      prevPlan,
      new Uint8Array(prevPlan.count).fill(RESULT_ACKNOWLEDGED),
    ).snapshot;

    // Changes of every kind, plus a duplicated and a blank key.
    const second: Row[] = [
      ...first.slice(5).map(([k, ...values]): Row => [k, ...(k === "7" ? ["changed"] : values)]),
      ["new", "n"],
      ["9", "dup"],
      [null, "x"],
    ];
    const rows = await rowsOf(second);
    const diff = diffPartition(prev, rows);
    const plan = planPartition(diff, "mirror");
    const bytes = encodePlannedPartition({ diff, plan });
    // Stored objects are read back at any offset: decode from an unaligned copy too.
    const unaligned = new Uint8Array(bytes.length + 1).subarray(1);
    unaligned.set(bytes);
    for (const stored of [bytes, unaligned]) {
      const back = decodePlannedPartition(stored);
      expect(back.plan.count).toBe(plan.count);
      expect(back.plan.counts).toEqual(plan.counts);
      expect([...back.plan.kinds]).toEqual([...plan.kinds]);
      expect([...back.plan.rows]).toEqual([...plan.rows]);
      expect([...back.plan.prevs]).toEqual([...plan.prevs]);
      expect([...back.diff.rowStatus]).toEqual([...diff.rowStatus]);
      expect([...back.diff.prevMatch]).toEqual([...diff.prevMatch]);
      expect([...back.diff.prevStatus]).toEqual([...diff.prevStatus]);
      expect(back.diff.counts).toEqual(diff.counts);
      const results = new Uint8Array(plan.count).fill(RESULT_ACKNOWLEDGED);
      const expected = commitPartition(prev, rows, diff, plan, results);
      const actual = commitPartition(prev, rows, back.diff, back.plan, results);
      expect(entries(actual.snapshot)).toEqual(entries(expected.snapshot));
      expect(actual.counts).toEqual(expected.counts);
    }
  });
});
