import xxhash from "xxhash-wasm";
import { encodeRow, type RawValue } from "./row";

export type { RawValue } from "./row";

/**
 * 64-bit hashes of primary keys and of rows (XXH64 via xxhash-wasm).
 *
 * xxhash-wasm ships a `workerd` build that imports its `.wasm` as a module, so it loads inside
 * workerd, where compiling wasm from bytes at run time is refused. Hashes are persisted in
 * committed snapshots, so the seeds and the row encoding (row.ts) are part of the snapshot format:
 * changing them makes the next run see every row as updated. xxhash-wasm returns BigInts; callers
 * store them in BigUint64Arrays and compare u32 words, never BigInts, in hot loops.
 */

/** Seed of primary-key hashes (partitioning and snapshot lookup). */
const KEY_SEED = 0n;
/** Base seed of row hashes, used when no mapping seed is given. */
const ROW_SEED = 0x9e3779b97f4a7c15n;
/** Seed of field hashes (only syncs that send changed fields keep them). */
const FIELD_SEED = 0x85ebca6b;

/** Hash functions bound to a loaded xxhash-wasm instance. */
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
   * Seed for row hashes from the destination field names in mapping order, so a renamed or
   * re-ordered mapping re-sends every row even when the values did not change.
   */
  mappingSeed(destinationFields: readonly string[]): bigint;
  /**
   * XXH32 of one value as COPY text UTF-8 (a row's bytes between tabs), never 0: 0 marks a field
   * hash the snapshot does not know (field-hashes.ts).
   */
  hashField(utf8: Uint8Array): number;
}

let loading: Promise<Hasher> | undefined;

/** Loads the wasm module once per isolate and returns the hash functions. */
export function loadHasher(): Promise<Hasher> {
  loading ??= xxhash().then((api): Hasher => {
    const { h64, h64Raw, h32Raw } = api;
    return {
      hashKey: (key) => h64(key, KEY_SEED),
      hashKeyBytes: (utf8) => h64Raw(utf8, KEY_SEED),
      hashRow: (values, seed = ROW_SEED) => h64(encodeRow(values), seed),
      hashEncodedRow: (utf8, seed = ROW_SEED) => h64Raw(utf8, seed),
      mappingSeed: (fields) => h64(encodeRow(fields), ROW_SEED),
      hashField: (utf8) => h32Raw(utf8, FIELD_SEED) >>> 0 || 1,
    };
  });
  return loading;
}
