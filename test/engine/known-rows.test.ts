import { describe, expect, it } from "vitest";
import { copyColumns, PartitionWriter } from "../../src/engine/extract";
import { loadHasher } from "../../src/engine/hash";
import { KnownRows } from "../../src/engine/known-rows";
import { decodeRunChunk, emptySnapshot, encodeSnapshot, joinRunChunks, snapshotHashWords } from "../../src/engine/snapshot";
import { runOnce, type Row } from "./helpers";

/** Deterministic 64-bit values (splitmix64). */
function* hashes(seed: bigint): Generator<bigint> {
  let x = seed;
  for (;;) {
    x = (x + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
    let z = x;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
    yield z ^ (z >> 31n);
  }
}

describe("KnownRows", () => {
  it("finds every pair it holds and none of 100,000 others", () => {
    const gen = hashes(7n);
    const next = () => gen.next().value as bigint;
    const held = Array.from({ length: 50_000 }, () => [next(), next()] as const);
    const known = new KnownRows(held.length);
    for (const [k, r] of held) known.add(k, r);
    known.add(held[0]?.[0] ?? 0n, held[0]?.[1] ?? 0n); // again: still one entry
    expect(known.size).toBe(50_000);
    expect(known.bytes).toBe(2 ** 17 * 8);
    expect(held.every(([k, r]) => known.has(k, r))).toBe(true);
    let found = 0;
    for (let i = 0; i < 100_000; i++) if (known.has(next(), next())) found++;
    expect(found).toBe(0);
    // The same key with another row hash (a changed row), and the halves swapped, are not held.
    expect(held.some(([k, r]) => known.has(k, r ^ 1n) || known.has(r, k))).toBe(false);
  });

  it("answers many pairs given as words (hasWords) as has() answers each", () => {
    const gen = hashes(11n);
    const next = () => gen.next().value as bigint;
    // A nearly half-full table, so probes run past occupied home slots.
    const known = new KnownRows(1000);
    const held = Array.from({ length: 1020 }, () => [next(), next()] as const);
    for (const [k, r] of held) known.add(k, r);
    const asked = [
      ...held.slice(0, 300),
      ...Array.from({ length: 300 }, () => [next(), next()] as const),
      ...held.map(([k, r]) => [k, r ^ 1n] as const),
    ];
    const keys = new BigUint64Array(asked.map(([k]) => k));
    const rowHashes = new BigUint64Array(asked.map(([, r]) => r));
    const out = new Uint8Array(asked.length);
    known.hasWords(new Uint32Array(keys.buffer), new Uint32Array(rowHashes.buffer), asked.length, out);
    expect([...out]).toEqual(asked.map(([k, r]) => (known.has(k, r) ? 1 : 0)));
    expect(out.reduce((n, x) => n + x, 0)).toBe(300);
  });

  it("takes a committed snapshot's hashes as words, equal to adding each pair", async () => {
    const model: Row[] = Array.from({ length: 500 }, (_, i) => [`k${i}`, `v${i}`, i % 7 === 0 ? null : "x"]);
    const { snapshot } = await runOnce(emptySnapshot(), model, "mirror");
    const { keyWords, rowWords } = snapshotHashWords(encodeSnapshot(snapshot));
    const known = new KnownRows(snapshot.count);
    known.addWords(keyWords, rowWords);
    expect(known.size).toBe(500);
    for (let i = 0; i < snapshot.count; i++) {
      const k = snapshot.keyHashes[i] ?? 0n;
      const r = snapshot.rowHashes[i] ?? 0n;
      expect(known.has(k, r)).toBe(true);
      expect(known.has(k, r + 1n)).toBe(false);
    }
  });

  it("refuses more pairs than it was sized for instead of filling up", () => {
    const known = new KnownRows(10);
    const gen = hashes(1n);
    expect(() => {
      for (let i = 0; i < 100; i++) known.add(gen.next().value as bigint, 1n);
    }).toThrow(RangeError);
  });
});

describe("PartitionWriter with the last snapshot's pairs", () => {
  it("stores rows the snapshot holds unchanged without their values, with the same hashes", async () => {
    const h = await loadHasher();
    const seed = h.mappingSeed(["email", "plan"]);
    const te = new TextEncoder();
    const line = (key: string, plan: string) => te.encode(`${key}\t${key}@example.com\t${plan}\n`);
    const known = new KnownRows(100);
    for (let i = 0; i < 100; i++) known.add(h.hashKey(String(i)), h.hashEncodedRow(te.encode(`${i}@example.com\tfree`), seed));

    const write = (snapshot: KnownRows | null) => {
      const w = new PartitionWriter(h, 2, copyColumns(2), seed, {}, snapshot);
      for (let i = 0; i < 120; i++) w.addCopyLine(line(String(i), i % 10 === 0 ? "pro" : "free"));
      const chunks = w.finishAll();
      return {
        w,
        rows: [0, 1].map((p) =>
          joinRunChunks(
            chunks.filter((c) => c.partition === p).map((c) => decodeRunChunk(c.bytes)),
            2,
          ),
        ),
      };
    };
    const full = write(null);
    const lean = write(known);
    // 0..99 are known; every tenth changed plan; 100..119 are new.
    expect(lean.w.unchanged).toBe(90);
    expect(lean.w.rows).toBe(120);
    for (const p of [0, 1]) {
      const a = full.rows[p];
      const b = lean.rows[p];
      if (!a || !b) throw new Error("missing partition");
      expect([...b.keyHashes]).toEqual([...a.keyHashes]);
      expect([...b.rowHashes]).toEqual([...a.rowHashes]);
      for (let i = 0; i < b.count; i++) {
        const key = Number(b.key(i));
        if (key < 100 && key % 10 !== 0) expect(() => b.values(i)).toThrow(/not kept/);
        else expect(b.values(i)).toEqual(a.values(i));
      }
    }
    const count = (r: typeof full) => r.rows.reduce((n, x) => n + (x?.count ?? 0), 0);
    expect(count(lean)).toBe(count(full));
  });
});
