import { type Hasher, LINE_BATCH_ROWS, type LineBatch, type RawValue } from "./hash";
import { unescapeCopy, utf16Length } from "./row";
import { partitionBits, partitionOfHigh } from "./partition";
import type { KnownRows } from "./known-rows";
import { RunChunkBuilder } from "./snapshot";

/** A mapped column (or the primary key) is not in the model's result. */
export class MissingColumnError extends Error {
  override name = "MissingColumnError";
  constructor(
    readonly missing: string[],
    readonly fields: readonly string[],
  ) {
    super(
      `column${missing.length > 1 ? "s" : ""} ${missing.map((m) => JSON.stringify(m)).join(", ")} not in the model's result (columns: ${fields.join(", ")})`,
    );
  }
}

/** Positions in a result row of the primary key and of the mapped columns (mapping order). */
export interface ColumnPositions {
  key: number;
  values: number[];
}

/** Finds the primary key and mapped columns among a result's field names; throws {@link MissingColumnError}. */
export function resolveColumns(fields: readonly string[], primaryKey: string, mapped: readonly string[]): ColumnPositions {
  const at = new Map<string, number>();
  fields.forEach((f, i) => {
    if (!at.has(f)) at.set(f, i);
  });
  const missing = [primaryKey, ...mapped].filter((c, i, all) => !at.has(c) && all.indexOf(c) === i);
  if (missing.length > 0) throw new MissingColumnError(missing, fields);
  return { key: at.get(primaryKey) ?? 0, values: mapped.map((m) => at.get(m) ?? 0) };
}

/** Positions for rows laid out as extraction reads them: the key, then the `mapped` values. */
export function copyColumns(mapped: number): ColumnPositions {
  return { key: 0, values: Array.from({ length: mapped }, (_, i) => i + 1) };
}

const TAB = 0x09;
const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/** A finished chunk to store as `…/part-{partition}-{seq}`. */
export interface ReadyChunk {
  partition: number;
  /** 0, 1, 2… per partition. */
  seq: number;
  rows: number;
  bytes: Uint8Array;
}

const NONE_READY: ReadyChunk[] = [];

/** Per-row scratch of a batch of lines (see {@link PartitionWriter.addCopyLines}): where each line's parts are, and its hashes. */
class CopyLineBatch implements LineBatch {
  readonly keyFrom = new Int32Array(LINE_BATCH_ROWS);
  readonly keyTo = new Int32Array(LINE_BATCH_ROWS);
  readonly keyUnits = new Int32Array(LINE_BATCH_ROWS);
  readonly valuesFrom = new Int32Array(LINE_BATCH_ROWS);
  readonly valuesTo = new Int32Array(LINE_BATCH_ROWS);
  readonly keyWords = new Uint32Array(2 * LINE_BATCH_ROWS);
  readonly rowWords = new Uint32Array(2 * LINE_BATCH_ROWS);
  /** 1 where the last snapshot holds the row unchanged. */
  readonly known = new Uint8Array(LINE_BATCH_ROWS);
}

/** Chunk and memory limits of a {@link PartitionWriter}. */
export interface WriterLimits {
  /** A partition's chunk is finished once its encoding reaches this size (default 8 MiB). */
  maxChunkBytes?: number;
  /**
   * Beyond this many bytes held by all partitions' buffers (capacity, not just use), the biggest
   * is finished (default 24 MiB).
   */
  maxBufferedBytes?: number;
}

/**
 * Extraction's core: hashes each row's key and routes the row to its partition's chunk builder,
 * which encodes and hashes it. Memory stays within `maxBufferedBytes` plus one chunk being
 * encoded, whatever P and the model size; finished chunks wait in {@link PartitionWriter.takeReady}.
 */
