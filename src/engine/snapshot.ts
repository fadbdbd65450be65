// Over 400 lines: the run-chunk and snapshot formats share one codec and key layout; see the header below.
import { adjacentKeys, keyAt, type KeyColumn, words } from "./keys";
import { partitionRange } from "./partition";
import { decodeRow, maxRowUtf8, type RawValue, writeRowUtf8, writeUtf8 } from "./row";

/**
 * Over 400 lines on purpose: the run chunk and the snapshot share one varint/length codec and one
 * key layout, and this file is their single specification, read next to the encoders and decoders.
 *
 * Binary formats written to R2, little-endian. Hashes come first so they load as typed arrays
 * without parsing; keys are one UTF-8 blob that one TextDecoder call turns into one string that
 * offsets index into (a string per key would cost ~30 bytes of overhead each).
 *
 * Run chunk ("ERC2"): rows of one partition of one run, in extraction order.
 *   header  u32 magic 0x32435245 ("ERC2"), u32 rows n, u32 columns c, u32 keyLengthsBytes,
 *           u32 valueLengthsBytes, u32 keyTextBytes, u32 valueBytes, u32 0       (32 bytes)
 *   u64[n]  key hashes      u64[n]  row hashes
 *   varint  n key lengths: 0 for a null key, else its UTF-16 length + 1
 *   varint  n value lengths: 0 when the row's values were not kept (the last snapshot holds its
 *           key with the same row hash: unchanged, never an operation), else its bytes + 1
 *   UTF-8   non-null keys, concatenated
 *   UTF-8   each row's values as COPY text (row.ts): tab-separated, `\N` for null, escaped
 * The row hash is XXH64 of exactly that row's value bytes, computed as they are written (one
 * encoding per row serves both). Values stay bytes after decoding and are decoded per row only for
 * rows that become operations, so a diff holds ~1 byte per byte of values, plus its keys.
 * Rows extracted with COPY are stored as the bytes Postgres sent. Chosen over NDJSON, which
 * needs every value as a JS string to encode, a parse of every row to read back, and cannot be
 * hashed as stored (bench/README.md has the figures).
 *
 * Snapshot partition ("ERS1"): what the destination holds for one partition, sorted by key hash
 * then key (code units), keys unique and non-empty.
 *   header  u32 magic 0x31535245 ("ERS1"), u32 entries n, u32 lengthsBytes, u32 textBytes (16 bytes)
 *   u64[n]  key hashes (sorted)      u64[n]  row hashes
 *   varint  n key lengths (UTF-16 units)      UTF-8  keys, concatenated
 * The snapshot keeps key strings, not only their hashes: mirror deletes need the key of a row
 * that is gone from the model, and comparing keys whenever hashes match makes a 64-bit collision
 * between two different keys harmless (both entries coexist under one hash).
 *
 * Snapshot partition with field hashes ("ERS2"), written only for syncs that send changed fields:
 *   header  u32 magic 0x32535245 ("ERS2"), u32 entries n, u32 lengthsBytes, u32 textBytes,
 *           u32 fields f, u32 seed low, u32 seed high, u32 0                     (32 bytes)
 *   u64[n]  key hashes (sorted)      u64[n]  row hashes      u32[n·f] field hashes (entry-major)
 *   varint  n key lengths (UTF-16 units)      UTF-8  keys, concatenated
 * The seed is the row hashes' mapping seed: field hashes are compared only under the mapping that
 * wrote them. A field hash of 0 is unknown (field-hashes.ts).
 */

const CHUNK_MAGIC = 0x32435245;
const SNAPSHOT_MAGIC = 0x31535245;
const FIELDS_SNAPSHOT_MAGIC = 0x32535245;
const CHUNK_HEADER = 32;
const SNAPSHOT_HEADER = 16;
const FIELDS_SNAPSHOT_HEADER = 32;

