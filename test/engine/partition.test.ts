import { describe, expect, it } from "vitest";
import { loadHasher } from "../../src/engine/hash";
import {
  choosePartitionCount,
  MAX_PARTITIONS,
  partitionBits,
  partitionOf,
  partitionRange,
  sourcePartitions,
  TARGET_ROWS_PER_PARTITION,
} from "../../src/engine/partition";

describe("partition", () => {
  it("chooses a power of two that keeps partitions near the target size", () => {
    expect(choosePartitionCount(0)).toBe(1);
    expect(choosePartitionCount(Number.NaN)).toBe(1);
    expect(choosePartitionCount(TARGET_ROWS_PER_PARTITION)).toBe(1);
    expect(choosePartitionCount(TARGET_ROWS_PER_PARTITION + 1)).toBe(2);
    expect(choosePartitionCount(1_000_000)).toBe(8);
    expect(choosePartitionCount(10_000_000)).toBe(128);
    expect(choosePartitionCount(1e12)).toBe(MAX_PARTITIONS);
    expect(choosePartitionCount(1000, 100)).toBe(16);
    for (const rows of [1, 5e4, 3e5, 2e6, 5e7]) {
      const p = choosePartitionCount(rows);
      expect(p & (p - 1)).toBe(0);
      expect(rows / p).toBeLessThanOrEqual(TARGET_ROWS_PER_PARTITION);
    }
  });

  it("maps a key hash to its top bits", () => {
    expect(partitionOf(0xffff_ffff_ffff_ffffn, 1)).toBe(0);
    expect(partitionOf(0xffff_ffff_ffff_ffffn, 16)).toBe(15);
    expect(partitionOf(0x8000_0000_0000_0000n, 2)).toBe(1);
    expect(partitionOf(0x7fff_ffff_ffff_ffffn, 2)).toBe(0);
    expect(partitionOf(0x0123_4567_89ab_cdefn, 256)).toBe(0x01);
    expect(() => partitionOf(1n, 3)).toThrow(RangeError);
    expect(() => partitionBits(MAX_PARTITIONS * 2)).toThrow(RangeError);
  });

  it("spreads real key hashes evenly", async () => {
    const h = await loadHasher();
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 64_000; i++) {
      const p = partitionOf(h.hashKey(String(i)), 16);
      counts[p] = (counts[p] ?? 0) + 1;
    }
    for (const c of counts) expect(Math.abs(c - 4000)).toBeLessThan(400);
  });

  it("gives contiguous ranges that nest when P doubles", () => {
    expect(partitionRange(0, 1)).toEqual({ start: 0n, end: 1n << 64n });
    expect(partitionRange(1, 4)).toEqual({ start: 1n << 62n, end: 2n << 62n });
    const h = 0x4abc_0000_0000_0001n;
    const p4 = partitionOf(h, 4);
    const { start, end } = partitionRange(p4, 4);
    expect(h >= start && h < end).toBe(true);
    expect(sourcePartitions(partitionOf(h, 8), 8, 4)).toEqual([p4]);
    expect(sourcePartitions(3, 4, 1)).toEqual([0]);
    expect(sourcePartitions(5, 8, 8)).toEqual([5]);
    expect(sourcePartitions(1, 2, 8)).toEqual([4, 5, 6, 7]);
    expect(() => sourcePartitions(4, 4, 2)).toThrow(RangeError);
  });
});