export class PartitionWriter {
  private readonly builders: RunChunkBuilder[];
  private readonly seqs: number[];
  private readonly bits: number;
  private readonly maxChunk: number;
  private readonly maxBuffered: number;
  private readonly ready: ReadyChunk[] = [];
  private readonly batch = new CopyLineBatch();
  private readonly hw = new Uint32Array(2);
  private readonly hb = new BigUint64Array(this.hw.buffer);
  private readonly values: RawValue[];
  private readonly hashRow: (utf8: Uint8Array) => bigint;
  private buffered = 0;
  /** Rows added so far. */
  rows = 0;
  /** Rows stored without values: the last snapshot holds them unchanged. */
  unchanged = 0;

  /**
   * `rowSeed`: from `hasher.mappingSeed(destination fields)`. `known`: the last snapshot's pairs;
   * COPY lines it holds are stored without their values (see {@link KnownRows}).
   */
  constructor(
    private readonly hasher: Hasher,
    readonly partitions: number,
    private readonly columns: ColumnPositions,
    private readonly rowSeed?: bigint,
    limits: WriterLimits = {},
    private readonly known: KnownRows | null = null,
  ) {
    this.bits = partitionBits(partitions);
    this.maxChunk = limits.maxChunkBytes ?? 8 * 1024 * 1024;
    this.maxBuffered = limits.maxBufferedBytes ?? 24 * 1024 * 1024;
    const hashRow = (utf8: Uint8Array) => hasher.hashEncodedRow(utf8, rowSeed);
    this.hashRow = hashRow;
    // Start each buffer at a quarter of its share of the budget (at most 1 MiB): few regrowth copies, little waste.
    const share = Math.min(this.maxChunk, this.maxBuffered / partitions / 4, 1 << 20);
    const initial = Math.max(4096, 2 ** Math.floor(Math.log2(share)));
    this.builders = Array.from({ length: partitions }, () => new RunChunkBuilder(columns.values.length, hashRow, initial));
    this.buffered = this.builders.reduce((sum, b) => sum + b.heldBytes, 0);
    this.seqs = new Array<number>(partitions).fill(0);
    this.values = new Array<RawValue>(columns.values.length).fill(null);
  }

  /** Adds one result row (raw text values in result column order). */
  add(row: readonly RawValue[]): void {
    const key = row[this.columns.key] ?? null;
    const positions = this.columns.values;
    // One values array reused: the builder encodes it before returning.
    const values = this.values;
    for (let k = 0; k < positions.length; k++) values[k] = row[positions[k] ?? 0] ?? null;
    const keyHash = key === null ? 0n : this.hasher.hashKey(key);
    const p = this.partitionFor(keyHash);
    const builder = this.builder(p);
    const before = builder.heldBytes;
    builder.add(key, keyHash, values);
    this.added(p, builder, before);
  }

  /** Partition of a key hash (null keys hash to 0: partition 0, where the diff fails them). */
  private partitionFor(keyHash: bigint): number {
    this.hb[0] = keyHash;
    return partitionOfHigh(this.hw[1] ?? 0, this.bits);
  }

  private builder(p: number): RunChunkBuilder {
    const builder = this.builders[p];
    if (builder === undefined) throw new RangeError(`partition ${p} out of range`);
    return builder;
  }

  /** Accounting after a row went into partition p; finishes chunks over the limits. */
  private added(p: number, builder: RunChunkBuilder, heldBefore: number): void {
    this.buffered += builder.heldBytes - heldBefore;
    this.rows++;
    if (builder.encodedBytes >= this.maxChunk) this.finish(p);
    while (this.buffered > this.maxBuffered && this.finishBiggest());
  }

  /**
   * Adds one row as a source's canonical line (COPY text format, with or without its newline; see
   * `ExtractHandler.line` in src/sources/source.ts): the bytes are hashed and stored as they are,
   * no string is made per value. The line must hold the key then the mapped values.
   */
  addCopyLine(line: Uint8Array): void {
    // A batch of one: hashed into u32 words by one wasm call per range, no BigInt (≈ 10% less CPU
    // a line than hashing to BigInts, measured in Node over 1M lines).
    this.addCopyLines(line);
  }

