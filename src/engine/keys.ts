/**
 * Columnar primary keys and 64-bit hashes: the shared layout of run chunks and snapshots.
 *
 * Hashes live in BigUint64Arrays (compact, and what R2 bytes decode into without parsing); hot loops
 * read them as two u32 words through {@link words} so they compare numbers, not BigInts. Words are
 * little-endian: word 2i is the low half of hash i, word 2i+1 the high half.
 */

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  // Formats are defined little-endian and typed arrays use the platform's order.
  throw new Error("the snapshot engine requires a little-endian platform");
}

/**
 * Keys as ranges of one string: key i is `text.slice(starts[i], ends[i])` (UTF-16 units), or null
 * when `nulls[i]` is 1. One string instead of a string per key saves ~30 bytes a key. In
 * snapshots keys are adjacent (`ends` is `starts` shifted by one); in run chunks they sit inside
 * each row's text.
 */
export interface KeyColumn {
  readonly text: string;
  readonly starts: Uint32Array;
  readonly ends: Uint32Array;
  /** 1 where the key is null; null when no key is. */
  readonly nulls: Uint8Array | null;
}

/** A key column of adjacent keys from count + 1 offsets. */
export function adjacentKeys(text: string, offsets: Uint32Array, nulls: Uint8Array | null = null): KeyColumn {
  return { text, starts: offsets.subarray(0, Math.max(0, offsets.length - 1)), ends: offsets.subarray(1), nulls };
}

/** The u32 words of a BigUint64Array (same memory). */
export function words(hashes: BigUint64Array): Uint32Array {
  return new Uint32Array(hashes.buffer, hashes.byteOffset, hashes.length * 2);
}

/** Key i of a column. */
export function keyAt(keys: KeyColumn, i: number): string | null {
  if (keys.nulls !== null && keys.nulls[i] === 1) return null;
  return keys.text.slice(keys.starts[i] ?? 0, keys.ends[i] ?? 0);
}

/** Whether key i is null or empty (such keys never become operations). */
export function keyIsBlank(keys: KeyColumn, i: number): boolean {
  if (keys.nulls !== null && keys.nulls[i] === 1) return true;
  return keys.starts[i] === keys.ends[i];
}

/** Code-unit order of key i of `a` and key j of `b` (non-null keys), without slicing. */
function compareKeys(a: KeyColumn, i: number, b: KeyColumn, j: number): number {
  const as = a.starts[i] ?? 0;
  const al = (a.ends[i] ?? 0) - as;
  const bs = b.starts[j] ?? 0;
  const bl = (b.ends[j] ?? 0) - bs;
  const n = Math.min(al, bl);
  const at = a.text;
  const bt = b.text;
  for (let k = 0; k < n; k++) {
    const d = at.charCodeAt(as + k) - bt.charCodeAt(bs + k);
    if (d !== 0) return d;
  }
  return al - bl;
}

/** Whether key i of `a` equals key j of `b` (non-null keys). */
export function keysEqual(a: KeyColumn, i: number, b: KeyColumn, j: number): boolean {
  const as = a.starts[i] ?? 0;
  const bs = b.starts[j] ?? 0;
  const len = (a.ends[i] ?? 0) - as;
  if ((b.ends[j] ?? 0) - bs !== len) return false;
  const at = a.text;
  const bt = b.text;
  for (let k = 0; k < len; k++) if (at.charCodeAt(as + k) !== bt.charCodeAt(bs + k)) return false;
  return true;
}

/** Order of (hash i of `aw`, key i of `a`) against (hash j of `bw`, key j of `b`): hash first, then key. */
export function compareEntries(aw: Uint32Array, a: KeyColumn, i: number, bw: Uint32Array, b: KeyColumn, j: number): number {
  const ah = aw[2 * i + 1] ?? 0;
  const bh = bw[2 * j + 1] ?? 0;
  if (ah !== bh) return ah - bh;
  const al = aw[2 * i] ?? 0;
  const bl = bw[2 * j] ?? 0;
  if (al !== bl) return al - bl;
  return compareKeys(a, i, b, j);
}

/**
 * Indices (all, or `subset`) ordered by (key hash, key). Packs (high word, index) into a
 * BigUint64Array so the engine's native numeric sort does the work, then orders the rare runs that
 * share a high word by low word and key.
 */
export function sortByKey(hashes: BigUint64Array, keys: KeyColumn, subset: Uint32Array | null = null): Uint32Array {
  const n = subset === null ? hashes.length : subset.length;
  const hw = words(hashes);
  const packed = new BigUint64Array(n);
  const pw = words(packed);
  for (let k = 0; k < n; k++) {
    const i = subset === null ? k : (subset[k] ?? 0);
    pw[2 * k] = i;
    pw[2 * k + 1] = hw[2 * i + 1] ?? 0;
  }
  packed.sort();
  const order = new Uint32Array(n);
  for (let k = 0; k < n; k++) order[k] = pw[2 * k] ?? 0;
  for (let a = 0; a < n; ) {
    const high = pw[2 * a + 1];
    let b = a + 1;
    while (b < n && pw[2 * b + 1] === high) b++;
    if (b - a > 1) {
      const run = Array.from(order.subarray(a, b)).sort((x, y) => compareEntries(hw, keys, x, hw, keys, y));
      order.set(run, a);
    }
    a = b;
  }
  return order;
}
