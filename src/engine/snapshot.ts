import type { RawValue } from "./hash";
import { keyAt, type KeyColumn, words } from "./keys";
import { partitionRange } from "./partition";

/**
 * Binary formats written to R2, both little-endian, hashes first so they decode into typed-array
 * views of the fetched bytes without parsing, text last as one UTF-8 blob per column group so one
 * TextDecoder call turns it into one string that rows index into.
 *
 * Lengths are LEB128 varints in UTF-16 code units (what JS string offsets count), which makes
 * the decoded string directly addressable. For nullable fields the varint is 0 for null and
 * length + 1 otherwise.
 *
 * Run chunk ("ERC1"): rows of one partition of one run, in extraction order.
 *   header  u32 magic 0x31435245 ("ERC1"), u32 rows n, u32 columns c, u32 keyLengthsBytes,
 *           u32 valueLengthsBytes, u32 keyTextBytes, u32 valueTextBytes, u32 0   (32 bytes)
 *   u64[n]  key hashes      u64[n]  row hashes
 *   varint  n nullable key lengths, then n*c nullable value lengths (row-major)
 *   UTF-8   keys of non-null keys, concatenated; then non-null values, concatenated
 *
 * Snapshot partition ("ERS1"): what the destination holds for one partition, sorted by key hash then
 * key (code units), keys unique and non-empty.
 *   header  u32 magic 0x31535245 ("ERS1"), u32 entries n, u32 keyLengthsBytes, u32 keyTextBytes (16 bytes)
 *   u64[n]  key hashes (sorted)      u64[n]  row hashes
 *   varint  n key lengths      UTF-8  keys, concatenated
 *
 * The snapshot keeps key strings, not only their hashes: mirror deletes need the key of a row
 * that is gone from the model, and comparing keys whenever hashes match makes a 64-bit collision
 * between two different keys harmless (both entries coexist under one hash).
 */

const CHUNK_MAGIC = 0x31435245;
const SNAPSHOT_MAGIC = 0x31535245;
const CHUNK_HEADER = 32;
const SNAPSHOT_HEADER = 16;

const encoder = new TextEncoder();
// ignoreBOM: keep a leading U+FEFF of the first key or value, or every offset after it shifts.
const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/** The rows of one partition of a run: keys, hashes, and the mapped values delivery needs. */
export interface RunRows {
  readonly count: number;
  /** Mapped values per row. */
  readonly columns: number;
  readonly keyHashes: BigUint64Array;
  readonly rowHashes: BigUint64Array;
  readonly keys: KeyColumn;
  /** Primary key of row i, or null. */
  key(i: number): string | null;
  /** Mapped values of row i, in mapping order. */
  values(i: number): RawValue[];
}

/** A committed snapshot partition: key → row hash the destination acknowledged, sorted by key hash. */
export interface SnapshotPartition {
  readonly count: number;
  readonly keyHashes: BigUint64Array;
  readonly rowHashes: BigUint64Array;
  readonly keys: KeyColumn;
}

/** Growable byte buffer of varints. */
class Varints {
  bytes = new Uint8Array(1024);
  length = 0;

