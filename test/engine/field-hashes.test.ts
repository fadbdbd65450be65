import { describe, expect, it } from "vitest";
import { commitPartition, RESULT_ACKNOWLEDGED, RESULT_FAILED } from "../../src/engine/commit";
import { diffPartition, ROW_UPDATED } from "../../src/engine/diff";
import { changedColumns, hashFields, knownFieldHashes, RowFieldHashes } from "../../src/engine/field-hashes";
import { type Hasher, loadHasher } from "../../src/engine/hash";
import { planPartition } from "../../src/engine/plan";
import { encodeRow } from "../../src/engine/row";
import {
  decodeSnapshot,
  emptySnapshot,
  encodeSnapshot,
  restrictSnapshot,
  snapshotHashWords,
  type SnapshotPartition,
} from "../../src/engine/snapshot";
import type { SyncMode } from "../../src/sync/mode";
import { type Row, rowsOf } from "./helpers";

const SEED = 0x1234_5678_9abc_def0n;
const encoder = new TextEncoder();

/** The field hashes of a row's values, computed independently of the stored chunk. */
function expectedHashes(hasher: Hasher, values: (string | null)[]): number[] {
  return values.map((v) => hasher.hashField(encoder.encode(encodeRow([v]))));
}

/** Key → field hashes of a snapshot. */
function fieldsByKey(s: SnapshotPartition): Map<string, number[]> {
  const count = s.fields?.count ?? 0;
  const out = new Map<string, number[]>();
  for (let i = 0; i < s.count; i++) {
    const key = s.keys.text.slice(s.keys.starts[i] ?? 0, s.keys.ends[i] ?? 0);
    out.set(key, Array.from(s.fields?.hashes.subarray(i * count, (i + 1) * count) ?? []));
  }
  return out;
}

/** One run over one partition keeping field hashes: every operation acknowledged unless `fail` names its key. */
async function run(prev: SnapshotPartition, model: Row[], mode: SyncMode = "upsert", fail: string[] = []) {
  const hasher = await loadHasher();
  const rows = await rowsOf(model);
  const diff = diffPartition(prev, rows);
  const plan = planPartition(diff, mode);
  const results = new Uint8Array(plan.count);
  for (let k = 0; k < plan.count; k++) {
    const key = rows.key(plan.rows[k] ?? 0) ?? "";
    results[k] = fail.includes(key) ? RESULT_FAILED : RESULT_ACKNOWLEDGED;
  }
  const fields = new RowFieldHashes(hasher, rows, rows.columns, SEED);
  const { snapshot } = commitPartition(prev, rows, diff, plan, results, fields);
  return { rows, diff, plan, snapshot, fields };
}