const encoder = new TextEncoder();
// ignoreBOM: keep a leading U+FEFF of the first key, or every offset after it shifts.
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
  /** Mapped values of row i, in mapping order (decoded on demand). */
  values(i: number): RawValue[];
  /** Row i's values as stored (COPY text UTF-8, see row.ts), or null when they were not kept. */
  valueBytes(i: number): Uint8Array | null;
}

/** Per-field hashes of a snapshot's entries (see field-hashes.ts). */
interface SnapshotFields {
  /** Field hashes per entry: the model columns the mapping reads. */
  readonly count: number;
  /** The mapping seed of the row hashes they were computed with. */
  readonly seed: bigint;
  /** `count` hashes per entry, entry-major; 0 = unknown. */
  readonly hashes: Uint32Array;
}

/** A committed snapshot partition: key → row hash the destination acknowledged, sorted by key hash; keys adjacent in `keys.text`. */
export interface SnapshotPartition {
  readonly count: number;
  readonly keyHashes: BigUint64Array;
  readonly rowHashes: BigUint64Array;
  readonly keys: KeyColumn;
  /** Field hashes, kept for syncs that send changed fields only. */
  readonly fields?: SnapshotFields;
}

/** A chunk or snapshot object that is not in the expected format (truncated, wrong kind). */
export class FormatError extends Error {
  override name = "FormatError";
}

