import { describe, expect, it } from "vitest";
import {
  diffPartition,
  MissingValuesError,
  PREV_GONE,
  PREV_HELD,
  PREV_MATCHED,
  ROW_BLANK_KEY,
  ROW_DUPLICATE_KEY,
  ROW_NEW,
  ROW_UNCHANGED,
  ROW_UPDATED,
} from "../../src/engine/diff";
import { loadHasher } from "../../src/engine/hash";
import { decodeRunChunk, emptySnapshot, RunChunkBuilder } from "../../src/engine/snapshot";
import { entries, rowsOf, runOnce } from "./helpers";

describe("diffPartition", () => {
  it("sees everything as new on a first run", async () => {
    const rows = await rowsOf([
      ["1", "a"],
      ["2", "b"],
    ]);
    const d = diffPartition(emptySnapshot(), rows);
    expect(Array.from(d.rowStatus)).toEqual([ROW_NEW, ROW_NEW]);
    expect(d.counts).toMatchObject({ rows: 2, new: 2, updated: 0, unchanged: 0, gone: 0 });
  });

  it("classifies new, updated, unchanged and gone keys", async () => {
    const { snapshot } = await runOnce(
      emptySnapshot(),
      [
        ["1", "a"],
        ["2", "b"],
        ["3", "c"],
      ],
      "mirror",
    );
    const rows = await rowsOf([
      ["1", "a"],
      ["2", "B"],
      ["4", "d"],
    ]);
    const d = diffPartition(snapshot, rows);
    expect(Array.from(d.rowStatus)).toEqual([ROW_UNCHANGED, ROW_UPDATED, ROW_NEW]);
    expect(d.counts).toMatchObject({ rows: 3, new: 1, updated: 1, unchanged: 1, gone: 1, held: 0 });
    const byKey = new Map([...entries(snapshot).keys()].map((k, p) => [k, d.prevStatus[p]]));
    expect(byKey).toEqual(
      new Map([
        ["1", PREV_MATCHED],
        ["2", PREV_MATCHED],
        ["3", PREV_GONE],
      ]),
    );
    expect(d.prevMatch[2]).toBe(-1);
    expect(d.failed).toEqual([]);
  });

  it("fails every occurrence of a duplicated key and holds its previous state", async () => {
    const { snapshot } = await runOnce(
      emptySnapshot(),
      [
        ["1", "a"],
        ["2", "b"],
      ],
      "mirror",
    );
    const rows = await rowsOf([
      ["1", "x"],
      ["2", "b"],
      ["1", "y"],
      ["3", "c"],
      ["3", "c"],
      ["1", "z"],
    ]);
    const d = diffPartition(snapshot, rows);
    expect(Array.from(d.rowStatus)).toEqual([
      ROW_DUPLICATE_KEY,
      ROW_UNCHANGED,
      ROW_DUPLICATE_KEY,
      ROW_DUPLICATE_KEY,
      ROW_DUPLICATE_KEY,
      ROW_DUPLICATE_KEY,
    ]);
    expect(d.counts).toMatchObject({ duplicateKey: 5, new: 0, gone: 0, held: 1 });
    expect(Array.from(d.prevStatus).sort()).toEqual([PREV_MATCHED, PREV_HELD].sort());
    expect(d.failed.map((f) => [f.row, f.key, f.code])).toEqual([
      [0, "1", "duplicate_primary_key"],
      [2, "1", "duplicate_primary_key"],
      [3, "3", "duplicate_primary_key"],
      [4, "3", "duplicate_primary_key"],
      [5, "1", "duplicate_primary_key"],
    ]);
    expect(d.failed[0]?.message).toContain('"1" appears 3 times');
    expect(d.failed[2]?.message).toContain('"3" appears 2 times');
  });

  it("fails null and empty keys", async () => {
    const rows = await rowsOf([
      [null, "a"],
      ["", "b"],
      [" ", "c"],
    ]);
    const d = diffPartition(emptySnapshot(), rows);
    expect(Array.from(d.rowStatus)).toEqual([ROW_BLANK_KEY, ROW_BLANK_KEY, ROW_NEW]);
    expect(d.failed.map((f) => [f.key, f.code, f.message])).toEqual([
      [null, "null_primary_key", "primary key is null; the row is not sent"],
      ["", "null_primary_key", "primary key is empty; the row is not sent"],
    ]);
    expect(d.counts.blankKey).toBe(2);
  });

  it("keeps different keys with the same 64-bit hash apart", async () => {
    // Force "alice" and "bob" onto one key hash.
    const collide = (k: string | null) => (k === "alice" || k === "bob" ? 0x1234_5678_9abc_def0n : undefined);
    const first = await runOnce(emptySnapshot(), [["alice", "1"]], "mirror", { keyHash: collide });
    // bob arrives with alice's hash and alice's values; alice is gone: a create and a delete, not an update.
    const rows = await rowsOf([["bob", "1"]], collide);
    const d = diffPartition(first.snapshot, rows);
    expect(Array.from(d.rowStatus)).toEqual([ROW_NEW]);
    expect(Array.from(d.prevStatus)).toEqual([PREV_GONE]);
    // Both at once: alice unchanged, bob new.
    const both = await rowsOf(
      [
        ["bob", "2"],
        ["alice", "1"],
      ],
      collide,
    );
    const d2 = diffPartition(first.snapshot, both);
    expect(Array.from(d2.rowStatus)).toEqual([ROW_NEW, ROW_UNCHANGED]);
    // A collision inside one run is not a duplicate.
    expect(d2.counts.duplicateKey).toBe(0);
  });

  it("handles thousands of rows with many probe collisions", async () => {
    const model = Array.from({ length: 5000 }, (_, i): [string, string] => [`k${i}`, `v${i}`]);
    // Only 64 distinct low words: long probe chains in the table.
    const crowd = (k: string | null) => (k === null ? undefined : BigInt(Number(k.slice(1)) % 64) | (BigInt(Number(k.slice(1))) << 32n));
    const first = await runOnce(emptySnapshot(), model, "mirror", { keyHash: crowd });
    expect(first.snapshot.count).toBe(5000);
    const next = model.filter((_, i) => i % 10 !== 0).map(([k, v], i) => [k, i % 7 === 0 ? `${v}!` : v] as [string, string]);
    const d = diffPartition(first.snapshot, await rowsOf(next, crowd));
    expect(d.counts.gone).toBe(500);
    expect(d.counts.new).toBe(0);
    expect(d.counts.updated + d.counts.unchanged).toBe(4500);
    expect(d.counts.updated).toBe(Math.ceil(4500 / 7));
  });
  it("refuses a new or changed row stored without its values, and accepts an unchanged one", async () => {
    const hasher = await loadHasher();
    const { snapshot } = await runOnce(
      emptySnapshot(),
      [
        ["1", "a"],
        ["2", "b"],
      ],
      "mirror",
    );
    const utf8 = new TextEncoder();
    // As extraction stores a row its known-rows set holds: key, hashes, no values.
    const withoutValues = (rows: [string, string][]) => {
      const b = new RunChunkBuilder(1, (bytes) => hasher.hashEncodedRow(bytes));
      for (const [key, value] of rows) {
        b.addEncoded(utf8.encode(key), key.length, hasher.hashKey(key), null, hasher.hashEncodedRow(utf8.encode(value)));
      }
      return decodeRunChunk(b.encode());
    };
    const same = diffPartition(
      snapshot,
      withoutValues([
        ["1", "a"],
        ["2", "b"],
      ]),
    );
    expect(same.counts).toMatchObject({ unchanged: 2, updated: 0, new: 0 });
    expect(() =>
      diffPartition(
        snapshot,
        withoutValues([
          ["1", "a"],
          ["2", "B"],
        ]),
      ),
    ).toThrow(MissingValuesError);
    expect(() => diffPartition(snapshot, withoutValues([["3", "c"]]))).toThrow(/"3" changed but was stored without its values/);
  });
});
