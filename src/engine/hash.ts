import xxhash from "xxhash-wasm";

/**
 * 64-bit hashes of primary keys and of mapped rows (XXH64 via xxhash-wasm).
 *
 * xxhash-wasm ships a `workerd` build that imports its `.wasm` as a module, so it loads inside
 * workerd, where compiling wasm from bytes at run time is refused. Hashes are persisted in
 * committed snapshots, so the seeds and the row encoding below are part of the snapshot format:
 * changing them makes the next run see every row as updated.
 */

/** Seed of primary-key hashes (partitioning and snapshot lookup). */
const KEY_SEED = 0n;
/** Base seed of row hashes; a mapping seed is mixed in by {@link mappingSeed}. */
const ROW_SEED = 0x9e3779b97f4a7c15n;

/** A mapped row value as read from the warehouse: raw text, or null for SQL NULL. */
export type RawValue = string | null;

/** Hash functions bound to a loaded xxhash-wasm instance. */
export interface Hasher {
  /** XXH64 of a primary key's text. */
  hashKey(key: string): bigint;
  /**
   * XXH64 of a row's mapped values in mapping order. Null differs from "", and value boundaries
   * count (["a","bc"] differs from ["ab","c"]). `seed` comes from {@link Hasher.mappingSeed}.
   */
  hashRow(values: readonly RawValue[], seed?: bigint): bigint;
  /**
   * Seed for {@link Hasher.hashRow} from the destination field names in mapping order, so a
   * renamed or re-ordered mapping re-sends every row even when the values did not change.
   */
  mappingSeed(destinationFields: readonly string[]): bigint;
}

let loading: Promise<Hasher> | undefined;

/** Loads the wasm module once per isolate and returns the hash functions. */
export function loadHasher(): Promise<Hasher> {
  loading ??= xxhash().then((api): Hasher => {
    const { h64 } = api;
    return {
      hashKey: (key) => h64(key, KEY_SEED),
      hashRow: (values, seed = ROW_SEED) => h64(encodeRow(values), seed),
      mappingSeed: (fields) => h64(encodeRow(fields), ROW_SEED),
    };
  });
  return loading;
}

/**
 * Unambiguous text of a row: each value as `<length>:<text>`, null as `~`. A field starts with a
 * digit or `~`, so the sequence decodes one way only. One string per row keeps it to a single
 * wasm call (hashing each value separately costs a call and a BigInt per value).
 */
export function encodeRow(values: readonly RawValue[]): string {
  let s = "";
  for (const v of values) s += v === null ? "~" : `${v.length}:${v}`;
  return s;
}
