import { describe, expect, it } from "vitest";
import { commitPartition, RESULT_ACKNOWLEDGED } from "../../src/engine/commit";
import { diffPartition } from "../../src/engine/diff";
import { copySelect } from "../../src/sources/postgres/sql-guard";
import { copyColumns, MissingColumnError, PartitionWriter, resolveColumns, type ReadyChunk } from "../../src/engine/extract";
import { KnownRows } from "../../src/engine/known-rows";
import { encodeRow } from "../../src/engine/row";
import { loadHasher, type RawValue } from "../../src/engine/hash";
import { partitionOf, sourcePartitions } from "../../src/engine/partition";
import { checkMassDelete, operationBatches, planPartition } from "../../src/engine/plan";
import { decodeRunChunk, emptySnapshot, joinRunChunks, restrictSnapshot, type SnapshotPartition } from "../../src/engine/snapshot";
import type { SyncMode } from "../../src/sync/mode";
import { entries } from "./helpers";

const FIELDS = ["id", "email", "name", "score"];

describe("resolveColumns", () => {
  it("finds the key and mapped columns, or names the missing ones", () => {
    expect(resolveColumns(FIELDS, "id", ["name", "email"])).toEqual({ key: 0, values: [2, 1] });
    expect(() => resolveColumns(FIELDS, "id", ["name", "phone", "fax"])).toThrow(MissingColumnError);
    try {
      resolveColumns(FIELDS, "pk", ["phone"]);
    } catch (e) {
      expect(e).toBeInstanceOf(MissingColumnError);
      expect((e as MissingColumnError).missing).toEqual(["pk", "phone"]);
      expect((e as Error).message).toContain("columns: id, email, name, score");
    }
  });
});

describe("PartitionWriter", () => {
  it("routes rows by key hash and keeps buffers within limits", async () => {
    const h = await loadHasher();
    const w = new PartitionWriter(h, 8, resolveColumns(FIELDS, "id", ["email", "score"]), undefined, {
      maxChunkBytes: 4096,
      maxBufferedBytes: 16_384,
    });
    const chunks: ReadyChunk[] = [];
    for (let i = 0; i < 5000; i++) {
      w.add([String(i), `u${i}@x.io`, `User ${i}`, i % 3 === 0 ? null : String(i)]);
      chunks.push(...w.takeReady());
    }
    chunks.push(...w.finishAll());
    expect(w.rows).toBe(5000);
    expect(chunks.reduce((s, c) => s + c.rows, 0)).toBe(5000);
    for (const c of chunks) expect(c.bytes.length).toBeLessThan(4096 + 200);
    const seqs = new Map<number, number[]>();
    for (const c of chunks) {
      const rows = decodeRunChunk(c.bytes);
      expect(rows.count).toBe(c.rows);
      for (let i = 0; i < rows.count; i++) {
        const key = rows.key(i) ?? "";
        expect(partitionOf(rows.keyHashes[i] ?? 0n, 8)).toBe(c.partition);
        expect(rows.keyHashes[i]).toBe(h.hashKey(key));
        expect(rows.values(i)).toEqual([`u${key}@x.io`, Number(key) % 3 === 0 ? null : key]);
      }
      seqs.set(c.partition, [...(seqs.get(c.partition) ?? []), c.seq]);
    }
    for (const [p, s] of seqs) {
      expect(s).toEqual(s.map((_, i) => i));
      expect(w.chunkCounts()[p]).toBe(s.length);
    }
    // Every partition's chunks hold exactly the rows whose keys hash to it.
    const perPartition = new Map<number, number>();
    for (let i = 0; i < 5000; i++) {
      const p = partitionOf(h.hashKey(String(i)), 8);
      perPartition.set(p, (perPartition.get(p) ?? 0) + 1);
    }
    const stored = new Map<number, number>();
    for (const c of chunks) stored.set(c.partition, (stored.get(c.partition) ?? 0) + c.rows);
    expect(stored).toEqual(perPartition);
  });
});