  push(v: number): void {
    if (this.length + 5 > this.bytes.length) {
      const next = new Uint8Array(this.bytes.length * 2);
      next.set(this.bytes);
      this.bytes = next;
    }
    while (v >= 0x80) {
      this.bytes[this.length++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.bytes[this.length++] = v;
  }
}

/** Accumulates the rows of one partition into a run chunk. */
export class RunChunkBuilder {
  private n = 0;
  private keyHashes: BigUint64Array;
  private rowHashes: BigUint64Array;
  private readonly keyLengths = new Varints();
  private readonly valueLengths = new Varints();
  private keyParts: string[] = [];
  private valueParts: string[] = [];
  private textUnits = 0;

  /** `columns`: mapped values per row. */
  constructor(
    readonly columns: number,
    initialRows = 256,
  ) {
    this.keyHashes = new BigUint64Array(initialRows);
    this.rowHashes = new BigUint64Array(initialRows);
  }

  /** Rows added since the last {@link RunChunkBuilder.encode}. */
  get count(): number {
    return this.n;
  }

  /** Approximate encoded size in bytes (text counted one byte per code unit). */
  get approxBytes(): number {
    return CHUNK_HEADER + 16 * this.n + this.keyLengths.length + this.valueLengths.length + this.textUnits;
  }

  /** Adds one row; `values` must have `columns` entries. */
  add(key: string | null, keyHash: bigint, rowHash: bigint, values: readonly RawValue[]): void {
    if (values.length !== this.columns) {
      throw new RangeError(`row has ${values.length} values, chunk has ${this.columns} columns`);
    }
    if (this.n === this.keyHashes.length) {
      const kh = new BigUint64Array(this.n * 2);
      kh.set(this.keyHashes);
      this.keyHashes = kh;
      const rh = new BigUint64Array(this.n * 2);
      rh.set(this.rowHashes);
      this.rowHashes = rh;
    }
    this.keyHashes[this.n] = keyHash;
    this.rowHashes[this.n] = rowHash;
    this.n++;
    if (key === null) {
      this.keyLengths.push(0);
    } else {
      this.keyLengths.push(key.length + 1);
      this.keyParts.push(key);
      this.textUnits += key.length;
    }
    for (const v of values) {
      if (v === null) {
        this.valueLengths.push(0);
      } else {
        this.valueLengths.push(v.length + 1);
        this.valueParts.push(v);
        this.textUnits += v.length;
      }
    }
  }

  /** The chunk's bytes; the builder is empty afterwards. */
  encode(): Uint8Array {
    const n = this.n;
    const keyText = encoder.encode(this.keyParts.join(""));
    this.keyParts = [];
    const valueText = encoder.encode(this.valueParts.join(""));
    this.valueParts = [];
    const kl = this.keyLengths.length;
    const vl = this.valueLengths.length;
    const out = new Uint8Array(CHUNK_HEADER + 16 * n + kl + vl + keyText.length + valueText.length);
    const header = new Uint32Array(out.buffer, 0, CHUNK_HEADER / 4);
    header.set([CHUNK_MAGIC, n, this.columns, kl, vl, keyText.length, valueText.length, 0]);
    new BigUint64Array(out.buffer, CHUNK_HEADER, n).set(this.keyHashes.subarray(0, n));
    new BigUint64Array(out.buffer, CHUNK_HEADER + 8 * n, n).set(this.rowHashes.subarray(0, n));
    let at = CHUNK_HEADER + 16 * n;
    out.set(this.keyLengths.bytes.subarray(0, kl), at);
    at += kl;
    out.set(this.valueLengths.bytes.subarray(0, vl), at);
    at += vl;
    out.set(keyText, at);
    out.set(valueText, at + keyText.length);
    this.n = 0;
    this.keyLengths.length = 0;
    this.valueLengths.length = 0;
    this.textUnits = 0;
    return out;
  }
}

/** Bytes whose offset allows u64 views (R2 bodies are; slices of other buffers may not be). */
function aligned(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
}

function header(bytes: Uint8Array, size: number, magic: number, what: string): Uint32Array {
  if (bytes.length < size) throw new FormatError(`${what}: ${bytes.length} bytes is shorter than its header`);
  const h = new Uint32Array(bytes.buffer, bytes.byteOffset, size / 4);
  if (h[0] !== magic) throw new FormatError(`${what}: bad magic number`);
  return h;
}

/** A chunk or snapshot object that is not in the expected format (truncated, wrong kind). */
export class FormatError extends Error {
  override name = "FormatError";
}

/**
 * Offsets of varint lengths: fills `starts` (count + 1) and returns null flags (or null when
 * `nullable` is false or nothing is null).
 */
function readLengths(
  bytes: Uint8Array,
  from: number,
  to: number,
  count: number,
  nullable: boolean,
  what: string,
): { starts: Uint32Array; nulls: Uint8Array | null } {
  const starts = new Uint32Array(count + 1);
  let nulls: Uint8Array | null = null;
  let at = from;
  let offset = 0;
  for (let i = 0; i < count; i++) {
    let v = 0;
    let shift = 0;
    let b: number;
    do {
      if (at >= to) throw new FormatError(`${what}: lengths truncated`);
      b = bytes[at++] ?? 0;
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    if (nullable) {
      if (v === 0) {
        nulls ??= new Uint8Array(count);
        nulls[i] = 1;
      } else {
        offset += v - 1;
      }
    } else {
      offset += v;
    }
    starts[i + 1] = offset;
  }
  if (at !== to) throw new FormatError(`${what}: ${to - at} bytes of lengths left over`);
  return { starts, nulls };
}

function checkText(text: string, starts: Uint32Array, what: string): void {
  if (text.length !== starts[starts.length - 1]) throw new FormatError(`${what}: text length does not match its offsets`);
}

/** A decoded run chunk. Values are decoded on first use, so a diff that sends nothing never pays for them. */
export class RunChunk implements RunRows {
  readonly count: number;
  readonly columns: number;
  readonly keyHashes: BigUint64Array;
  readonly rowHashes: BigUint64Array;
  readonly keys: KeyColumn;
  private valueLengths: Uint8Array | null;
  private valueBytes: Uint8Array | null;
  private valueText = "";
  private valueStarts: Uint32Array = new Uint32Array(1);
  private valueNulls: Uint8Array | null = null;

  /** Decodes chunk bytes (views into them; keep them unmodified while the chunk is used). */
  constructor(input: Uint8Array) {
    const bytes = aligned(input);
    const h = header(bytes, CHUNK_HEADER, CHUNK_MAGIC, "run chunk");
    const n = h[1] ?? 0;
    const [kl, vl, kt, vt] = [h[3] ?? 0, h[4] ?? 0, h[5] ?? 0, h[6] ?? 0];
    this.count = n;
    this.columns = h[2] ?? 0;
    const lengthsAt = CHUNK_HEADER + 16 * n;
    const keyTextAt = lengthsAt + kl + vl;
    if (bytes.length !== keyTextAt + kt + vt) throw new FormatError("run chunk: size does not match its header");
    this.keyHashes = new BigUint64Array(bytes.buffer, bytes.byteOffset + CHUNK_HEADER, n);
    this.rowHashes = new BigUint64Array(bytes.buffer, bytes.byteOffset + CHUNK_HEADER + 8 * n, n);
    const { starts, nulls } = readLengths(bytes, lengthsAt, lengthsAt + kl, n, true, "run chunk keys");
    const text = decoder.decode(bytes.subarray(keyTextAt, keyTextAt + kt));
    checkText(text, starts, "run chunk keys");
    this.keys = { text, starts, nulls };
    this.valueLengths = bytes.subarray(lengthsAt + kl, lengthsAt + kl + vl);
    this.valueBytes = bytes.subarray(keyTextAt + kt, keyTextAt + kt + vt);
  }

  key(i: number): string | null {
    return keyAt(this.keys, i);
  }

  values(i: number): RawValue[] {
    if (this.valueBytes !== null) this.decodeValues();
    const c = this.columns;
    const out: RawValue[] = new Array<RawValue>(c);
    for (let k = 0, f = i * c; k < c; k++, f++) {
      out[k] =
        this.valueNulls !== null && this.valueNulls[f] === 1
          ? null
          : this.valueText.slice(this.valueStarts[f] ?? 0, this.valueStarts[f + 1] ?? 0);
    }
    return out;
  }

  private decodeValues(): void {
    const lengths = this.valueLengths;
    const bytes = this.valueBytes;
    if (lengths === null || bytes === null) return;
    const fields = this.count * this.columns;
    const { starts, nulls } = readLengths(lengths, 0, lengths.length, fields, true, "run chunk values");
    this.valueText = decoder.decode(bytes);
    checkText(this.valueText, starts, "run chunk values");
    this.valueStarts = starts;
    this.valueNulls = nulls;
    this.valueLengths = null;
    this.valueBytes = null;
  }
}

/** Decodes a run chunk written by {@link RunChunkBuilder.encode}. */
export function decodeRunChunk(bytes: Uint8Array): RunChunk {
  return new RunChunk(bytes);
}

/** Rows of several chunks of one partition as one {@link RunRows}; values stay in their chunks. */
class JoinedRows implements RunRows {
  readonly count: number;
  readonly columns: number;
  readonly keyHashes: BigUint64Array;
  readonly rowHashes: BigUint64Array;
  readonly keys: KeyColumn;
  /** firsts[c] = index of chunk c's first row; firsts[chunks.length] = count. */
  private readonly firsts: Uint32Array;

  constructor(
    private readonly chunks: readonly RunChunk[],
    columnsIfEmpty: number,
  ) {
    const first = chunks[0];
    this.columns = first === undefined ? columnsIfEmpty : first.columns;
    const n = chunks.reduce((sum, c) => sum + c.count, 0);
    this.count = n;
    this.keyHashes = new BigUint64Array(n);
    this.rowHashes = new BigUint64Array(n);
    this.firsts = new Uint32Array(chunks.length + 1);
    const starts = new Uint32Array(n + 1);
    let nulls: Uint8Array | null = null;
    let row = 0;
    let offset = 0;
    chunks.forEach((c, ci) => {
      if (c.columns !== this.columns) throw new RangeError("chunks of one partition must have the same columns");
      this.firsts[ci] = row;
      this.keyHashes.set(c.keyHashes, row);
      this.rowHashes.set(c.rowHashes, row);
      for (let i = 1; i <= c.count; i++) starts[row + i] = offset + (c.keys.starts[i] ?? 0);
      if (c.keys.nulls !== null) {
        nulls ??= new Uint8Array(n);
        nulls.set(c.keys.nulls, row);
      }
      row += c.count;
      offset += c.keys.text.length;
    });
    this.firsts[chunks.length] = n;
    this.keys = { text: chunks.map((c) => c.keys.text).join(""), starts, nulls };
  }

  key(i: number): string | null {
    return keyAt(this.keys, i);
  }

  values(i: number): RawValue[] {
    // Binary search for the chunk holding row i: last c with firsts[c] <= i.
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((this.firsts[mid] ?? 0) <= i) lo = mid;
      else hi = mid - 1;
    }
    const chunk = this.chunks[lo];
    if (chunk === undefined || i < 0 || i >= this.count) throw new RangeError(`row ${i} is not in [0, ${this.count})`);
    return chunk.values(i - (this.firsts[lo] ?? 0));
  }
}

/**
 * The rows of one partition from its chunks (any number, in any order). Hashes and keys are copied
 * into one column (24 bytes a row plus key text); values stay in their chunks. `columns` is
 * used when there are no chunks.
 */
export function joinRunChunks(chunks: readonly RunChunk[], columns = 0): RunRows {
  const only = chunks[0];
  if (chunks.length === 1 && only !== undefined) return only;
  return new JoinedRows(chunks, columns);
}

/** A snapshot partition with no entries (first run). */
export function emptySnapshot(): SnapshotPartition {
  return { count: 0, keyHashes: new BigUint64Array(0), rowHashes: new BigUint64Array(0), keys: { text: "", starts: new Uint32Array(1), nulls: null } };
}

/**
 * Builds a snapshot partition from entries appended in (key hash, key) order. Hashes are copied as
 * u32 words from other snapshots or run rows, so no BigInt is made per entry.
 */
export class SnapshotBuilder {
  private n = 0;
  private readonly keyHashes: BigUint64Array;
  private readonly rowHashes: BigUint64Array;
  private readonly kw: Uint32Array;
  private readonly rw: Uint32Array;
  private readonly starts: Uint32Array;
  private readonly parts: string[] = [];
  private offset = 0;

  /** `capacity`: the most entries that will be appended. */
  constructor(capacity: number) {
    this.keyHashes = new BigUint64Array(capacity);
    this.rowHashes = new BigUint64Array(capacity);
    this.kw = words(this.keyHashes);
    this.rw = words(this.rowHashes);
    this.starts = new Uint32Array(capacity + 1);
  }

  /** Appends key i of `keys` with key hash i of `keyWords` and row hash j of `rowWords`. */
  append(keys: KeyColumn, keyWords: Uint32Array, i: number, rowWords: Uint32Array, j: number): void {
    const n = this.n;
    if (n >= this.keyHashes.length) throw new RangeError("snapshot builder capacity exceeded");
    this.kw[2 * n] = keyWords[2 * i] ?? 0;
    this.kw[2 * n + 1] = keyWords[2 * i + 1] ?? 0;
    this.rw[2 * n] = rowWords[2 * j] ?? 0;
    this.rw[2 * n + 1] = rowWords[2 * j + 1] ?? 0;
    const from = keys.starts[i] ?? 0;
    const to = keys.starts[i + 1] ?? 0;
    this.parts.push(keys.text.slice(from, to));
    this.offset += to - from;
    this.starts[n + 1] = this.offset;
    this.n = n + 1;
  }

  /** The snapshot of the entries appended so far. */
  build(): SnapshotPartition {
    const n = this.n;
    return {
      count: n,
      keyHashes: this.keyHashes.subarray(0, n),
      rowHashes: this.rowHashes.subarray(0, n),
      keys: { text: this.parts.join(""), starts: this.starts.subarray(0, n + 1), nulls: null },
    };
  }
}

/** The bytes of a snapshot partition. */
export function encodeSnapshot(snapshot: SnapshotPartition): Uint8Array {
  const n = snapshot.count;
  const { text, starts } = snapshot.keys;
  const lengths = new Varints();
  for (let i = 0; i < n; i++) lengths.push((starts[i + 1] ?? 0) - (starts[i] ?? 0));
  const first = starts[0] ?? 0;
  const keyText = encoder.encode(first === 0 && (starts[n] ?? 0) === text.length ? text : text.slice(first, starts[n] ?? 0));
  const out = new Uint8Array(SNAPSHOT_HEADER + 16 * n + lengths.length + keyText.length);
  new Uint32Array(out.buffer, 0, SNAPSHOT_HEADER / 4).set([SNAPSHOT_MAGIC, n, lengths.length, keyText.length]);
  new BigUint64Array(out.buffer, SNAPSHOT_HEADER, n).set(snapshot.keyHashes.subarray(0, n));
  new BigUint64Array(out.buffer, SNAPSHOT_HEADER + 8 * n, n).set(snapshot.rowHashes.subarray(0, n));
  out.set(lengths.bytes.subarray(0, lengths.length), SNAPSHOT_HEADER + 16 * n);
  out.set(keyText, SNAPSHOT_HEADER + 16 * n + lengths.length);
  return out;
}

/** Decodes a snapshot partition (hash arrays are views into the bytes). */
export function decodeSnapshot(input: Uint8Array): SnapshotPartition {
  const bytes = aligned(input);
  const h = header(bytes, SNAPSHOT_HEADER, SNAPSHOT_MAGIC, "snapshot");
  const [n, kl, kt] = [h[1] ?? 0, h[2] ?? 0, h[3] ?? 0];
  const lengthsAt = SNAPSHOT_HEADER + 16 * n;
  if (bytes.length !== lengthsAt + kl + kt) throw new FormatError("snapshot: size does not match its header");
  const { starts } = readLengths(bytes, lengthsAt, lengthsAt + kl, n, false, "snapshot keys");
  const text = decoder.decode(bytes.subarray(lengthsAt + kl));
  checkText(text, starts, "snapshot keys");
  return {
    count: n,
    keyHashes: new BigUint64Array(bytes.buffer, bytes.byteOffset + SNAPSHOT_HEADER, n),
    rowHashes: new BigUint64Array(bytes.buffer, bytes.byteOffset + SNAPSHOT_HEADER + 8 * n, n),
    keys: { text, starts, nulls: null },
  };
}

/** First entry whose key hash is >= `bound` (as high/low words), by binary search. */
function lowerBound(w: Uint32Array, n: number, high: number, low: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const mh = w[2 * mid + 1] ?? 0;
    if (mh < high || (mh === high && (w[2 * mid] ?? 0) < low)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Partition p of P cut from snapshot partitions written with another P, given in partition order
 * (see `sourcePartitions`): their entries in p's hash range, concatenated. Sorted input stays sorted.
 */
export function restrictSnapshot(parts: readonly SnapshotPartition[], p: number, partitions: number): SnapshotPartition {
  const { start, end } = partitionRange(p, partitions);
  const startHigh = Number(start >> 32n);
  const ranges = parts.map((s) => {
    const w = words(s.keyHashes);
    const from = lowerBound(w, s.count, startHigh, 0);
    // end is 2^64 for the last partition: everything up to the end of the array.
    const to = end >= 1n << 64n ? s.count : lowerBound(w, s.count, Number(end >> 32n), 0);
    return { s, from, to };
  });
  const n = ranges.reduce((sum, r) => sum + (r.to - r.from), 0);
  const keyHashes = new BigUint64Array(n);
  const rowHashes = new BigUint64Array(n);
  const starts = new Uint32Array(n + 1);
  const texts: string[] = [];
  let at = 0;
  let offset = 0;
  for (const { s, from, to } of ranges) {
    keyHashes.set(s.keyHashes.subarray(from, to), at);
    rowHashes.set(s.rowHashes.subarray(from, to), at);
    const base = s.keys.starts[from] ?? 0;
    for (let i = from; i < to; i++) starts[at + i - from + 1] = offset + (s.keys.starts[i + 1] ?? 0) - base;
    const text = s.keys.text.slice(base, s.keys.starts[to] ?? 0);
    texts.push(text);
    offset += text.length;
    at += to - from;
  }
  return { count: n, keyHashes, rowHashes, keys: { text: texts.join(""), starts, nulls: null } };
}
