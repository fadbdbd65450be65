import { type PartitionDiff, PREV_GONE, PREV_HELD, PREV_MATCHED, ROW_UNCHANGED } from "./diff";
import { knownFieldHashes, type RowFieldHashes } from "./field-hashes";
import { compareEntries, sortByKey, words } from "./keys";
import { OP_CREATE, OP_DELETE, OP_UPDATE, OP_UPSERT, type PartitionPlan } from "./plan";
import { type RunRows, SnapshotBuilder, type SnapshotPartition } from "./snapshot";

/** Result codes per operation, indexed like the plan. */
const RESULT_PENDING = 0;
export const RESULT_ACKNOWLEDGED = 1;
export const RESULT_FAILED = 2;
/** An update-only row whose record does not exist: a failure, but its state is committed (not retried until it changes). */
export const RESULT_NOT_FOUND = 3;

/** Operations of a partition by outcome. Pending operations (no result) count as not delivered. */
export interface CommitCounts {
  /** Acknowledged creates, and upserts of keys the snapshot lacked. */
  created: number;
  /** Acknowledged updates, and upserts of keys the snapshot had. */
  updated: number;
  /** Acknowledged deletes. */
  deleted: number;
  /** Operations the destination rejected. */
  failed: number;
  /** Operations with no result (the run stopped before they were delivered). */
  pending: number;
}

/**
 * The new committed snapshot of a partition: for each key, the state the destination acknowledged.
 *
 * - acknowledged create/update/upsert → the row's new hash; acknowledged delete → the key leaves;
 * - failed or pending operation → the previous state (or still absent), so the next run plans it again;
 * - not found (update mode: no such record) → counted as failed, but the row's new hash, as if
 *   acknowledged, so the row is sent again only when its values change;
 * - unchanged rows, rows whose update the mode does not send (append), and keys duplicated in this
 *   run keep their previous state;
 * - keys gone from the model with no delete planned (upsert and append modes) leave the snapshot:
 *   the snapshot describes the model's rows as last delivered, and a key that comes back is sent
 *   again (as Hightouch does, comparing with the previous run's result set). Keeping them instead
 *   would grow the snapshot forever on models with churning keys.
 *
 * `results` has one code per plan operation (RESULT_*). With `fields` (syncs that send changed
 * fields), each entry also keeps its field hashes: an acknowledged row's own, else the previous
 * entry's (an unchanged row's own when the previous entry has none: a first run after switching).
 */
export function commitPartition(
  prev: SnapshotPartition,
  rows: RunRows,
  diff: PartitionDiff,
  plan: PartitionPlan,
  results: Uint8Array,
  fields: RowFieldHashes | null = null,
): { snapshot: SnapshotPartition; counts: CommitCounts } {
  if (results.length !== plan.count) throw new RangeError(`${results.length} results for ${plan.count} operations`);
  if (diff.prevStatus.length !== prev.count || diff.rowStatus.length !== rows.count) {
    throw new RangeError("diff does not belong to this snapshot and these rows");
  }
  const counts: CommitCounts = { created: 0, updated: 0, deleted: 0, failed: 0, pending: 0 };
  // Outcome of the operation on each row / previous entry: 0 none, else a RESULT_* + 1.
  const rowOutcome = new Uint8Array(rows.count);
  const prevOutcome = new Uint8Array(prev.count);
  for (let k = 0; k < plan.count; k++) {
    const result = results[k] ?? RESULT_PENDING;
    const kind = plan.kinds[k];
    const row = plan.rows[k] ?? -1;
    // Not found settles the row's state like an acknowledgement.
    const outcome = (result === RESULT_NOT_FOUND ? RESULT_ACKNOWLEDGED : result) + 1;
    if (row >= 0) rowOutcome[row] = outcome;
    else prevOutcome[plan.prevs[k] ?? 0] = outcome;
    if (result === RESULT_ACKNOWLEDGED) {
      if (kind === OP_CREATE || (kind === OP_UPSERT && (plan.prevs[k] ?? -1) < 0)) counts.created++;
      else if (kind === OP_UPDATE || kind === OP_UPSERT) counts.updated++;
      else if (kind === OP_DELETE) counts.deleted++;
    } else if (result === RESULT_FAILED || result === RESULT_NOT_FOUND) {
      counts.failed++;
    } else {
      counts.pending++;
    }
  }
  const acknowledged = RESULT_ACKNOWLEDGED + 1;

  // Previous entry → its row in this run (or -1).
  const prevRow = new Int32Array(prev.count).fill(-1);
  for (let i = 0; i < rows.count; i++) {
    const p = diff.prevMatch[i] ?? -1;
    if (p >= 0) prevRow[p] = i;
  }

  // Rows that enter the snapshot: acknowledged operations on keys it lacked.
  const incoming: number[] = [];
  for (let i = 0; i < rows.count; i++) {
    if (rowOutcome[i] === acknowledged && (diff.prevMatch[i] ?? -1) < 0) incoming.push(i);
  }
  const order = sortByKey(rows.keyHashes, rows.keys, Uint32Array.from(incoming));

  const pkw = words(prev.keyHashes);
  const prw = words(prev.rowHashes);
  const kw = words(rows.keyHashes);
  const rw = words(rows.rowHashes);
  const out = new SnapshotBuilder(prev.count + order.length, fields && { count: fields.count, seed: fields.seed });
  const prevFields = fields && knownFieldHashes(prev, fields);
  let next = 0;
  const takeIncomingBefore = (p: number) => {
    // Merge: incoming rows that sort before previous entry p (all of them when p is -1).
    while (next < order.length) {
      const i = order[next] ?? 0;
      if (p >= 0 && compareEntries(kw, rows.keys, i, pkw, prev.keys, p) > 0) break;
      out.append(rows.keys, kw, i, rw, i, fields?.of(i));
      next++;
    }
  };
  for (let p = 0; p < prev.count; p++) {
    const status = diff.prevStatus[p];
    let keep = true;
    let fromRow = -1;
    if (status === PREV_GONE) {
      // Without a delete (upsert, append) the key leaves; with one it stays until acknowledged.
      keep = prevOutcome[p] !== 0 && prevOutcome[p] !== acknowledged;
    } else if (status === PREV_MATCHED) {
      const i = prevRow[p] ?? -1;
      if (i >= 0 && rowOutcome[i] === acknowledged) fromRow = i;
    } else if (status !== PREV_HELD) {
      throw new RangeError(`previous entry ${p} has no diff status`);
    }
    if (!keep) continue;
    takeIncomingBefore(p);
    if (fromRow >= 0) out.append(prev.keys, pkw, p, rw, fromRow, fields?.of(fromRow));
    else if (prevFields !== null || fields === null) out.append(prev.keys, pkw, p, prw, p, prevFields, p * (fields?.count ?? 0));
    else {
      const i = prevRow[p] ?? -1;
      out.append(prev.keys, pkw, p, prw, p, i >= 0 && diff.rowStatus[i] === ROW_UNCHANGED ? fields.of(i) : null);
    }
  }
  takeIncomingBefore(-1);
  return { snapshot: out.build(), counts };
}