/**
 * 700 rows (over two batches of lines) with null, escaped, empty and non-ASCII keys among plain
 * ones, and a last snapshot holding every other row unchanged.
 */
async function awkwardRows() {
  const h = await loadHasher();
  const seed = h.mappingSeed(["a", "b"]);
  const rows: RawValue[][] = Array.from({ length: 700 }, (_, i): RawValue[] => {
    const key = i % 97 === 5 ? null : i % 89 === 7 ? `k\\${i}` : i % 83 === 3 ? "" : i % 7 === 0 ? `ключ😀${i}` : String(i);
    return [key, `v${i}`, i % 3 === 0 ? null : "x".repeat(i % 40)];
  });
  const known = new KnownRows(rows.length);
  rows.forEach((r, i) => {
    if (i % 2 === 0 && r[0] !== null) known.add(h.hashKey(r[0] ?? ""), h.hashRow(r.slice(1), seed));
  });
  return { h, seed, rows, known };
}

/**
 * `batched` (whose chunks taken early are `early`) made the chunks `byLine` made, over more than
 * 4 chunks, and skipped as many unchanged rows (over 300 when the last snapshot was given).
 */
function expectSameChunks(byLine: PartitionWriter, batched: PartitionWriter, early: ReadyChunk[], withSnapshot: boolean) {
  const a = byLine.finishAll();
  const b = [...early, ...batched.finishAll()];
  expect(b.length).toBeGreaterThan(4);
  expect(b.map((c) => [c.partition, c.seq, c.rows, c.bytes])).toEqual(a.map((c) => [c.partition, c.seq, c.rows, c.bytes]));
  expect([batched.rows, batched.unchanged]).toEqual([byLine.rows, byLine.unchanged]);
  if (withSnapshot) expect(batched.unchanged).toBeGreaterThan(300);
}

