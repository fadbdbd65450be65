import { encodeRow, type RawValue } from "./row";
import xxhashModule from "./xxhash.wasm";

export type { RawValue } from "./row";

/**
 * 64-bit hashes of primary keys and of rows (XXH64), and 32-bit hashes of fields (XXH32).
 *
 * Our own small wasm module (xxhash.wat beside this file, compiled to xxhash.wasm by
 * scripts/hash-wasm.mjs) rather than xxhash-wasm: extraction hashes two ranges per row, and
 * xxhash-wasm's one call per range (a copy into wasm memory, a BigInt and a mask back) was ≈ 40%
 * of the engine's CPU per row. {@link Hasher.hashLines} hashes a batch of COPY lines per call and
 * hands the hashes back as u32 words, no BigInt. The `.wasm` is imported as a module (wrangler's
 * CompiledWasm rule; the benches' esbuild builds use bench/wasm-module.mjs) because workerd
 * refuses to compile wasm from bytes at run time.
 *
 * Hashes are persisted in committed snapshots, so the algorithm, the seeds and the row encoding
 * (row.ts) are part of the snapshot format: changing them makes the next run see every row as
 * updated. test/engine/hash.test.ts checks the module against xxhash-wasm's XXH64 and XXH32.
 */

/** Seed of primary-key hashes (partitioning and snapshot lookup). */
const KEY_SEED = 0n;
/** Base seed of row hashes, used when no mapping seed is given. */
const ROW_SEED = 0x9e3779b97f4a7c15n;
/** Seed of field hashes (only syncs that send changed fields keep them). */
const FIELD_SEED = 0x85ebca6b;

/** Rows per {@link Hasher.hashLines} call at most. */
export const LINE_BATCH_ROWS = 256;

/**
 * A batch of COPY lines to hash: per row, the key at [keyFrom, keyTo) and the values at
 * [valuesFrom, valuesTo) of one buffer, rows in order; the hashes come back in `keyWords` and
 * `rowWords` as u32 pairs, low word first (a BigUint64Array's layout). Arrays of
 * {@link LINE_BATCH_ROWS} rows.
 */
export interface LineBatch {
  readonly keyFrom: Int32Array;
  readonly keyTo: Int32Array;
  readonly valuesFrom: Int32Array;
  readonly valuesTo: Int32Array;
  readonly keyWords: Uint32Array;
  readonly rowWords: Uint32Array;
}

/** Hash functions bound to the loaded wasm instance. */
export interface Hasher {
  /** XXH64 of a primary key's UTF-8. */
  hashKey(key: string): bigint;
  /** {@link Hasher.hashKey} of a key given as its UTF-8 bytes. */
  hashKeyBytes(utf8: Uint8Array): bigint;
  /**
   * XXH64 of a row's mapped values (mapping order) as COPY text (row.ts) in UTF-8: null differs
   * from "", and ["a","bc"] from ["ab","c"]. `seed` comes from {@link Hasher.mappingSeed}.
   */
  hashRow(values: readonly RawValue[], seed?: bigint): bigint;
  /** XXH64 of values already in COPY text UTF-8 (run chunks hash the bytes they store). */
  hashEncodedRow(utf8: Uint8Array, seed?: bigint): bigint;
  /**
   * {@link Hasher.hashKeyBytes} and {@link Hasher.hashEncodedRow} of the first `count` rows of
   * `batch` (ranges of `lines`), in two wasm calls.
   */
  hashLines(lines: Uint8Array, batch: LineBatch, count: number, seed?: bigint): void;
  /**
   * Seed for row hashes from the destination field names in mapping order, so a renamed or
   * re-ordered mapping re-sends every row even when the values did not change.
   */
  mappingSeed(destinationFields: readonly string[]): bigint;
  /**
   * XXH32 of one value as COPY text UTF-8 (a row's bytes between tabs), never 0: 0 marks a field
   * hash the snapshot does not know (field-hashes.ts).
   */
  hashField(utf8: Uint8Array): number;
  /**
   * {@link Hasher.hashField} of each value of a row's COPY text UTF-8 (values split at tabs), the
   * first `count` written to `out` from `at`, in one wasm call. Returns the number of values.
   */
  hashFields(utf8: Uint8Array, count: number, out: Uint32Array, at: number): number;
}

interface XxhashExports {
  memory: WebAssembly.Memory;
  xxh64(at: number, length: number, seed: bigint): bigint;
  xxh32(at: number, length: number, seed: number): number;
  xxh64Ranges(base: number, from: number, to: number, count: number, seed: bigint, out: number): void;
  xxh32Fields(at: number, length: number, count: number, seed: number, out: number): number;
}