  /**
   * {@link PartitionWriter.addCopyLine} of each line in `lines` (each ending with its newline; the
   * last may lack it), in order. Rows go in batches: hashed first, then looked up in the last
   * snapshot together (see {@link KnownRows.hasWords}), then copied to their partitions from
   * `lines` itself, with no BigInt and no view per row past the hashing. Returns the rows added.
   */
  addCopyLines(lines: Uint8Array): number {
    const before = this.rows;
    const batch = this.batch;
    const mapped = this.columns.values.length;
    const size = lines.length;
    let at = 0;
    let count = 0;
    while (at < size) {
      const newline = lines.indexOf(NEWLINE, at);
      const end = newline === -1 ? size : newline;
      const next = newline === -1 ? size : newline + 1;
      // The key: up to the first tab, counting its UTF-16 units (lead bytes; a 4-byte sequence is a pair).
      let tab = at;
      let units = 0;
      let escaped = false;
      for (; tab < end; tab++) {
        const b = lines[tab] ?? 0;
        if (b === TAB) break;
        if (b === BACKSLASH) escaped = true;
        if ((b & 0xc0) !== 0x80) units += b >= 0xf0 ? 2 : 1;
      }
      if (escaped) {
        // A null or escaped key (rare): the batch so far, then this line alone.
        this.addBatch(lines, count);
        count = 0;
        this.addLine(lines.subarray(at, next));
        at = next;
        continue;
      }
      if (tab === end && mapped > 0) throw new RangeError("COPY line has no values after its key");
      batch.keyFrom[count] = at;
      batch.keyTo[count] = tab;
      batch.keyUnits[count] = units;
      batch.valuesFrom[count] = Math.min(tab + 1, end);
      batch.valuesTo[count] = end;
      at = next;
      if (++count === LINE_BATCH_ROWS) {
        this.addBatch(lines, count);
        count = 0;
      }
    }
    this.addBatch(lines, count);
    return this.rows - before;
  }

  /**
   * {@link PartitionWriter.addCopyLines} of lines that are not contiguous: line i is
   * `buffer[starts[i], ends[i])` (with or without its newline), for i below `count`, in order.
   * For Postgres, whose rows come one per CopyData message, each behind a 5-byte header: the
   * payloads are hashed (a batch per wasm call) and copied where they lie in the read buffer, not gathered first.
   * Returns the rows added (`count`).
   */
  addCopyLineRanges(buffer: Uint8Array, starts: Int32Array, ends: Int32Array, count: number): number {
    const before = this.rows;
    const batch = this.batch;
    const mapped = this.columns.values.length;
    let n = 0;
    // The loop of addCopyLines, over ranges instead of newlines, kept apart so each stays one tight loop
    // (one shared per-line method measured 10–15% slower in bench/engine-cpu.mjs).
    for (let r = 0; r < count; r++) {
      const at = starts[r] ?? 0;
      const next = ends[r] ?? 0;
      const end = next > at && buffer[next - 1] === NEWLINE ? next - 1 : next;
      let tab = at;
      let units = 0;
      let escaped = false;
      for (; tab < end; tab++) {
        const b = buffer[tab] ?? 0;
        if (b === TAB) break;
        if (b === BACKSLASH) escaped = true;
        if ((b & 0xc0) !== 0x80) units += b >= 0xf0 ? 2 : 1;
      }
      if (escaped) {
        this.addBatch(buffer, n);
        n = 0;
        this.addLine(buffer.subarray(at, next));
        continue;
      }
      if (tab === end && mapped > 0) throw new RangeError("COPY line has no values after its key");
      batch.keyFrom[n] = at;
      batch.keyTo[n] = tab;
      batch.keyUnits[n] = units;
      batch.valuesFrom[n] = Math.min(tab + 1, end);
      batch.valuesTo[n] = end;
      if (++n === LINE_BATCH_ROWS) {
        this.addBatch(buffer, n);
        n = 0;
      }
    }
    this.addBatch(buffer, n);
    return this.rows - before;
  }