describe("field hashes", () => {
  it("hash each value of a stored row on its own, escapes and nulls included, never 0", async () => {
    const hasher = await loadHasher();
    const values = ["a\tb", null, "", "é\\n"];
    const out = new Uint32Array(4);
    hashFields(hasher, encoder.encode(encodeRow(values)), 4, out);
    expect(Array.from(out)).toEqual(expectedHashes(hasher, values));
    expect(new Set(out).size).toBe(4);
    expect(out.includes(0)).toBe(false);
    expect(() => hashFields(hasher, encoder.encode(encodeRow(values)), 3, new Uint32Array(3))).toThrow(RangeError);
  });

  it("tell which columns changed; an unknown previous hash counts as changed", () => {
    const prev = Uint32Array.from([1, 2, 3, 4, 5, 6]);
    expect(changedColumns(Uint32Array.from([4, 5, 6]), prev, 1, 3)).toBeNull();
    expect(Array.from(changedColumns(Uint32Array.from([4, 9, 6]), prev, 1, 3) ?? [])).toEqual([0, 1, 0]);
    expect(Array.from(changedColumns(Uint32Array.from([4, 5, 6]), Uint32Array.from([0, 0, 0, 4, 0, 6]), 1, 3) ?? [])).toEqual([0, 1, 0]);
  });

  it("round-trip through the snapshot format, and a snapshot without them stays in the old format", async () => {
    const { snapshot } = await run(emptySnapshot(), [
      ["1", "a", "x"],
      ["2", "b", null],
    ]);
    expect(snapshot.fields?.count).toBe(2);
    const bytes = encodeSnapshot(snapshot);
    const back = decodeSnapshot(bytes);
    expect(back.fields?.seed).toBe(SEED);
    expect(fieldsByKey(back)).toEqual(fieldsByKey(snapshot));
    expect(Array.from(back.rowHashes)).toEqual(Array.from(snapshot.rowHashes));
    const words = snapshotHashWords(bytes);
    expect(words.fields).toEqual({ count: 2, seed: SEED });
    expect(Array.from(words.rowWords)).toEqual(Array.from(new Uint32Array(snapshot.rowHashes.buffer, snapshot.rowHashes.byteOffset, 4)));
    // Cut into partitions of another count, each entry keeps its own field hashes.
    const halves = [restrictSnapshot([back], 0, 2), restrictSnapshot([back], 1, 2)];
    expect(new Map([...fieldsByKey(halves[0] as SnapshotPartition), ...fieldsByKey(halves[1] as SnapshotPartition)])).toEqual(
      fieldsByKey(back),
    );

    const plain = { count: back.count, keyHashes: back.keyHashes, rowHashes: back.rowHashes, keys: back.keys };
    const old = encodeSnapshot(plain);
    expect(new DataView(old.buffer).getUint32(0, true)).toBe(0x31535245);
    expect(decodeSnapshot(old).fields).toBeUndefined();
    expect(snapshotHashWords(old).fields).toBeNull();
  });

  it("commit: acknowledged rows take their new field hashes, failed and unchanged ones keep the committed ones", async () => {
    const hasher = await loadHasher();
    const first = await run(emptySnapshot(), [
      ["1", "a", "x"],
      ["2", "b", "y"],
      ["3", "c", "z"],
    ]);
    expect(fieldsByKey(first.snapshot).get("1")).toEqual(expectedHashes(hasher, ["a", "x"]));
    const second = await run(
      first.snapshot,
      [
        ["1", "a", "X"], // second column changed, acknowledged
        ["2", "B", "y"], // first column changed, fails
        ["3", "c", "z"], // unchanged
        ["4", "d", null], // new
      ],
      "upsert",
      ["2"],
    );
    // The plan's update of key 1 changed exactly its second column.
    const prevFields = knownFieldHashes(first.snapshot, second.fields);
    expect(prevFields).not.toBeNull();
    const row1 = 0;
    expect(second.diff.rowStatus[row1]).toBe(ROW_UPDATED);
    const current = second.fields.of(row1) ?? new Uint32Array(0);
    expect(Array.from(changedColumns(current, prevFields ?? new Uint32Array(0), second.diff.prevMatch[row1] ?? 0, 2) ?? [])).toEqual([
      0, 1,
    ]);
    const committed = fieldsByKey(second.snapshot);
    expect(committed.get("1")).toEqual(expectedHashes(hasher, ["a", "X"]));
    expect(committed.get("2")).toEqual(expectedHashes(hasher, ["b", "y"]));
    expect(committed.get("3")).toEqual(expectedHashes(hasher, ["c", "z"]));
    expect(committed.get("4")).toEqual(expectedHashes(hasher, ["d", null]));
  });

  it("a snapshot from before the switch has none: unchanged rows get theirs at commit, other entries stay unknown", async () => {
    const hasher = await loadHasher();
    const first = await run(emptySnapshot(), [
      ["1", "a"],
      ["2", "b"],
    ]);
    const old: SnapshotPartition = {
      count: first.snapshot.count,
      keyHashes: first.snapshot.keyHashes,
      rowHashes: first.snapshot.rowHashes,
      keys: first.snapshot.keys,
    };
    expect(knownFieldHashes(old, first.fields)).toBeNull();
    // Key 2 is held back (duplicated), key 1 unchanged: only key 1's values are there to hash.
    const second = await run(old, [
      ["1", "a"],
      ["2", "b"],
      ["2", "c"],
    ]);
    const committed = fieldsByKey(second.snapshot);
    expect(committed.get("1")).toEqual(expectedHashes(hasher, ["a"]));
    expect(committed.get("2")).toEqual([0]);
  });

  it("are not compared under another mapping (seed) or another column count", async () => {
    const { snapshot, fields } = await run(emptySnapshot(), [["1", "a", "b"]]);
    expect(knownFieldHashes(snapshot, fields)).not.toBeNull();
    expect(knownFieldHashes(snapshot, { count: 2, seed: SEED + 1n })).toBeNull();
    expect(knownFieldHashes(snapshot, { count: 3, seed: SEED })).toBeNull();
  });
});