/** Growable bytes. */
class Bytes {
  buf: Uint8Array;
  length = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(capacity);
  }

  ensure(extra: number): void {
    const need = this.length + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  varint(v: number): void {
    this.ensure(5);
    while (v >= 0x80) {
      this.buf[this.length++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.length++] = v;
  }

  /** Appends the UTF-8 of `s`. */
  utf8(s: string): void {
    this.ensure(3 * s.length);
    this.length = writeUtf8(s, this.buf, this.length);
  }

  /** Appends bytes. */
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  /** Appends `src[from, to)`: short runs by a loop (a `set` call and its view cost more than a key's few bytes). */
  copy(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    this.ensure(n);
    const buf = this.buf;
    let p = this.length;
    if (n <= 24) {
      for (let i = from; i < to; i++) buf[p++] = src[i] ?? 0;
    } else {
      buf.set(src.subarray(from, to), p);
      p += n;
    }
    this.length = p;
  }

  /** Appends `values` as COPY text UTF-8; returns the bytes written. */
  row(values: readonly RawValue[]): number {
    this.ensure(maxRowUtf8(values));
    const start = this.length;
    this.length = writeRowUtf8(values, this.buf, start);
    return this.length - start;
  }
}

const INITIAL_ROWS = 64;
const INITIAL_TEXT = 4096;

/**
 * Accumulates the rows of one partition into a run chunk, encoding each row to UTF-8 as it comes
 * (so memory is its bytes, not a string per field) and hashing those bytes.
 */
export class RunChunkBuilder {
  private n = 0;
  private keyHashes = new BigUint64Array(INITIAL_ROWS);
  private rowHashes = new BigUint64Array(INITIAL_ROWS);
  // The same hashes as u32 pairs (low word first): rows added as words need no BigInt.
  private keyWords = new Uint32Array(this.keyHashes.buffer);
  private rowWords = new Uint32Array(this.rowHashes.buffer);
  private keyLengths = new Bytes(INITIAL_ROWS);
  private valueLengths = new Bytes(INITIAL_ROWS);
  private keyText = new Bytes(INITIAL_TEXT / 4);
  private valueText: Bytes;

  /**
   * `columns`: mapped values per row. `hashRow` hashes a row's value bytes (normally
   * `hasher.hashEncodedRow` with the mapping seed); without it, {@link RunChunkBuilder.add} needs
   * an explicit row hash. `initialBytes`: starting capacity of the value buffer (it doubles as
   * needed; starting near the expected chunk size saves the copies).
   */
  constructor(
    readonly columns: number,
    private readonly hashRow: ((utf8: Uint8Array) => bigint) | null = null,
    private readonly initialBytes = INITIAL_TEXT,
  ) {
    this.valueText = new Bytes(initialBytes);
  }

  /** Rows added since the last {@link RunChunkBuilder.encode}. */
  get count(): number {
    return this.n;
  }

  /** Bytes the builder holds (buffer capacities), for memory budgets. */
  get heldBytes(): number {
    return (
      this.keyHashes.byteLength * 2 +
      this.keyLengths.buf.length +
      this.valueLengths.buf.length +
      this.keyText.buf.length +
      this.valueText.buf.length
    );
  }

  /** Size of the chunk {@link RunChunkBuilder.encode} would return now. */
  get encodedBytes(): number {
    return CHUNK_HEADER + 16 * this.n + this.keyLengths.length + this.valueLengths.length + this.keyText.length + this.valueText.length;
  }

  /** Adds one row (`values` in mapping order) and returns its row hash (`rowHash` if given). */
  add(key: string | null, keyHash: bigint, values: readonly RawValue[], rowHash?: bigint): bigint {
    if (values.length !== this.columns) {
      throw new RangeError(`row has ${values.length} values, chunk has ${this.columns} columns`);
    }
    const n = this.n;
    if (n === this.keyHashes.length) this.growHashes();
    if (key === null) {
      this.keyLengths.varint(0);
    } else {
      this.keyLengths.varint(key.length + 1);
      this.keyText.utf8(key);
    }
    const start = this.valueText.length;
    const written = this.valueText.row(values);
    this.valueLengths.varint(written + 1);
    let hash = rowHash;
    if (hash === undefined) {
      if (this.hashRow === null) throw new Error("RunChunkBuilder needs a row hash function or an explicit row hash");
      hash = this.hashRow(this.valueText.buf.subarray(start, start + written));
    }
    this.keyHashes[n] = keyHash;
    this.rowHashes[n] = hash;
    this.n = n + 1;
    return hash;
  }

  /**
   * Adds one row given as bytes: the key's UTF-8 (null for a null key) with its UTF-16 length, and
   * the values as COPY text UTF-8 (see row.ts), or null to keep only the row hash (then required)
   * for a row known to be unchanged. Returns the row hash (`rowHash` if given).
   */
  addEncoded(key: Uint8Array | null, keyUnits: number, keyHash: bigint, values: Uint8Array | null, rowHash?: bigint): bigint {
    const n = this.n;
    if (n === this.keyHashes.length) this.growHashes();
    if (key === null) {
      this.keyLengths.varint(0);
    } else {
      this.keyLengths.varint(keyUnits + 1);
      this.keyText.bytes(key);
    }
    let hash = rowHash;
    if (values === null) {
      if (hash === undefined) throw new Error("a row without its values needs an explicit row hash");
      this.valueLengths.varint(0);
    } else {
      this.valueText.bytes(values);
      this.valueLengths.varint(values.length + 1);
      if (hash === undefined) {
        if (this.hashRow === null) throw new Error("RunChunkBuilder needs a row hash function or an explicit row hash");
        hash = this.hashRow(values);
      }
    }
    this.keyHashes[n] = keyHash;
    this.rowHashes[n] = hash;
    this.n = n + 1;
    return hash;
  }

  /**
   * Adds one row of a COPY line in `src` with a non-null key: the key's UTF-8 at [keyFrom, keyTo)
   * (`keyUnits` UTF-16 units), the values at [valuesFrom, valuesTo), or `valuesFrom` -1 to keep only
   * the row hash (a row known unchanged). The hashes are u32 pairs at `2 * at` in `keyWords` and
   * `rowWords` (see PartitionWriter.addCopyLines): no BigInt and no view per row.
   */
  addLine(
    src: Uint8Array,
    keyFrom: number,
    keyTo: number,
    keyUnits: number,
    valuesFrom: number,
    valuesTo: number,
    keyWords: Uint32Array,
    rowWords: Uint32Array,
    at: number,
  ): void {
    const n = this.n;
    if (n === this.keyHashes.length) this.growHashes();
    this.keyLengths.varint(keyUnits + 1);
    this.keyText.copy(src, keyFrom, keyTo);
    if (valuesFrom < 0) {
      this.valueLengths.varint(0);
    } else {
      this.valueText.copy(src, valuesFrom, valuesTo);
      this.valueLengths.varint(valuesTo - valuesFrom + 1);
    }
    const w = 2 * n;
    const a = 2 * at;
    this.keyWords[w] = keyWords[a] ?? 0;
    this.keyWords[w + 1] = keyWords[a + 1] ?? 0;
    this.rowWords[w] = rowWords[a] ?? 0;
    this.rowWords[w + 1] = rowWords[a + 1] ?? 0;
    this.n = n + 1;
  }

  private growHashes(): void {
    const n = this.n;
    const kh = new BigUint64Array(n * 2);
    kh.set(this.keyHashes);
    this.keyHashes = kh;
    this.keyWords = new Uint32Array(kh.buffer);
    const rh = new BigUint64Array(n * 2);
    rh.set(this.rowHashes);
    this.rowHashes = rh;
    this.rowWords = new Uint32Array(rh.buffer);
  }

  /** The chunk's bytes; the builder is empty afterwards and releases its buffers. */
  encode(): Uint8Array {
    const n = this.n;
    const parts = [this.keyLengths, this.valueLengths, this.keyText, this.valueText];
    const out = new Uint8Array(this.encodedBytes);
    new Uint32Array(out.buffer, 0, CHUNK_HEADER / 4).set([CHUNK_MAGIC, n, this.columns, ...parts.map((p) => p.length), 0]);
    new BigUint64Array(out.buffer, CHUNK_HEADER, n).set(this.keyHashes.subarray(0, n));
    new BigUint64Array(out.buffer, CHUNK_HEADER + 8 * n, n).set(this.rowHashes.subarray(0, n));
    let at = CHUNK_HEADER + 16 * n;
    for (const p of parts) {
      out.set(p.buf.subarray(0, p.length), at);
      at += p.length;
    }
    this.n = 0;
    this.keyHashes = new BigUint64Array(INITIAL_ROWS);
    this.rowHashes = new BigUint64Array(INITIAL_ROWS);
    this.keyWords = new Uint32Array(this.keyHashes.buffer);
    this.rowWords = new Uint32Array(this.rowHashes.buffer);
    this.keyLengths = new Bytes(INITIAL_ROWS);
    this.valueLengths = new Bytes(INITIAL_ROWS);
    this.keyText = new Bytes(INITIAL_TEXT / 4);
    this.valueText = new Bytes(this.initialBytes);
    return out;
  }
}

function header(bytes: Uint8Array, size: number, magic: number, what: string): number[] {
  if (bytes.length < size) throw new FormatError(`${what}: ${bytes.length} bytes is shorter than its header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, size);
  const h = Array.from({ length: size / 4 }, (_, i) => view.getUint32(4 * i, true));
  if (h[0] !== magic) throw new FormatError(`${what}: bad magic number`);
  return h;
}

/** A u64 array copied out of `bytes` (copies are aligned and let the caller drop the bytes). */
function u64s(bytes: Uint8Array, at: number, count: number): BigUint64Array {
  return new BigUint64Array(bytes.slice(at, at + 8 * count).buffer);
}

/**
 * Offsets from `count` varint lengths at [from, to): count + 1 offsets, the first 0. With
 * `nullable`, a 0 is a null (flagged in the returned `nulls`) and other lengths are stored + 1.
 */
function readLengths(
  bytes: Uint8Array,
  from: number,
  to: number,
  count: number,
  nullable: boolean,
  what: string,
): { offsets: Uint32Array; nulls: Uint8Array | null } {
  const offsets = new Uint32Array(count + 1);
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
    if (!nullable) offset += v;
    else if (v > 0) offset += v - 1;
    else {
      nulls ??= new Uint8Array(count);
      nulls[i] = 1;
    }
    offsets[i + 1] = offset;
  }
  if (at !== to) throw new FormatError(`${what}: ${to - at} bytes of lengths left over`);
  return { offsets, nulls };
}

/** One decoded chunk's values: their bytes and per-row byte offsets. */
interface ValueSection {
  bytes: Uint8Array;
  offsets: Uint32Array;
  /** 1 for rows whose values were not kept. */
  omitted: Uint8Array | null;
}

/** Rows of one or more decoded run chunks. */
class ChunkRows implements RunRows {
  constructor(
    readonly count: number,
    readonly columns: number,
    readonly keyHashes: BigUint64Array,
    readonly rowHashes: BigUint64Array,
    readonly keys: KeyColumn,
    /** Value sections in row order; `firsts[s]` is the first row of section s. */
    readonly sections: readonly ValueSection[],
    private readonly firsts: readonly number[],
  ) {}

  key(i: number): string | null {
    return keyAt(this.keys, i);
  }

  values(i: number): RawValue[] {
    const bytes = this.valueBytes(i);
    if (bytes === null) throw new RangeError(`row ${i}: its values were not kept (unchanged since the last snapshot)`);
    return decodeRow(decoder.decode(bytes), this.columns);
  }

  valueBytes(i: number): Uint8Array | null {
    if (!(i >= 0 && i < this.count)) throw new RangeError(`row ${i} is not in [0, ${this.count})`);
    // Last section whose first row is <= i (one section unless chunks were joined).
    let lo = 0;
    let hi = this.sections.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((this.firsts[mid] ?? 0) <= i) lo = mid;
      else hi = mid - 1;
    }
    const section = this.sections[lo];
    if (section === undefined) throw new RangeError(`row ${i} has no values`);
    const r = i - (this.firsts[lo] ?? 0);
    if (section.omitted?.[r]) return null;
    return section.bytes.subarray(section.offsets[r] ?? 0, section.offsets[r + 1] ?? 0);
  }
}

/**
 * Decodes a run chunk written by {@link RunChunkBuilder.encode}. Hashes and keys are copied out;
 * values stay a view into `bytes` (no second copy of the bulk of the chunk), so keep `bytes`
 * unmodified while the rows are used.
 */
export function decodeRunChunk(bytes: Uint8Array): RunRows {
  const h = header(bytes, CHUNK_HEADER, CHUNK_MAGIC, "run chunk");
  const [n, columns, kl, vl, kt, vt] = [h[1] ?? 0, h[2] ?? 0, h[3] ?? 0, h[4] ?? 0, h[5] ?? 0, h[6] ?? 0];
  const lengthsAt = CHUNK_HEADER + 16 * n;
  const keyTextAt = lengthsAt + kl + vl;
  const valuesAt = keyTextAt + kt;
  if (bytes.length !== valuesAt + vt) throw new FormatError("run chunk: size does not match its header");
  const keys = readLengths(bytes, lengthsAt, lengthsAt + kl, n, true, "run chunk keys");
  const values = readLengths(bytes, lengthsAt + kl, keyTextAt, n, true, "run chunk values");
  if (values.offsets[n] !== vt) throw new FormatError("run chunk: value lengths do not add up");
  const text = decoder.decode(bytes.subarray(keyTextAt, valuesAt));
  if (text.length !== keys.offsets[n]) throw new FormatError("run chunk: key text does not match its lengths");
  return new ChunkRows(
    n,
    columns,
    u64s(bytes, CHUNK_HEADER, n),
    u64s(bytes, CHUNK_HEADER + 8 * n, n),
    adjacentKeys(text, keys.offsets, keys.nulls),
    [{ bytes: bytes.subarray(valuesAt), offsets: values.offsets, omitted: values.nulls }],
    [0],
  );
}

/**
 * The rows of one partition from its chunks (any number, in any order) as one {@link RunRows}.
 * Hashes and keys are copied into one column (values stay where they are); drop the chunks
 * afterwards. `columns` is used when there are no chunks.
 */
export function joinRunChunks(chunks: readonly RunRows[], columns = 0): RunRows {
  const only = chunks[0];
  if (chunks.length === 1 && only !== undefined) return only;
  const n = chunks.reduce((sum, c) => sum + c.count, 0);
  const cols = only === undefined ? columns : only.columns;
  const keyHashes = new BigUint64Array(n);
  const rowHashes = new BigUint64Array(n);
  const offsets = new Uint32Array(n + 1);
  let nulls: Uint8Array | null = null;
  const sections: ValueSection[] = [];
  const firsts: number[] = [];
  let row = 0;
  let offset = 0;
  for (const c of chunks) {
    if (!(c instanceof ChunkRows)) throw new TypeError("joinRunChunks takes decoded run chunks");
    if (c.columns !== cols) throw new RangeError("chunks of one partition must have the same columns");
    keyHashes.set(c.keyHashes, row);
    rowHashes.set(c.rowHashes, row);
    for (let i = 0; i < c.count; i++) offsets[row + i + 1] = offset + (c.keys.ends[i] ?? 0);
    if (c.keys.nulls !== null) {
      nulls ??= new Uint8Array(n);
      nulls.set(c.keys.nulls, row);
    }
    for (const s of c.sections) sections.push(s);
    firsts.push(row);
    row += c.count;
    offset += c.keys.text.length;
  }
  const text = chunks.map((c) => c.keys.text).join("");
  return new ChunkRows(n, cols, keyHashes, rowHashes, adjacentKeys(text, offsets, nulls), sections, firsts);
}

/**
 * Only the key and row hashes of an encoded snapshot partition, as 32-bit word pairs (keys are not
 * decoded): what extraction needs to recognise unchanged rows (see KnownRows).
 */
export function snapshotHashWords(bytes: Uint8Array): {
  keyWords: Uint32Array;
  rowWords: Uint32Array;
  /** Field hashes per entry and their seed; null when the snapshot keeps none. */
  fields: { count: number; seed: bigint } | null;
} {
  const h = snapshotHeader(bytes);
  const n = h.n;
  if (bytes.length < h.size + 16 * n) throw new FormatError("snapshot: shorter than its hashes");
  const words = new Uint32Array(bytes.slice(h.size, h.size + 16 * n).buffer);
  return { keyWords: words.subarray(0, 2 * n), rowWords: words.subarray(2 * n, 4 * n), fields: h.fields };
}

/** The header of either snapshot format. */
function snapshotHeader(bytes: Uint8Array): {
  size: number;
  n: number;
  lengths: number;
  textBytes: number;
  fields: { count: number; seed: bigint } | null;
} {
  const magic = bytes.length >= 4 ? new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) : 0;
  if (magic === FIELDS_SNAPSHOT_MAGIC) {
    const h = header(bytes, FIELDS_SNAPSHOT_HEADER, FIELDS_SNAPSHOT_MAGIC, "snapshot");
    const seed = (BigInt(h[6] ?? 0) << 32n) | BigInt(h[5] ?? 0);
    return { size: FIELDS_SNAPSHOT_HEADER, n: h[1] ?? 0, lengths: h[2] ?? 0, textBytes: h[3] ?? 0, fields: { count: h[4] ?? 0, seed } };
  }
  const h = header(bytes, SNAPSHOT_HEADER, SNAPSHOT_MAGIC, "snapshot");
  return { size: SNAPSHOT_HEADER, n: h[1] ?? 0, lengths: h[2] ?? 0, textBytes: h[3] ?? 0, fields: null };
}

/** A snapshot partition with no entries (first run). */
export function emptySnapshot(): SnapshotPartition {
  return { count: 0, keyHashes: new BigUint64Array(0), rowHashes: new BigUint64Array(0), keys: adjacentKeys("", new Uint32Array(1)) };
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
  private readonly offsets: Uint32Array;
  private readonly parts: string[] = [];
  private offset = 0;
  private readonly fieldHashes: Uint32Array | null;

  /**
   * `capacity`: the most entries that will be appended. `fields`: keep that many field hashes per
   * entry under that seed (syncs that send changed fields); without it the snapshot keeps none.
   */
  constructor(
    capacity: number,
    private readonly fields: { count: number; seed: bigint } | null = null,
  ) {
    this.keyHashes = new BigUint64Array(capacity);
    this.rowHashes = new BigUint64Array(capacity);
    this.kw = words(this.keyHashes);
    this.rw = words(this.rowHashes);
    this.offsets = new Uint32Array(capacity + 1);
    this.fieldHashes = fields === null ? null : new Uint32Array(capacity * fields.count);
  }

  /**
   * Appends key i of `keys` with key hash i of `keyWords` and row hash j of `rowWords`, and (when
   * the builder keeps field hashes) the entry's field hashes from `fieldHashes` at `fieldsAt`
   * (none: unknown, all 0).
   */
  append(
    keys: KeyColumn,
    keyWords: Uint32Array,
    i: number,
    rowWords: Uint32Array,
    j: number,
    fieldHashes: Uint32Array | null = null,
    fieldsAt = 0,
  ): void {
    const n = this.n;
    if (n >= this.keyHashes.length) throw new RangeError("snapshot builder capacity exceeded");
    this.kw[2 * n] = keyWords[2 * i] ?? 0;
    this.kw[2 * n + 1] = keyWords[2 * i + 1] ?? 0;
    this.rw[2 * n] = rowWords[2 * j] ?? 0;
    this.rw[2 * n + 1] = rowWords[2 * j + 1] ?? 0;
    if (this.fieldHashes !== null && fieldHashes !== null) {
      const f = this.fields?.count ?? 0;
      this.fieldHashes.set(fieldHashes.subarray(fieldsAt, fieldsAt + f), n * f);
    }
    const from = keys.starts[i] ?? 0;
    const to = keys.ends[i] ?? 0;
    this.parts.push(keys.text.slice(from, to));
    this.offset += to - from;
    this.offsets[n + 1] = this.offset;
    this.n = n + 1;
  }

  /** The snapshot of the entries appended so far. */
  build(): SnapshotPartition {
    const n = this.n;
    const fields = this.fields;
    return {
      count: n,
      keyHashes: this.keyHashes.subarray(0, n),
      rowHashes: this.rowHashes.subarray(0, n),
      keys: adjacentKeys(this.parts.join(""), this.offsets.subarray(0, n + 1)),
      ...(fields === null || this.fieldHashes === null
        ? {}
        : { fields: { count: fields.count, seed: fields.seed, hashes: this.fieldHashes.subarray(0, n * fields.count) } }),
    };
  }
}

/** The bytes of a snapshot partition. */
export function encodeSnapshot(snapshot: SnapshotPartition): Uint8Array {
  const n = snapshot.count;
  const { text, starts, ends } = snapshot.keys;
  const lengths = new Bytes(n + 16);
  for (let i = 0; i < n; i++) lengths.varint((ends[i] ?? 0) - (starts[i] ?? 0));
  const first = n > 0 ? (starts[0] ?? 0) : 0;
  const last = n > 0 ? (ends[n - 1] ?? 0) : 0;
  const keyText = encoder.encode(first === 0 && last === text.length ? text : text.slice(first, last));
  const fields = snapshot.fields;
  const size = fields === undefined ? SNAPSHOT_HEADER : FIELDS_SNAPSHOT_HEADER;
  const fieldBytes = fields === undefined ? 0 : 4 * n * fields.count;
  const out = new Uint8Array(size + 16 * n + fieldBytes + lengths.length + keyText.length);
  if (fields === undefined) {
    new Uint32Array(out.buffer, 0, size / 4).set([SNAPSHOT_MAGIC, n, lengths.length, keyText.length]);
  } else {
    const seed = [Number(fields.seed & 0xffffffffn), Number(fields.seed >> 32n)];
    new Uint32Array(out.buffer, 0, size / 4).set([FIELDS_SNAPSHOT_MAGIC, n, lengths.length, keyText.length, fields.count, ...seed, 0]);
    new Uint32Array(out.buffer, size + 16 * n, n * fields.count).set(fields.hashes.subarray(0, n * fields.count));
  }
  new BigUint64Array(out.buffer, size, n).set(snapshot.keyHashes.subarray(0, n));
  new BigUint64Array(out.buffer, size + 8 * n, n).set(snapshot.rowHashes.subarray(0, n));
  out.set(lengths.buf.subarray(0, lengths.length), size + 16 * n + fieldBytes);
  out.set(keyText, size + 16 * n + fieldBytes + lengths.length);
  return out;
}

/** Decodes a snapshot partition (copied out of `bytes`). */
export function decodeSnapshot(bytes: Uint8Array): SnapshotPartition {
  const { size, n, lengths, textBytes, fields } = snapshotHeader(bytes);
  const fieldBytes = fields === null ? 0 : 4 * n * fields.count;
  const lengthsAt = size + 16 * n + fieldBytes;
  if (bytes.length !== lengthsAt + lengths + textBytes) throw new FormatError("snapshot: size does not match its header");
  const { offsets } = readLengths(bytes, lengthsAt, lengthsAt + lengths, n, false, "snapshot");
  const text = decoder.decode(bytes.subarray(lengthsAt + lengths));
  if (text.length !== offsets[n]) throw new FormatError("snapshot: text length does not match its offsets");
  const at = size + 16 * n;
  return {
    count: n,
    keyHashes: u64s(bytes, size, n),
    rowHashes: u64s(bytes, size + 8 * n, n),
    keys: adjacentKeys(text, offsets),
    ...(fields === null ? {} : { fields: { ...fields, hashes: new Uint32Array(bytes.slice(at, at + fieldBytes).buffer) } }),
  };
}

/** First entry whose key hash is >= (high, low), by binary search over sorted words. */
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
  // Field hashes survive only if every part has them under one layout (one run wrote them all).
  const first = parts[0]?.fields;
  const sameFields = first !== undefined && parts.every((s) => s.fields?.count === first.count && s.fields.seed === first.seed);
  const fieldHashes = sameFields ? new Uint32Array(n * first.count) : null;
  const offsets = new Uint32Array(n + 1);
  const texts: string[] = [];
  let at = 0;
  let offset = 0;
  for (const { s, from, to } of ranges) {
    keyHashes.set(s.keyHashes.subarray(from, to), at);
    rowHashes.set(s.rowHashes.subarray(from, to), at);
    if (fieldHashes !== null && sameFields && s.fields) {
      fieldHashes.set(s.fields.hashes.subarray(from * first.count, to * first.count), at * first.count);
    }
    for (let i = from; i < to; i++) {
      offset += (s.keys.ends[i] ?? 0) - (s.keys.starts[i] ?? 0);
      offsets[at + i - from + 1] = offset;
    }
    if (to > from) texts.push(s.keys.text.slice(s.keys.starts[from] ?? 0, s.keys.ends[to - 1] ?? 0));
    at += to - from;
  }
  const keys = adjacentKeys(texts.join(""), offsets);
  if (fieldHashes === null || !sameFields) return { count: n, keyHashes, rowHashes, keys };
  return { count: n, keyHashes, rowHashes, keys, fields: { count: first.count, seed: first.seed, hashes: fieldHashes } };
}