describe("PartitionWriter.addCopyLine", () => {
  it("stores and hashes COPY lines exactly as the same rows given as strings", async () => {
    const h = await loadHasher();
    const rows: RawValue[][] = [
      ["1", "plain", null, ""],
      ["2", "tab\there", "new\nline", "back\\slash"],
      ["k\tey", "日本😀", "\\N", "x"],
      [null, "null key", "a", "b"],
      ["\\N", "key is the text \\N", "a", "b"],
      ["", "empty key", "a", "b"],
    ];
    const seed = h.mappingSeed(["a", "b", "c"]);
    const byRows = new PartitionWriter(h, 2, copyColumns(3), seed);
    const byLines = new PartitionWriter(h, 2, copyColumns(3), seed);
    const te = new TextEncoder();
    for (const r of rows) {
      byRows.add(r);
      // What COPY sends: key and values as COPY text, newline-terminated.
      byLines.addCopyLine(te.encode(`${encodeRow(r)}\n`));
    }
    const a = byRows.finishAll();
    const b = byLines.finishAll();
    expect(b.map((c) => c.bytes)).toEqual(a.map((c) => c.bytes));
    const all = a.map((c) => decodeRunChunk(c.bytes));
    const keys = all.flatMap((c) => Array.from({ length: c.count }, (_, i) => c.key(i)));
    expect(keys.sort()).toEqual(rows.map((r) => r[0] ?? null).sort());
    for (const c of all) {
      for (let i = 0; i < c.count; i++) {
        const original = rows.find((r) => (r[0] ?? null) === c.key(i));
        expect(c.values(i)).toEqual(original?.slice(1));
        expect(c.rowHashes[i]).toBe(h.hashRow(original?.slice(1) ?? [], seed));
      }
    }
  });

  it("gives the same chunks for a buffer of many lines (addCopyLines) as line by line, across batches and small chunks", async () => {
    const { h, seed, rows, known } = await awkwardRows();
    const te = new TextEncoder();
    const text = rows.map((r) => `${encodeRow(r)}\n`).join("");
    const limits = { maxChunkBytes: 4096 };
    for (const snapshot of [null, known]) {
      const byLine = new PartitionWriter(h, 4, copyColumns(2), seed, limits, snapshot);
      // Without a snapshot the reference is the rows as strings (add), else line by line.
      for (const r of rows) {
        if (snapshot === null) byLine.add(r);
        else byLine.addCopyLine(te.encode(`${encodeRow(r)}\n`));
      }
      const byBuffer = new PartitionWriter(h, 4, copyColumns(2), seed, limits, snapshot);
      // Two buffers, the second without its last newline.
      const bytes = te.encode(text.slice(0, -1));
      const cut = bytes.indexOf(10, bytes.length >> 1) + 1;
      byBuffer.addCopyLines(bytes.subarray(0, cut));
      const early = byBuffer.takeReady();
      byBuffer.addCopyLines(bytes.subarray(cut));
      expectSameChunks(byLine, byBuffer, early, snapshot !== null);
    }
  });

  it("gives the same chunks for lines given as ranges of a buffer (addCopyLineRanges) as line by line", async () => {
    const { h, seed, rows, known } = await awkwardRows();
    const te = new TextEncoder();
    const lines = rows.map((r) => te.encode(`${encodeRow(r)}\n`));
    const limits = { maxChunkBytes: 4096 };
    // As CopyData messages lie in a read buffer: each line behind a 5-byte header (here 0xff bytes),
    // every fifth one without its newline.
    const buffer = new Uint8Array(lines.reduce((n, l) => n + 5 + l.length, 0)).fill(0xff);
    const starts = new Int32Array(lines.length);
    const ends = new Int32Array(lines.length);
    let at = 0;
    lines.forEach((l, i) => {
      at += 5;
      buffer.set(l, at);
      starts[i] = at;
      ends[i] = at + l.length - (i % 5 === 4 ? 1 : 0);
      at += l.length;
    });
    for (const snapshot of [null, known]) {
      const byLine = new PartitionWriter(h, 4, copyColumns(2), seed, limits, snapshot);
      for (const l of lines) byLine.addCopyLine(l);
      const byRanges = new PartitionWriter(h, 4, copyColumns(2), seed, limits, snapshot);
      // Two calls, the second from an offset into the range arrays.
      const half = 333;
      expect(byRanges.addCopyLineRanges(buffer, starts, ends, half)).toBe(half);
      const early = byRanges.takeReady();
      expect(byRanges.addCopyLineRanges(buffer, starts.subarray(half), ends.subarray(half), lines.length - half)).toBe(lines.length - half);
      expectSameChunks(byLine, byRanges, early, snapshot !== null);
    }
  });

  it("selects the key and mapped columns for COPY", () => {
    const select = copySelect("SELECT * FROM users -- all", ["id", "email", 'we"ird']);
    expect(select.text).toBe('SELECT "id", "email", "we""ird" FROM (\nSELECT * FROM users -- all\n) AS model');
    expect(select.text.slice(select.modelAt)).toMatch(/^SELECT \* FROM users -- all\n\) AS model$/);
  });
});

/** In-memory stand-in for R2 and the run loop: extract → diff all → guard → deliver → commit, per partition. */
class FakeSync {
  snapshots: SnapshotPartition[] = [emptySnapshot()];
  partitions = 1;

  constructor(readonly mode: SyncMode) {}

