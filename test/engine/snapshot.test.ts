import { describe, expect, it } from "vitest";
import { loadHasher } from "../../src/engine/hash";
import { keyAt, sortByKey, words } from "../../src/engine/keys";
import { partitionOf, sourcePartitions } from "../../src/engine/partition";
import {
  decodeRunChunk,
  decodeSnapshot,
  emptySnapshot,
  encodeSnapshot,
  FormatError,
  joinRunChunks,
  restrictSnapshot,
  RunChunkBuilder,
  SnapshotBuilder,
  type SnapshotPartition,
} from "../../src/engine/snapshot";
import { entries } from "./helpers";

/** A sorted snapshot of keys with row hash = key hash + 1. */
async function snapshotOf(keys: string[]): Promise<SnapshotPartition> {
  const h = await loadHasher();
  const b = new RunChunkBuilder(0);
  for (const k of keys) b.add(k, h.hashKey(k), [], h.hashKey(k) + 1n);
  const rows = decodeRunChunk(b.encode());
  const order = sortByKey(rows.keyHashes, rows.keys);
  const out = new SnapshotBuilder(keys.length);
  const kw = words(rows.keyHashes);
  const rw = words(rows.rowHashes);
  for (const i of order) out.append(rows.keys, kw, i, rw, i);
  return out.build();
}

describe("run chunks", () => {
  it("round-trip keys, hashes, nulls, empty strings and any Unicode", () => {
    const b = new RunChunkBuilder(3);
    const rows: [string | null, bigint, bigint, (string | null)[]][] = [
      ["\uFEFFbom-first", 1n, 2n, ["\uFEFF", "", null]],
      ["k2", 0xffff_ffff_ffff_ffffn, 0n, [null, null, null]],
      [null, 0n, 7n, ["a", "é€😀", "x".repeat(300)]],
      ["", 5n, 6n, ["multi\nline", "tab\t", "quote\"'"]],
      ["日本", 9n, 10n, ["\u0000", "\uD83D\uDE00", "z"]],
    ];
    for (const [k, kh, rh, v] of rows) b.add(k, kh, v, rh);
    expect(b.count).toBe(5);
    const bytes = b.encode();
    expect(b.count).toBe(0);
    const c = decodeRunChunk(bytes);
    expect(c.count).toBe(5);
    expect(c.columns).toBe(3);
    rows.forEach(([k, kh, rh, v], i) => {
      expect(c.key(i)).toBe(k);
      expect(c.keyHashes[i]).toBe(kh);
      expect(c.rowHashes[i]).toBe(rh);
      expect(c.values(i)).toEqual(v);
    });
  });

  it("decodes from unaligned bytes and rejects damaged ones", () => {
    const b = new RunChunkBuilder(1);
    b.add("a", 1n, ["x"], 2n);
    const bytes = b.encode();
    const shifted = new Uint8Array(bytes.length + 3);
    expect(() => new RunChunkBuilder(1).add("x", 1n, ["y"])).toThrow(/row hash/);
    shifted.set(bytes, 3);
    const c = decodeRunChunk(shifted.subarray(3));
    expect(c.key(0)).toBe("a");
    expect(c.values(0)).toEqual(["x"]);
    expect(() => decodeRunChunk(bytes.subarray(0, bytes.length - 1))).toThrow(FormatError);
    expect(() => decodeRunChunk(new Uint8Array(8))).toThrow(FormatError);
    expect(() => decodeSnapshot(bytes)).toThrow(FormatError);
    expect(() => b.add("b", 1n, ["x", "y"], 2n)).toThrow(RangeError);
  });

  it("encodes an empty chunk and keeps its size estimate honest", () => {
    const b = new RunChunkBuilder(2);
    const empty = decodeRunChunk(b.encode());
    expect(empty.count).toBe(0);
    for (let i = 0; i < 1000; i++) b.add(`key-${i}`, BigInt(i), [`value ${i}`, null], BigInt(i));
    const estimate = b.encodedBytes;
    const bytes = b.encode();
    expect(bytes.length).toBe(estimate);
  });

  it("joins the chunks of one partition", () => {
    const chunks = [0, 1, 2].map((c) => {
      const b = new RunChunkBuilder(1);
      for (let i = 0; i < c + 1; i++) b.add(c === 1 && i === 0 ? null : `c${c}-${i}`, BigInt(c * 10 + i), [`v${c}-${i}`], 0n);
      return decodeRunChunk(b.encode());
    });
    const rows = joinRunChunks(chunks);
    expect(rows.count).toBe(6);
    expect([0, 1, 2, 3, 4, 5].map((i) => rows.key(i))).toEqual(["c0-0", null, "c1-1", "c2-0", "c2-1", "c2-2"]);
    expect([0, 1, 2, 3, 4, 5].map((i) => rows.values(i)[0])).toEqual(["v0-0", "v1-0", "v1-1", "v2-0", "v2-1", "v2-2"]);
    expect(Array.from(rows.keyHashes)).toEqual([0n, 10n, 11n, 20n, 21n, 22n]);
    expect(() => rows.values(6)).toThrow(RangeError);
    expect(joinRunChunks([], 4).count).toBe(0);
    expect(joinRunChunks([chunks[0] ?? decodeRunChunk(new RunChunkBuilder(1).encode())])).toBe(chunks[0]);
  });
});

