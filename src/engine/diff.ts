import { keyAt, keyIsBlank, keysEqual, words } from "./keys";
import type { RunRows, SnapshotPartition } from "./snapshot";

/** Row status codes in {@link PartitionDiff.rowStatus}. */
export const ROW_NEW = 1;
export const ROW_UPDATED = 2;
export const ROW_UNCHANGED = 3;
/** The key occurs more than once in this run: every occurrence fails. */
export const ROW_DUPLICATE_KEY = 4;
/** The key is null or empty: the row fails. */
export const ROW_BLANK_KEY = 5;

/** Previous-entry status codes in {@link PartitionDiff.prevStatus}. */
export const PREV_MATCHED = 1;
/** The key is not in this run's rows. */
export const PREV_GONE = 2;
/** The key is duplicated in this run: its committed state is kept as is. */
export const PREV_HELD = 3;

/** Why a row of the model can never become an operation. */
type FailedRowCode = "null_primary_key" | "duplicate_primary_key";

/**
 * A new or changed row was stored without its values: extraction took it for unchanged (see
 * KnownRows), so it cannot be sent. The run must stop rather than send a row without fields.
 */
export class MissingValuesError extends Error {
  constructor(readonly key: string | null) {
    super(`row ${JSON.stringify(key)} changed but was stored without its values; extract again with every value kept`);
    this.name = "MissingValuesError";
  }
}

/** A row reported as failed by the diff (never sent). */
interface FailedRow {
  /** Index in the partition's rows. */
  row: number;
  key: string | null;
  code: FailedRowCode;
  message: string;
}

/** How many rows and previous entries ended in each status. */
export interface DiffCounts {
  /** Rows read in this partition. */
  rows: number;
  new: number;
  updated: number;
  unchanged: number;
  /** Previous entries whose key is gone from the model. */
  gone: number;
  /** Rows with a duplicated key (all occurrences). */
  duplicateKey: number;
  /** Rows with a null or empty key. */
  blankKey: number;
  /** Previous entries kept as they are because their key is duplicated in this run. */
  held: number;
}

/** The comparison of one partition's rows against its last committed snapshot. */
export interface PartitionDiff {
  /** Per row: ROW_NEW, ROW_UPDATED, ROW_UNCHANGED, ROW_DUPLICATE_KEY or ROW_BLANK_KEY. */
  readonly rowStatus: Uint8Array;
  /** Per row: index of the previous entry with its key, or -1. */
  readonly prevMatch: Int32Array;
  /** Per previous entry: PREV_MATCHED, PREV_GONE or PREV_HELD. */
  readonly prevStatus: Uint8Array;
  readonly counts: DiffCounts;
  /** Rows with duplicate or blank keys, in row order. */
  readonly failed: FailedRow[];
}

/**
 * Compares this run's rows of one partition with the previous committed snapshot of that partition,
 * by key (key hash first, key text to confirm, so colliding hashes of different keys stay apart),
 * then by row hash. O(rows + entries) with an open-addressing table of row indices.
 * Throws {@link MissingValuesError} when a new or changed row has no stored values.
 */
export function diffPartition(prev: SnapshotPartition, rows: RunRows): PartitionDiff {
  const n = rows.count;
  const keys = rows.keys;
  const kw = words(rows.keyHashes);
  const rw = words(rows.rowHashes);
  const pw = words(prev.keyHashes);
  const prw = words(prev.rowHashes);
  const rowStatus = new Uint8Array(n);
  const prevMatch = new Int32Array(n).fill(-1);
  const prevStatus = new Uint8Array(prev.count);

  // Capacity >= 2n keeps probe chains short; slots hold row index + 1, 0 = empty.
  let capacity = 16;
  while (capacity < 2 * n) capacity *= 2;
  const mask = capacity - 1;
  const table = new Int32Array(capacity);
  // First occurrence → occurrences, only for duplicated keys (rare).
  const duplicates = new Map<number, number[]>();

  for (let i = 0; i < n; i++) {
    if (keyIsBlank(keys, i)) {
      rowStatus[i] = ROW_BLANK_KEY;
      continue;
    }
    const lo = kw[2 * i] ?? 0;
    const hi = kw[2 * i + 1] ?? 0;
    for (let slot = lo & mask; ; slot = (slot + 1) & mask) {
      const e = table[slot] ?? 0;
      if (e === 0) {
        table[slot] = i + 1;
        break;
      }
      const j = e - 1;
      if (kw[2 * j] === lo && kw[2 * j + 1] === hi && keysEqual(keys, i, keys, j)) {
        rowStatus[i] = ROW_DUPLICATE_KEY;
        rowStatus[j] = ROW_DUPLICATE_KEY;
        const seen = duplicates.get(j);
        if (seen === undefined) duplicates.set(j, [j, i]);
        else seen.push(i);
        break;
      }
    }
  }

  let gone = 0;
  let held = 0;
  for (let p = 0; p < prev.count; p++) {
    const lo = pw[2 * p] ?? 0;
    const hi = pw[2 * p + 1] ?? 0;
    let status = PREV_GONE;
    for (let slot = lo & mask; ; slot = (slot + 1) & mask) {
      const e = table[slot] ?? 0;
      if (e === 0) break;
      const i = e - 1;
      if (kw[2 * i] === lo && kw[2 * i + 1] === hi && keysEqual(keys, i, prev.keys, p)) {
        if (rowStatus[i] === ROW_DUPLICATE_KEY) {
          status = PREV_HELD;
        } else {
          status = PREV_MATCHED;
          prevMatch[i] = p;
          rowStatus[i] = rw[2 * i] === prw[2 * p] && rw[2 * i + 1] === prw[2 * p + 1] ? ROW_UNCHANGED : ROW_UPDATED;
        }
        break;
      }
    }
    prevStatus[p] = status;
    if (status === PREV_GONE) gone++;
    else if (status === PREV_HELD) held++;
  }

  const counts: DiffCounts = { rows: n, new: 0, updated: 0, unchanged: 0, gone, duplicateKey: 0, blankKey: 0, held };
  const failed: FailedRow[] = [];
  const dupCount = new Map<number, number>();
  for (const occurrences of duplicates.values()) for (const i of occurrences) dupCount.set(i, occurrences.length);
  for (let i = 0; i < n; i++) {
    switch (rowStatus[i]) {
      case 0:
        rowStatus[i] = ROW_NEW;
        counts.new++;
        mustHaveValues(rows, i);
        break;
      case ROW_UPDATED:
        counts.updated++;
        mustHaveValues(rows, i);
        break;
      case ROW_UNCHANGED:
        counts.unchanged++;
        break;
      case ROW_DUPLICATE_KEY: {
        counts.duplicateKey++;
        const key = keyAt(keys, i);
        failed.push({
          row: i,
          key,
          code: "duplicate_primary_key",
          message: `primary key ${JSON.stringify(key)} appears ${dupCount.get(i) ?? 2} times in the model's result; none of these rows is sent until it is unique`,
        });
        break;
      }
      case ROW_BLANK_KEY: {
        counts.blankKey++;
        const key = keyAt(keys, i);
        failed.push({
          row: i,
          key,
          code: "null_primary_key",
          message: key === null ? "primary key is null; the row is not sent" : "primary key is empty; the row is not sent",
        });
        break;
      }
    }
  }
  return { rowStatus, prevMatch, prevStatus, counts, failed };
}

/** Rows to send need their values; only a row extraction took for unchanged lacks them. */
function mustHaveValues(rows: RunRows, i: number): void {
  if (rows.valueBytes(i) === null) throw new MissingValuesError(keyAt(rows.keys, i));
}