  /** Hashes the first `count` rows of the batch and routes them to their partitions (see {@link PartitionWriter.addCopyLines}). */
  private addBatch(lines: Uint8Array, count: number): void {
    if (count === 0) return;
    const batch = this.batch;
    this.hasher.hashLines(lines, batch, count, this.rowSeed);
    const { keyWords, rowWords, keyFrom, keyTo, keyUnits, valuesFrom, valuesTo, known } = batch;
    if (this.known !== null) this.known.hasWords(keyWords, rowWords, count, known);
    for (let i = 0; i < count; i++) {
      const p = partitionOfHigh(keyWords[2 * i + 1] ?? 0, this.bits);
      const builder = this.builder(p);
      const before = builder.heldBytes;
      let from = valuesFrom[i] ?? 0;
      if (known[i] === 1) {
        this.unchanged++;
        from = -1;
      }
      builder.addLine(lines, keyFrom[i] ?? 0, keyTo[i] ?? 0, keyUnits[i] ?? 0, from, valuesTo[i] ?? 0, keyWords, rowWords, i);
      this.added(p, builder, before);
    }
    if (this.known !== null) known.fill(0, 0, count);
  }

  /** {@link PartitionWriter.addCopyLine}: one line, any key (addCopyLines sends it those whose key is null or escaped). */
  private addLine(line: Uint8Array): void {
    let end = line.length;
    if (end > 0 && line[end - 1] === NEWLINE) end--;
    let tab = 0;
    let escaped = false;
    while (tab < end && line[tab] !== TAB) {
      if (line[tab] === BACKSLASH) escaped = true;
      tab++;
    }
    if (tab === end && this.columns.values.length > 0) throw new RangeError("COPY line has no values after its key");
    let key: Uint8Array | null = line.subarray(0, tab);
    if (escaped) {
      // \N is null; other escapes are rare in keys: decode, unescape, encode back.
      key = tab === 2 && line[1] === 0x4e ? null : encoder.encode(unescapeCopy(decoder.decode(key)));
    }
    const keyHash = key === null ? 0n : this.hasher.hashKeyBytes(key);
    const values = line.subarray(Math.min(tab + 1, end), end);
    const p = this.partitionFor(keyHash);
    const builder = this.builder(p);
    const before = builder.heldBytes;
    if (this.known !== null && key !== null) {
      const rowHash = this.hashRow(values);
      const unchanged = this.known.has(keyHash, rowHash);
      if (unchanged) this.unchanged++;
      builder.addEncoded(key, utf16Length(key), keyHash, unchanged ? null : values, rowHash);
    } else {
      builder.addEncoded(key, key === null ? 0 : utf16Length(key), keyHash, values);
    }
    this.added(p, builder, before);
  }

  /** Chunks finished since the last call; store them, then keep adding. */
  takeReady(): ReadyChunk[] {
    // Called per row by COPY handlers: no new array unless something is ready.
    return this.ready.length === 0 ? NONE_READY : this.ready.splice(0, this.ready.length);
  }

  /** Finishes every partition's pending rows and returns all chunks not yet taken. */
  finishAll(): ReadyChunk[] {
    for (let p = 0; p < this.partitions; p++) this.finish(p);
    return this.takeReady();
  }

  /** Chunks written per partition so far (the `seq` of the next one). */
  chunkCounts(): number[] {
    return [...this.seqs];
  }

  /** Bytes held by the partition buffers now. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Finishes the partition holding the most; false when none holds a row. */
  private finishBiggest(): boolean {
    let best = -1;
    let bestBytes = -1;
    this.builders.forEach((b, p) => {
      if (b.count > 0 && b.heldBytes > bestBytes) {
        best = p;
        bestBytes = b.heldBytes;
      }
    });
    if (best < 0) return false;
    this.finish(best);
    return true;
  }

  private finish(p: number): void {
    const builder = this.builders[p];
    if (builder === undefined || builder.count === 0) return;
    this.buffered -= builder.heldBytes;
    const rows = builder.count;
    const bytes = builder.encode();
    this.buffered += builder.heldBytes;
    const seq = this.seqs[p] ?? 0;
    this.seqs[p] = seq + 1;
    this.ready.push({ partition: p, seq, rows, bytes });
  }
}