describe("snapshot partitions", () => {
  it("round-trip sorted entries", async () => {
    const s = await snapshotOf(["b", "a", "\uFEFFc", "日本", "x".repeat(1000)]);
    const back = decodeSnapshot(encodeSnapshot(s));
    expect(back.count).toBe(5);
    expect(entries(back)).toEqual(entries(s));
    for (let i = 1; i < back.count; i++) expect((back.keyHashes[i - 1] ?? 0n) < (back.keyHashes[i] ?? 0n)).toBe(true);
    expect(decodeSnapshot(encodeSnapshot(emptySnapshot())).count).toBe(0);
  });

  it("sorts colliding hashes by key", () => {
    const b = new RunChunkBuilder(0);
    b.add("zeta", 5n, [], 1n);
    b.add("alpha", 5n, [], 2n);
    b.add("mid", 3n, [], 3n);
    b.add("beta", (5n << 32n) | 1n, [], 4n);
    const rows = decodeRunChunk(b.encode());
    const order = Array.from(sortByKey(rows.keyHashes, rows.keys)).map((i) => keyAt(rows.keys, i));
    expect(order).toEqual(["mid", "alpha", "zeta", "beta"]);
  });

  it("splits and merges when the partition count changes", async () => {
    const keys = Array.from({ length: 2000 }, (_, i) => `k${i}`);
    const h = await loadHasher();
    // Written with P = 4.
    const byPart: string[][] = [[], [], [], []];
    for (const k of keys) byPart[partitionOf(h.hashKey(k), 4)]?.push(k);
    const parts = await Promise.all(byPart.map((ks) => snapshotOf(ks)));
    // Read with P = 8: each new partition slices one old one.
    const seen = new Set<string>();
    for (let p = 0; p < 8; p++) {
      const src = sourcePartitions(p, 8, 4).map((q) => parts[q] ?? emptySnapshot());
      const s = restrictSnapshot(src, p, 8);
      for (const k of entries(s).keys()) {
        expect(partitionOf(h.hashKey(k), 8)).toBe(p);
        seen.add(k);
      }
      for (let i = 1; i < s.count; i++) expect((s.keyHashes[i - 1] ?? 0n) < (s.keyHashes[i] ?? 0n)).toBe(true);
    }
    expect(seen.size).toBe(keys.length);
    // Read with P = 1: everything, sorted, hashes intact.
    const all = restrictSnapshot(parts, 0, 1);
    expect(all.count).toBe(keys.length);
    expect(entries(all).get("k7")).toBe(h.hashKey("k7") + 1n);
    for (let i = 1; i < all.count; i++) expect((all.keyHashes[i - 1] ?? 0n) < (all.keyHashes[i] ?? 0n)).toBe(true);
  });
});
