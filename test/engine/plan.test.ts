import { describe, expect, it } from "vitest";
import { diffPartition } from "../../src/engine/diff";
import { checkMassDelete, operationAt, operationBatches, planPartition } from "../../src/engine/plan";
import { emptySnapshot } from "../../src/engine/snapshot";
import type { SyncMode } from "../../src/sync/mode";
import { describe as ops, rowsOf, runOnce, type Row } from "./helpers";

const before: Row[] = [
  ["1", "a"],
  ["2", "b"],
  ["3", "c"],
];
// 1 unchanged, 2 updated, 3 gone, 4 new.
const after: Row[] = [
  ["1", "a"],
  ["2", "B"],
  ["4", "d"],
];

async function planFor(mode: SyncMode, fullResync = false) {
  const { snapshot } = await runOnce(emptySnapshot(), before, mode);
  const rows = await rowsOf(after);
  const plan = planPartition(diffPartition(snapshot, rows), mode, { fullResync });
  const list = Array.from({ length: plan.count }, (_, k) => operationAt(plan, k, rows, snapshot));
  return { plan, list, kinds: ops(list) };
}

describe("planPartition", () => {
  it("follows the DESIGN.md table in each mode", async () => {
    expect((await planFor("upsert")).kinds).toEqual(["upsert 2", "upsert 4"]);
    expect((await planFor("mirror")).kinds).toEqual(["create 4", "delete 3", "update 2"]);
    expect((await planFor("append")).kinds).toEqual(["create 4"]);
    // Update-only: a key new to the snapshot may exist at the destination, so it is an update too.
    expect((await planFor("update")).kinds).toEqual(["update 2", "update 4"]);
  });

  it("counts operations, puts deletes first and carries values", async () => {
    const { plan, list } = await planFor("mirror");
    expect(plan.counts).toEqual({ create: 1, update: 1, upsert: 0, delete: 1 });
    expect(list.map((o) => o.kind)).toEqual(["delete", "update", "create"]);
    expect(list[0]).toEqual({ index: 0, kind: "delete", key: "3", values: null });
    expect(list[1]).toEqual({ index: 1, kind: "update", key: "2", values: ["B"] });
    expect(() => operationAt(plan, 3, emptyRowsPlaceholder, emptySnapshot())).toThrow(RangeError);
  });

  it("sends every row again on a full resync, and still deletes gone keys in mirror mode", async () => {
    expect((await planFor("upsert", true)).kinds).toEqual(["upsert 1", "upsert 2", "upsert 4"]);
    expect((await planFor("mirror", true)).kinds).toEqual(["create 1", "create 2", "create 4", "delete 3"]);
    expect((await planFor("append", true)).kinds).toEqual(["create 1", "create 2", "create 4"]);
    expect((await planFor("update", true)).kinds).toEqual(["update 1", "update 2", "update 4"]);
  });

  it("plans nothing when nothing changed", async () => {
    for (const mode of ["upsert", "mirror", "append", "update"] as const) {
      const { snapshot } = await runOnce(emptySnapshot(), before, mode);
      const again = await runOnce(snapshot, before, mode);
      expect(again.ops).toEqual([]);
    }
  });

  it("never plans rows with duplicate or null keys", async () => {
    const rows = await rowsOf([
      ["1", "a"],
      ["1", "b"],
      [null, "c"],
      ["", "d"],
      ["2", "e"],
    ]);
    for (const mode of ["upsert", "mirror", "append", "update"] as const) {
      for (const fullResync of [false, true]) {
        const plan = planPartition(diffPartition(emptySnapshot(), rows), mode, { fullResync });
        expect(Array.from(plan.rows)).toEqual([4]);
      }
    }
  });

  it("batches by count and by size", async () => {
    const model: Row[] = Array.from({ length: 10 }, (_, i) => [`k${i}`, "x".repeat(i * 10)]);
    const rows = await rowsOf(model);
    const prev = emptySnapshot();
    const plan = planPartition(diffPartition(prev, rows), "upsert");
    const byCount = [...operationBatches(plan, rows, prev, { maxOperations: 4 })];
    expect(byCount.map((b) => b.length)).toEqual([4, 4, 2]);
    expect(byCount.flat().map((o) => o.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const bySize = [...operationBatches(plan, rows, prev, { maxOperations: 100, maxBytes: 100 })];
    for (const b of bySize) {
      const size = b.reduce((s, o) => s + o.key.length + (o.values ?? []).reduce((t, v) => t + (v?.length ?? 4), 0), 0);
      expect(b.length === 1 || size <= 100).toBe(true);
    }
    expect(bySize.flat().length).toBe(10);
    const resumed = [...operationBatches(plan, rows, prev, { maxOperations: 4 }, 8)];
    expect(resumed.flat().map((o) => o.index)).toEqual([8, 9]);
  });
});

describe("checkMassDelete", () => {
  it("stops a run that deletes more than the threshold", () => {
    const v = checkMassDelete({ deletes: 600, previousRows: 1000, currentRows: 400 });
    expect(v.stop).toBe(true);
    expect(v.sharePercent).toBe(60);
    expect(v.reason).toContain("600 of 1000");
    expect(v.reason).toContain("50%");
    expect(v.reason).toContain("allow_mass_delete");
  });

  it("lets through runs at or under the threshold, confirmed runs and first runs", () => {
    expect(checkMassDelete({ deletes: 500, previousRows: 1000, currentRows: 500 }).stop).toBe(false);
    expect(checkMassDelete({ deletes: 600, previousRows: 1000, currentRows: 400, thresholdPercent: 60 }).stop).toBe(false);
    expect(checkMassDelete({ deletes: 600, previousRows: 1000, currentRows: 400, allowMassDelete: true }).stop).toBe(false);
    expect(checkMassDelete({ deletes: 0, previousRows: 0, currentRows: 0 }).stop).toBe(false);
    expect(checkMassDelete({ deletes: 1, previousRows: 1000, currentRows: 999, thresholdPercent: 0 }).stop).toBe(true);
  });

  it("always stops an empty model result against a non-empty snapshot", () => {
    const v = checkMassDelete({ deletes: 3, previousRows: 3, currentRows: 0, thresholdPercent: 100 });
    expect(v.stop).toBe(true);
    expect(v.reason).toContain("returned no rows");
    expect(checkMassDelete({ deletes: 3, previousRows: 3, currentRows: 0, allowMassDelete: true }).stop).toBe(false);
    expect(() => checkMassDelete({ deletes: 1, previousRows: 1, currentRows: 1, thresholdPercent: 150 })).toThrow(RangeError);
  });

  it("trips on a real mirror plan whose model came back empty", async () => {
    const { snapshot } = await runOnce(emptySnapshot(), before, "mirror");
    const rows = await rowsOf([]);
    const plan = planPartition(diffPartition(snapshot, rows), "mirror");
    expect(plan.counts.delete).toBe(3);
    expect(checkMassDelete({ deletes: plan.counts.delete, previousRows: snapshot.count, currentRows: rows.count }).stop).toBe(true);
  });
});

const emptyRowsPlaceholder = {
  count: 0,
  columns: 0,
  keyHashes: new BigUint64Array(0),
  rowHashes: new BigUint64Array(0),
  keys: { text: "", starts: new Uint32Array(0), ends: new Uint32Array(0), nulls: null },
  key: () => null,
  values: () => [],
  valueBytes: () => null,
};
