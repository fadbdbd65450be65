import type { Hasher } from "./hash";
import type { RunRows, SnapshotPartition } from "./snapshot";

/**
 * Per-field hashes, for syncs that send only the fields that changed (`send: "changed_fields"`).
 *
 * One XXH32 per model column the mapping reads (row.ts's value order), of the value's COPY text
 * bytes as the run chunk stores them (a raw tab only ever separates values: tabs inside values
 * are escaped), so they are computed from stored bytes without decoding a row, and only for rows
 * that are sent or committed. A committed snapshot keeps them next to the row hashes (snapshot.ts
 * "ERS2"), with the mapping seed they were computed under: under another mapping (a field added,
 * renamed, reordered, a constant or template edited) they are not compared, and every field is
 * sent. A hash of 0 is unknown (a row committed before the sync kept field hashes): that field
 * counts as changed. 4 bytes per column per snapshot entry.
 */

/** What a sync's field hashes are: how many per row, and the mapping seed of its row hashes. */
export interface FieldLayout {
  readonly count: number;
  readonly seed: bigint;
}

/** Writes the `count` field hashes of one row's stored values (COPY text UTF-8) into `out` at `at`. */
export function hashFields(hasher: Hasher, bytes: Uint8Array, count: number, out: Uint32Array, at = 0): void {
  if (count === 0) return;
  const found = hasher.hashFields(bytes, count, out, at);
  if (found !== count) throw new RangeError(`row has ${found} values, expected ${count}`);
}

/** Field hashes of a run's rows, computed on demand from their stored bytes. */
export class RowFieldHashes implements FieldLayout {
  private readonly out: Uint32Array;

  constructor(
    private readonly hasher: Hasher,
    private readonly rows: RunRows,
    readonly count: number,
    readonly seed: bigint,
  ) {
    this.out = new Uint32Array(count);
  }

  /** Row i's field hashes in a reused array (copy them before the next call), or null when its values were not kept. */
  of(i: number): Uint32Array | null {
    const bytes = this.rows.valueBytes(i);
    if (bytes === null) return null;
    hashFields(this.hasher, bytes, this.count, this.out);
    return this.out;
  }
}

/** The snapshot's field hashes (`count` per entry) when they were kept under `layout`, else null. */
export function knownFieldHashes(prev: SnapshotPartition, layout: FieldLayout): Uint32Array | null {
  const fields = prev.fields;
  if (fields === undefined || fields.count !== layout.count || fields.seed !== layout.seed) return null;
  return fields.hashes;
}

/**
 * Which of the columns differ between a row's field hashes and entry `p` of `prev` (1 = changed;
 * an unknown previous hash counts as changed), or null when none does.
 */
export function changedColumns(current: Uint32Array, prev: Uint32Array, p: number, count: number): Uint8Array | null {
  let changed: Uint8Array | null = null;
  for (let k = 0; k < count; k++) {
    const before = prev[p * count + k] ?? 0;
    if (before !== 0 && before === current[k]) continue;
    changed ??= new Uint8Array(count);
    changed[k] = 1;
  }
  return changed;
}