  async run(model: RawValue[][], partitions: number, reject: (key: string) => boolean = () => false) {
    const h = await loadHasher();
    const w = new PartitionWriter(h, partitions, resolveColumns(FIELDS, "id", ["email", "name"]), h.mappingSeed(["email", "name"]), {
      maxChunkBytes: 2048,
    });
    const chunks: ReadyChunk[] = [];
    for (const row of model) {
      w.add(row);
      chunks.push(...w.takeReady());
    }
    chunks.push(...w.finishAll());
    const next: SnapshotPartition[] = [];
    const sent: string[] = [];
    let deletes = 0;
    const work = Array.from({ length: partitions }, (_, p) => {
      const rows = joinRunChunks(
        chunks.filter((c) => c.partition === p).map((c) => decodeRunChunk(c.bytes)),
        2,
      );
      const prevParts = sourcePartitions(p, partitions, this.partitions).map((q) => this.snapshots[q] ?? emptySnapshot());
      const prev = restrictSnapshot(prevParts, p, partitions);
      const diff = diffPartition(prev, rows);
      const plan = planPartition(diff, this.mode);
      deletes += plan.counts.delete;
      return { rows, prev, diff, plan };
    });
    const previousRows = this.snapshots.reduce((s, x) => s + x.count, 0);
    const guard = checkMassDelete({ deletes, previousRows, currentRows: model.length });
    if (guard.stop) return { stopped: guard.reason, sent };
    for (const { rows, prev, diff, plan } of work) {
      const results = new Uint8Array(plan.count);
      for (const batch of operationBatches(plan, rows, prev, { maxOperations: 50 })) {
        for (const op of batch) {
          sent.push(`${op.kind} ${op.key}`);
          results[op.index] = reject(op.key) ? 2 : RESULT_ACKNOWLEDGED;
        }
      }
      next.push(commitPartition(prev, rows, diff, plan, results).snapshot);
    }
    this.snapshots = next;
    this.partitions = partitions;
    return { stopped: null, sent };
  }

  keys(): string[] {
    return this.snapshots.flatMap((s) => [...entries(s).keys()]).sort();
  }
}

const people = (n: number, suffix = "") =>
  Array.from({ length: n }, (_, i): RawValue[] => [String(i), `p${i}@x.io`, `Person ${i}${suffix}`, String(i * 7)]);

describe("a sync over several runs and partitions", () => {
  it("diffs per partition while P changes between runs", async () => {
    const sync = new FakeSync("mirror");
    const first = await sync.run(people(3000), 4);
    expect(first.sent.length).toBe(3000);
    expect(sync.keys().length).toBe(3000);

    // P grows to 8: 1% changed, 1% deleted, 20 new.
    const model = people(3000)
      .filter((_, i) => i % 100 !== 1)
      .map((r, i) => (i % 100 === 5 ? [r[0] ?? null, "changed@x.io", r[2] ?? null, r[3] ?? null] : r));
    for (let i = 3000; i < 3020; i++) model.push([String(i), `p${i}@x.io`, "New", "0"]);
    const second = await sync.run(model, 8);
    const kinds: Record<string, number> = {};
    for (const sent of second.sent) {
      const kind = sent.split(" ")[0] ?? "";
      kinds[kind] = (kinds[kind] ?? 0) + 1;
    }
    expect(kinds).toEqual({ delete: 30, update: 30, create: 20 });
    expect(sync.keys().length).toBe(2990);

    // P shrinks to 2, no change: nothing sent; a column outside the mapping changes: still nothing.
    const third = await sync.run(
      model.map((r) => [r[0] ?? null, r[1] ?? null, r[2] ?? null, "999"]),
      2,
    );
    expect(third.sent).toEqual([]);
    expect(sync.keys().length).toBe(2990);
  });

  it("stops before sending when the model comes back empty, and sends nothing", async () => {
    const sync = new FakeSync("mirror");
    await sync.run(people(100), 1);
    const before = sync.keys();
    const empty = await sync.run([], 1);
    expect(empty.stopped).toContain("returned no rows");
    expect(empty.sent).toEqual([]);
    expect(sync.keys()).toEqual(before);
  });

  it("sends a failed row again on the next run", async () => {
    const sync = new FakeSync("upsert");
    const r1 = await sync.run(people(50), 2, (k) => k === "7");
    expect(r1.sent.length).toBe(50);
    expect(sync.keys()).not.toContain("7");
    const r2 = await sync.run(people(50), 2);
    expect(r2.sent).toEqual(["upsert 7"]);
    const r3 = await sync.run(people(50), 2);
    expect(r3.sent).toEqual([]);
  });
});