// Wasm memory layout (bytes): the batch's four range tables, its two outputs, then the input.
const TABLE = 4 * LINE_BATCH_ROWS;
const KEY_FROM = 0;
const KEY_TO = TABLE;
const VALUES_FROM = 2 * TABLE;
const VALUES_TO = 3 * TABLE;
const KEY_OUT = 4 * TABLE;
const ROW_OUT = KEY_OUT + 8 * LINE_BATCH_ROWS;
const INPUT = ROW_OUT + 8 * LINE_BATCH_ROWS;
const PAGE = 65536;

/**
 * Every call copies its input to INPUT and reads its results back before returning, so calls
 * never see each other's state and one instance serves the whole isolate.
 */
function bindHasher(exports: XxhashExports): Hasher {
  const { memory, xxh64, xxh32, xxh64Ranges, xxh32Fields } = exports;
  const encoder = new TextEncoder();
  let bytes = new Uint8Array(memory.buffer);
  let words = new Uint32Array(memory.buffer);
  let ints = new Int32Array(memory.buffer);
  /** Room for `length` input bytes (views are remade when the memory grows). */
  const reserve = (length: number): void => {
    // bytes.length, not memory.buffer.byteLength: the `buffer` getter costs a call per hash.
    const need = INPUT + length - bytes.length;
    if (need <= 0) return;
    memory.grow(Math.ceil(need / PAGE));
    bytes = new Uint8Array(memory.buffer);
    words = new Uint32Array(memory.buffer);
    ints = new Int32Array(memory.buffer);
  };
  const hashBytes = (utf8: Uint8Array, seed: bigint): bigint => {
    reserve(utf8.length);
    bytes.set(utf8, INPUT);
    return BigInt.asUintN(64, xxh64(INPUT, utf8.length, seed));
  };
  const hashString = (text: string, seed: bigint): bigint => {
    reserve(3 * text.length);
    const { written } = encoder.encodeInto(text, bytes.subarray(INPUT));
    return BigInt.asUintN(64, xxh64(INPUT, written, seed));
  };
  return {
    hashKey: (key) => hashString(key, KEY_SEED),
    hashKeyBytes: (utf8) => hashBytes(utf8, KEY_SEED),
    hashRow: (values, seed = ROW_SEED) => hashString(encodeRow(values), seed),
    hashEncodedRow: (utf8, seed = ROW_SEED) => hashBytes(utf8, seed),
    hashLines: (lines, batch, count, seed = ROW_SEED) => {
      if (count <= 0) return;
      if (count > LINE_BATCH_ROWS) throw new RangeError(`at most ${LINE_BATCH_ROWS} lines per batch, got ${count}`);
      // Only the batch's span of `lines` goes into wasm memory; the ranges stay offsets into `lines`.
      const from = batch.keyFrom[0] ?? 0;
      const to = batch.valuesTo[count - 1] ?? 0;
      reserve(to - from);
      bytes.set(lines.subarray(from, to), INPUT);
      // Element loops, not subarray + set: no view objects, and a batch of one stays cheap.
      const { keyFrom, keyTo, valuesFrom, valuesTo, keyWords, rowWords } = batch;
      for (let i = 0; i < count; i++) {
        ints[KEY_FROM / 4 + i] = keyFrom[i] ?? 0;
        ints[KEY_TO / 4 + i] = keyTo[i] ?? 0;
        ints[VALUES_FROM / 4 + i] = valuesFrom[i] ?? 0;
        ints[VALUES_TO / 4 + i] = valuesTo[i] ?? 0;
      }
      const base = INPUT - from;
      xxh64Ranges(base, KEY_FROM, KEY_TO, count, KEY_SEED, KEY_OUT);
      xxh64Ranges(base, VALUES_FROM, VALUES_TO, count, seed, ROW_OUT);
      for (let w = 0; w < 2 * count; w++) {
        keyWords[w] = words[KEY_OUT / 4 + w] ?? 0;
        rowWords[w] = words[ROW_OUT / 4 + w] ?? 0;
      }
    },
    mappingSeed: (fields) => hashString(encodeRow(fields), ROW_SEED),
    hashField: (utf8) => {
      reserve(utf8.length);
      bytes.set(utf8, INPUT);
      return xxh32(INPUT, utf8.length, FIELD_SEED) >>> 0 || 1;
    },
    hashFields: (utf8, count, out, at) => {
      // The hashes go right after the input, 4-aligned.
      const hashes = INPUT + ((utf8.length + 4) & ~3);
      reserve(hashes - INPUT + 4 * count);
      bytes.set(utf8, INPUT);
      const found = xxh32Fields(INPUT, utf8.length, count, FIELD_SEED, hashes);
      const n = Math.min(found, count);
      for (let k = 0; k < n; k++) out[at + k] = (words[hashes / 4 + k] ?? 0) || 1;
      return found;
    },
  };
}

let loading: Promise<Hasher> | undefined;

/** Instantiates the wasm module once per isolate and returns the hash functions. */
export function loadHasher(): Promise<Hasher> {
  loading ??= WebAssembly.instantiate(xxhashModule).then((instance) => bindHasher(instance.exports as unknown as XxhashExports));
  return loading;
}
