/**
 * The (key hash, row hash) pairs of the last committed snapshot, for extraction to tell at once
 * that a row is unchanged and skip storing its values: the diff never reads them (only new and
 * changed rows become operations), so a run with 1% of changes stores ~5× fewer bytes.
 *
 * An open-addressing set of 64-bit fingerprints in one Uint32Array: 8 bytes a slot at most half
 * full, so 16 bytes a row, no object per entry. A fingerprint mixes both hashes (each already
 * uniform XXH64), so a changed row is mistaken for a known one with probability ~n / 2^64.
 */
export class KnownRows {
  /** Largest snapshot a set is built for (16 MiB of slots); beyond it extraction keeps every value. */
  static readonly MAX_ROWS = 1 << 20;

  private readonly slots: Uint32Array;
  private readonly mask: number;
  private readonly pair = new BigUint64Array(2);
  private readonly words = new Uint32Array(this.pair.buffer);
  /** Pairs added. */
  size = 0;

  constructor(expectedRows: number) {
    let capacity = 16;
    while (capacity < 2 * expectedRows) capacity *= 2;
    this.slots = new Uint32Array(2 * capacity);
    this.mask = capacity - 1;
  }

  add(keyHash: bigint, rowHash: bigint): void {
    const w = this.wordsOf(keyHash, rowHash);
    this.insert(fingerprintLo(w[0] ?? 0, w[3] ?? 0), (w[1] ?? 0) ^ (w[2] ?? 0));
  }

  /**
   * Adds the pairs of a snapshot partition given as 32-bit words (little-endian halves of its
   * key and row hashes), without making a BigInt per row.
   */
  addWords(keyWords: Uint32Array, rowWords: Uint32Array): void {
    for (let i = 0; i + 1 < keyWords.length; i += 2) {
      this.insert(fingerprintLo(keyWords[i] ?? 0, rowWords[i + 1] ?? 0), (keyWords[i + 1] ?? 0) ^ (rowWords[i] ?? 0));
    }
  }

  has(keyHash: bigint, rowHash: bigint): boolean {
    const w = this.wordsOf(keyHash, rowHash);
    const at = this.slotOf(fingerprintLo(w[0] ?? 0, w[3] ?? 0), ((w[1] ?? 0) ^ (w[2] ?? 0)) >>> 0);
    return this.slots[at] !== 0 || this.slots[at + 1] !== 0;
  }

  /**
   * {@link KnownRows.has} of `count` pairs given as u32 words (as {@link KnownRows.addWords}): `out[i]`
   * is 1 for a known pair, else 0. The slots are read first in a loop of independent loads, so
   * their cache misses overlap instead of costing one memory round trip per row.
   */
  hasWords(keyWords: Uint32Array, rowWords: Uint32Array, count: number, out: Uint8Array): void {
    const slots = this.slots;
    const mask = this.mask;
    // First the home slots alone: an empty one settles the row as unknown, any other needs probing.
    for (let i = 0; i < count; i++) {
      const at = 2 * (fingerprintLo(keyWords[2 * i] ?? 0, rowWords[2 * i + 1] ?? 0) & mask);
      out[i] = ((slots[at] ?? 0) | (slots[at + 1] ?? 0)) === 0 ? 0 : 2;
    }
    for (let i = 0; i < count; i++) {
      if (out[i] === 0) continue;
      const lo = fingerprintLo(keyWords[2 * i] ?? 0, rowWords[2 * i + 1] ?? 0);
      const at = this.slotOf(lo, ((keyWords[2 * i + 1] ?? 0) ^ (rowWords[2 * i] ?? 0)) >>> 0);
      out[i] = slots[at] !== 0 || slots[at + 1] !== 0 ? 1 : 0;
    }
  }

  /** Bytes held. */
  get bytes(): number {
    return this.slots.byteLength;
  }

  /** The pair's four 32-bit words (key lo, key hi, row lo, row hi), in a reused array. */
  private wordsOf(keyHash: bigint, rowHash: bigint): Uint32Array {
    this.pair[0] = keyHash;
    this.pair[1] = rowHash;
    return this.words;
  }

  private insert(lo: number, hiSigned: number): void {
    if (2 * (this.size + 1) > this.mask + 1) throw new RangeError("KnownRows is full: size it for the snapshot");
    const hi = hiSigned >>> 0;
    const at = this.slotOf(lo, hi);
    if (this.slots[at] === 0 && this.slots[at + 1] === 0) {
      this.slots[at] = lo;
      this.slots[at + 1] = hi;
      this.size++;
    }
  }

  /** Index of the fingerprint's slot, or of the empty slot where it would go (linear probing). */
  private slotOf(lo: number, hi: number): number {
    let i = lo & this.mask;
    for (;;) {
      const at = 2 * i;
      const a = this.slots[at] ?? 0;
      const b = this.slots[at + 1] ?? 0;
      if ((a === 0 && b === 0) || (a === lo && b === hi)) return at;
      i = (i + 1) & this.mask;
    }
  }
}

/** Low word of a fingerprint: the halves are crossed so (k, r) and (r, k) differ; never 0, which marks an empty slot. */
function fingerprintLo(keyLo: number, rowHi: number): number {
  return (keyLo ^ rowHi) >>> 0 || 1;
}
