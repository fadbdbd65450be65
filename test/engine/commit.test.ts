// Over 400 lines: every commit rule (acknowledged, failed, deleted, duplicate keys, random runs) against one set of snapshot fixtures.
import { describe, expect, it } from "vitest";
import { commitPartition, RESULT_ACKNOWLEDGED } from "../../src/engine/commit";
import { diffPartition } from "../../src/engine/diff";
import { loadHasher } from "../../src/engine/hash";
import { planPartition } from "../../src/engine/plan";
import { emptySnapshot } from "../../src/engine/snapshot";
import type { SyncMode } from "../../src/sync/mode";
import { describe as ops, entries, rowsOf, runOnce, type Row } from "./helpers";

const MODES: SyncMode[] = ["upsert", "mirror", "append"];

/** Row hash of a row's values, as committed for `key` (the key is not part of it). */
async function rowHashOf(_key: string, values: string[]): Promise<bigint> {
  return (await loadHasher()).hashRow(values);
}

describe("commitPartition", () => {
  it("in update mode, counts a row with no record as failed but commits it, so it is sent again only when it changes", async () => {
    const model: Row[] = [
      ["1", "a"],
      ["2", "b"],
    ];
    const first = await runOnce(emptySnapshot(), model, "update", { notFound: (op) => op.key === "2" });
    expect(ops(first.ops)).toEqual(["update 1", "update 2"]);
    expect(first.counts).toEqual({ created: 0, updated: 1, deleted: 0, failed: 1, pending: 0 });
    expect(entries(first.snapshot)).toEqual(
      new Map([
        ["1", await rowHashOf("1", ["a"])],
        ["2", await rowHashOf("2", ["b"])],
      ]),
    );
    // Unchanged: nothing is sent, not even the row that was not found.
    expect((await runOnce(first.snapshot, model, "update")).ops).toEqual([]);
    // Changed: sent again. A rejected row (not "not found") keeps its old state and is retried.
    const changed = await runOnce(
      first.snapshot,
      [
        ["1", "a"],
        ["2", "B"],
      ],
      "update",
      { reject: () => true },
    );
    expect(ops(changed.ops)).toEqual(["update 2"]);
    expect(entries(changed.snapshot).get("2")).toBe(await rowHashOf("2", ["b"]));
  });

  it("commits a first run in every mode", async () => {
    for (const mode of MODES) {
      const r = await runOnce(
        emptySnapshot(),
        [
          ["1", "a"],
          ["2", "b"],
        ],
        mode,
      );
      expect(ops(r.ops)).toEqual(mode === "upsert" ? ["upsert 1", "upsert 2"] : ["create 1", "create 2"]);
      expect(r.counts).toEqual({ created: 2, updated: 0, deleted: 0, failed: 0, pending: 0 });
      expect(entries(r.snapshot)).toEqual(
        new Map([
          ["1", await rowHashOf("1", ["a"])],
          ["2", await rowHashOf("2", ["b"])],
        ]),
      );
    }
  });

  it("follows inserts, updates, deletes and no change in mirror mode", async () => {
    const r1 = await runOnce(
      emptySnapshot(),
      [
        ["1", "a"],
        ["2", "b"],
        ["3", "c"],
      ],
      "mirror",
    );
    const r2 = await runOnce(
      r1.snapshot,
      [
        ["1", "a"],
        ["2", "B"],
        ["4", "d"],
      ],
      "mirror",
    );
    expect(ops(r2.ops)).toEqual(["create 4", "delete 3", "update 2"]);
    expect(r2.counts).toEqual({ created: 1, updated: 1, deleted: 1, failed: 0, pending: 0 });
    expect([...entries(r2.snapshot).keys()].sort()).toEqual(["1", "2", "4"]);
    expect(entries(r2.snapshot).get("2")).toBe(await rowHashOf("2", ["B"]));
    const r3 = await runOnce(
      r2.snapshot,
      [
        ["1", "a"],
        ["2", "B"],
        ["4", "d"],
      ],
      "mirror",
    );
    expect(r3.ops).toEqual([]);
    expect(entries(r3.snapshot)).toEqual(entries(r2.snapshot));
  });

  it("follows inserts and updates in upsert mode and forgets keys gone from the model", async () => {
    const r1 = await runOnce(
      emptySnapshot(),
      [
        ["1", "a"],
        ["2", "b"],
        ["3", "c"],
      ],
      "upsert",
    );
    const r2 = await runOnce(
      r1.snapshot,
      [
        ["1", "a"],
        ["2", "B"],
        ["4", "d"],
      ],
      "upsert",
    );
    expect(ops(r2.ops)).toEqual(["upsert 2", "upsert 4"]);
    expect(r2.counts).toMatchObject({ created: 1, updated: 1, deleted: 0 });
    expect([...entries(r2.snapshot).keys()].sort()).toEqual(["1", "2", "4"]);
    // 3 comes back unchanged: it was never deleted at the destination, but it is sent again.
    const r3 = await runOnce(
      r2.snapshot,
      [
        ["1", "a"],
        ["2", "B"],
        ["3", "c"],
        ["4", "d"],
      ],
      "upsert",
    );
    expect(ops(r3.ops)).toEqual(["upsert 3"]);
  });

  it("only adds new keys in append mode", async () => {
    const r1 = await runOnce(
      emptySnapshot(),
      [
        ["1", "a"],
        ["2", "b"],
      ],
      "append",
    );
    const r2 = await runOnce(
      r1.snapshot,
      [
        ["1", "A"],
        ["3", "c"],
      ],
      "append",
    );
    expect(ops(r2.ops)).toEqual(["create 3"]);
    // The update of 1 was not sent, so the snapshot keeps what the destination has; 2 is forgotten.
    expect(entries(r2.snapshot)).toEqual(
      new Map([
        ["1", await rowHashOf("1", ["a"])],
        ["3", await rowHashOf("3", ["c"])],
      ]),
    );
    const r3 = await runOnce(
      r2.snapshot,
      [
        ["1", "A"],
        ["3", "c"],
        ["2", "b"],
      ],
      "append",
    );
    expect(ops(r3.ops)).toEqual(["create 2"]);
  });

  it("retries failed creates, updates and upserts on every run until they succeed", async () => {
    for (const mode of MODES) {
      const r1 = await runOnce(
        emptySnapshot(),
        [
          ["1", "a"],
          ["2", "b"],
        ],
        mode,
        { reject: (o) => o.key === "2" },
      );
      expect(r1.counts).toMatchObject({ created: 1, failed: 1 });
      expect([...entries(r1.snapshot).keys()]).toEqual(["1"]);
      const r2 = await runOnce(
        r1.snapshot,
        [
          ["1", "a"],
          ["2", "b"],
        ],
        mode,
        { reject: (o) => o.key === "2" },
      );
      expect(ops(r2.ops)).toEqual([mode === "upsert" ? "upsert 2" : "create 2"]);
      const r3 = await runOnce(
        r2.snapshot,
        [
          ["1", "a"],
          ["2", "b"],
        ],
        mode,
      );
      expect(r3.counts.created).toBe(1);
      expect([...entries(r3.snapshot).keys()].sort()).toEqual(["1", "2"]);
      expect(
        (
          await runOnce(
            r3.snapshot,
            [
              ["1", "a"],
              ["2", "b"],
            ],
            mode,
          )
        ).ops,
      ).toEqual([]);
    }
    // A failed update keeps the old hash, so the change is planned again.
    const m1 = await runOnce(emptySnapshot(), [["1", "a"]], "mirror");
    const m2 = await runOnce(m1.snapshot, [["1", "b"]], "mirror", { reject: () => true });
    expect(entries(m2.snapshot).get("1")).toBe(await rowHashOf("1", ["a"]));
    const m3 = await runOnce(m2.snapshot, [["1", "b"]], "mirror");
    expect(ops(m3.ops)).toEqual(["update 1"]);
    expect(entries(m3.snapshot).get("1")).toBe(await rowHashOf("1", ["b"]));
  });

  it("retries failed deletes", async () => {
    const r1 = await runOnce(
      emptySnapshot(),
      [
        ["1", "a"],
        ["2", "b"],
        ["3", "c"],
      ],
      "mirror",
    );
    const r2 = await runOnce(
      r1.snapshot,
      [
        ["1", "a"],
        ["2", "b"],
      ],
      "mirror",
      { reject: (o) => o.kind === "delete" },
    );
    expect(r2.counts).toMatchObject({ deleted: 0, failed: 1 });
    expect(entries(r2.snapshot).has("3")).toBe(true);
    const r3 = await runOnce(
      r2.snapshot,
      [
        ["1", "a"],
        ["2", "b"],
      ],
      "mirror",
    );
    expect(ops(r3.ops)).toEqual(["delete 3"]);
    expect(entries(r3.snapshot).has("3")).toBe(false);
    // A key whose delete failed and that comes back unchanged needs nothing.
    const r4 = await runOnce(
      r2.snapshot,
      [
        ["1", "a"],
        ["2", "b"],
        ["3", "c"],
      ],
      "mirror",
    );
    expect(r4.ops).toEqual([]);
  });

  it("treats operations without a result as not delivered", async () => {
    const prev = (
      await runOnce(
        emptySnapshot(),
        [
          ["1", "a"],
          ["2", "b"],
        ],
        "mirror",
      )
    ).snapshot;
    const rows = await rowsOf([
      ["1", "A"],
      ["3", "c"],
    ]);
    const diff = diffPartition(prev, rows);
    const plan = planPartition(diff, "mirror");
    const results = new Uint8Array(plan.count);
    // Only the first operation (the delete of 2) was acknowledged before the run stopped.
    results[0] = RESULT_ACKNOWLEDGED;
    const { snapshot, counts } = commitPartition(prev, rows, diff, plan, results);
    expect(counts).toEqual({ created: 0, updated: 0, deleted: 1, failed: 0, pending: 2 });
    expect(entries(snapshot)).toEqual(new Map([["1", await rowHashOf("1", ["a"])]]));
    expect(() => commitPartition(prev, rows, diff, plan, new Uint8Array(1))).toThrow(RangeError);
  });

  it("keeps the committed state of duplicated keys and never commits null keys", async () => {
    const r1 = await runOnce(
      emptySnapshot(),
      [
        ["1", "a"],
        ["2", "b"],
      ],
      "mirror",
    );
    const r2 = await runOnce(
      r1.snapshot,
      [
        ["1", "x"],
        ["1", "y"],
        [null, "n"],
        ["", "e"],
        ["2", "b"],
      ],
      "mirror",
    );
    expect(r2.ops).toEqual([]);
    expect(r2.failedKeys).toEqual(["1", "1", null, ""]);
    expect(entries(r2.snapshot)).toEqual(entries(r1.snapshot));
    // New duplicated keys stay absent.
    const r3 = await runOnce(
      r2.snapshot,
      [
        ["1", "a"],
        ["2", "b"],
        ["9", "p"],
        ["9", "q"],
      ],
      "upsert",
    );
    expect(r3.ops).toEqual([]);
    expect([...entries(r3.snapshot).keys()].sort()).toEqual(["1", "2"]);
    // Fixed: the update goes through.
    const r4 = await runOnce(
      r3.snapshot,
      [
        ["1", "x"],
        ["2", "b"],
      ],
      "mirror",
    );
    expect(ops(r4.ops)).toEqual(["update 1"]);
  });

  it("survives a 64-bit hash collision between two keys across runs", async () => {
    const collide = (k: string | null) => (k === "alice" || k === "bob" ? 0xdead_beef_0000_0001n : undefined);
    const r1 = await runOnce(
      emptySnapshot(),
      [
        ["alice", "1"],
        ["carol", "3"],
      ],
      "mirror",
      { keyHash: collide },
    );
    const r2 = await runOnce(
      r1.snapshot,
      [
        ["bob", "1"],
        ["carol", "3"],
      ],
      "mirror",
      { keyHash: collide },
    );
    expect(ops(r2.ops)).toEqual(["create bob", "delete alice"]);
    expect([...entries(r2.snapshot).keys()].sort()).toEqual(["bob", "carol"]);
    const r3 = await runOnce(
      r2.snapshot,
      [
        ["alice", "1"],
        ["bob", "2"],
        ["carol", "3"],
      ],
      "mirror",
      { keyHash: collide },
    );
    expect(ops(r3.ops)).toEqual(["create alice", "update bob"]);
    expect(r3.snapshot.count).toBe(3);
    const r4 = await runOnce(
      r3.snapshot,
      [
        ["alice", "1"],
        ["bob", "2"],
        ["carol", "3"],
      ],
      "mirror",
      { keyHash: collide },
    );
    expect(r4.ops).toEqual([]);
    const r5 = await runOnce(
      r4.snapshot,
      [
        ["bob", "2"],
        ["carol", "3"],
      ],
      "mirror",
      { keyHash: collide },
    );
    expect(ops(r5.ops)).toEqual(["delete alice"]);
  });

  it("commits a full resync: everything re-sent, failures keep their old state, gone keys deleted", async () => {
    const r1 = await runOnce(
      emptySnapshot(),
      [
        ["1", "a"],
        ["2", "b"],
        ["3", "c"],
      ],
      "mirror",
    );
    const r2 = await runOnce(
      r1.snapshot,
      [
        ["1", "a"],
        ["2", "B"],
      ],
      "mirror",
      {
        fullResync: true,
        reject: (o) => o.key === "2",
      },
    );
    expect(ops(r2.ops)).toEqual(["create 1", "create 2", "delete 3"]);
    expect(r2.counts).toMatchObject({ created: 1, deleted: 1, failed: 1 });
    expect(entries(r2.snapshot)).toEqual(
      new Map([
        ["1", await rowHashOf("1", ["a"])],
        ["2", await rowHashOf("2", ["b"])],
      ]),
    );
    const r3 = await runOnce(
      r2.snapshot,
      [
        ["1", "a"],
        ["2", "B"],
      ],
      "mirror",
    );
    expect(ops(r3.ops)).toEqual(["update 2"]);
  });

  it("keeps the snapshot sorted with unique keys over many random runs", async () => {
    let snapshot = emptySnapshot();
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const model = new Map<string, string>();
    for (let run = 0; run < 8; run++) {
      for (let i = 0; i < 300; i++) {
        const k = `k${Math.floor(rand() * 400)}`;
        if (rand() < 0.2) model.delete(k);
        else model.set(k, `v${Math.floor(rand() * 3)}`);
      }
      const rows: Row[] = [...model].map(([k, v]) => [k, v]);
      const r = await runOnce(snapshot, rows, "mirror", { reject: () => rand() < 0.1 });
      snapshot = r.snapshot;
      const keys = [...entries(snapshot).keys()];
      expect(new Set(keys).size).toBe(snapshot.count);
      for (let i = 1; i < snapshot.count; i++) expect((snapshot.keyHashes[i - 1] ?? 0n) < (snapshot.keyHashes[i] ?? 0n)).toBe(true);
    }
    const final = await runOnce(
      snapshot,
      [...model].map(([k, v]): Row => [k, v]),
      "mirror",
    );
    const settled = await runOnce(
      final.snapshot,
      [...model].map(([k, v]): Row => [k, v]),
      "mirror",
    );
    expect(settled.ops).toEqual([]);
    expect(entries(settled.snapshot).size).toBe(model.size);
  });
});
