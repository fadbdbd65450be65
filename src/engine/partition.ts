/**
 * Partitioning by primary-key hash. Partition p of P holds the keys whose hash starts with the
 * log2(P) bits of p (top bits, not a modulo), so each partition is one contiguous range of the
 * sorted hash space: when P changes between runs, the previous snapshot's partitions split or
 * merge by slicing sorted arrays instead of rehashing (see {@link sourcePartitions}).
 */

/**
 * Rows per partition the chooser aims at. A diff holds ~250 bytes a row for ~150-byte rows
 * (values as bytes, keys, hashes, the previous snapshot, the new one), so 128k rows stay near 32 MB;
 * pass an expected count with headroom (e.g. twice the last run's rows) so growth stays inside.
 */
export const TARGET_ROWS_PER_PARTITION = 131_072;
/** Upper bound on P: 128k-row partitions up to ~134M rows; bigger models get bigger partitions. */
export const MAX_PARTITIONS = 1024;

/** Partition count for an expected number of rows: a power of two in [1, MAX_PARTITIONS]. */
export function choosePartitionCount(expectedRows: number, targetRowsPerPartition = TARGET_ROWS_PER_PARTITION): number {
  if (!(targetRowsPerPartition >= 1)) throw new RangeError("targetRowsPerPartition must be at least 1");
  if (!Number.isFinite(expectedRows) || expectedRows <= targetRowsPerPartition) return 1;
  let p = 1;
  while (p < MAX_PARTITIONS && expectedRows / p > targetRowsPerPartition) p *= 2;
  return p;
}

/** log2 of a partition count; throws unless it is a power of two in [1, MAX_PARTITIONS]. */
export function partitionBits(partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS || (partitions & (partitions - 1)) !== 0) {
    throw new RangeError(`partition count must be a power of two between 1 and ${MAX_PARTITIONS}, got ${partitions}`);
  }
  return 31 - Math.clz32(partitions);
}

/** Partition of a key hash: its top log2(P) bits. */
export function partitionOf(keyHash: bigint, partitions: number): number {
  return partitionOfHigh(Number(keyHash >> 32n), partitionBits(partitions));
}

/**
 * {@link partitionOf} from the high 32 bits of the hash and `bits` = {@link partitionBits}(P),
 * unchecked, for hot loops that hold hashes as u32 words.
 */
export function partitionOfHigh(high32: number, bits: number): number {
  // `x >>> 32` is `x >>> 0` in JS, hence the explicit case for P = 1.
  return bits === 0 ? 0 : high32 >>> (32 - bits);
}

/** Key-hash range [start, end) covered by partition p of P; `end` is 2^64 for the last one. */
export function partitionRange(p: number, partitions: number): { start: bigint; end: bigint } {
  const bits = partitionBits(partitions);
  if (!Number.isInteger(p) || p < 0 || p >= partitions) throw new RangeError(`partition ${p} is not in [0, ${partitions})`);
  const width = 1n << BigInt(64 - bits);
  return { start: BigInt(p) * width, end: BigInt(p + 1) * width };
}

/**
 * Partitions of a snapshot written with `previous` partitions that hold the keys of partition p of
 * `current`: one (a superset, to be sliced) when P grew or stayed, several (to concatenate) when
 * it shrank.
 */
export function sourcePartitions(p: number, current: number, previous: number): number[] {
  const cur = partitionBits(current);
  const prev = partitionBits(previous);
  if (!Number.isInteger(p) || p < 0 || p >= current) throw new RangeError(`partition ${p} is not in [0, ${current})`);
  if (prev <= cur) return [p >>> (cur - prev)];
  const span = 1 << (prev - cur);
  return Array.from({ length: span }, (_, i) => p * span + i);
}
