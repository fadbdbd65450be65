import type { SyncMode } from "../sync/mode";
import { type PartitionDiff, PREV_GONE, ROW_NEW, ROW_UNCHANGED, ROW_UPDATED } from "./diff";
import type { RawValue } from "./hash";
import { keyAt } from "./keys";
import type { RunRows, SnapshotPartition } from "./snapshot";

/** What an operation asks of the destination. */
export type OperationKind = "create" | "update" | "upsert" | "delete";

/** Operation kind codes in {@link PartitionPlan.kinds}. */
export const OP_CREATE = 1;
export const OP_UPDATE = 2;
export const OP_UPSERT = 3;
export const OP_DELETE = 4;

const KIND_NAMES: Record<number, OperationKind> = {
  [OP_CREATE]: "create",
  [OP_UPDATE]: "update",
  [OP_UPSERT]: "upsert",
  [OP_DELETE]: "delete",
};

/** Options of a run that change its plan. */
export interface PlanOptions {
  /**
   * Send every valid row again as if it were new (create; upsert in upsert mode), whatever the
   * snapshot says. In mirror mode keys of the previous snapshot that are gone from the model are
   * still deleted: the snapshot is the only record of them, and a resync that forgot them would
   * leave them at the destination for good.
   */
  fullResync?: boolean;
}

/**
 * The operations of one partition, columnar: operation k is `kinds[k]` on row `rows[k]` (a delete
 * has no row: -1) whose key had previous entry `prevs[k]` (-1 when the snapshot lacks the key).
 * Deletes come first, then rows in extraction order.
 */
export interface PartitionPlan {
  readonly count: number;
  readonly kinds: Uint8Array;
  readonly rows: Int32Array;
  readonly prevs: Int32Array;
  readonly counts: Record<OperationKind, number>;
}

/**
 * Operations by mode (DESIGN.md): upsert → new+updated as upserts; mirror → create, update, delete;
 * append → create for new keys; update → new+updated as updates of existing records (never a create).
 */
export function planPartition(diff: PartitionDiff, mode: SyncMode, options: PlanOptions = {}): PartitionPlan {
  const { rowStatus, prevMatch, prevStatus } = diff;
  const full = options.fullResync === true;
  const capacity = rowStatus.length + (mode === "mirror" ? diff.counts.gone : 0);
  const kinds = new Uint8Array(capacity);
  const rows = new Int32Array(capacity);
  const prevs = new Int32Array(capacity);
  const counts: Record<OperationKind, number> = { create: 0, update: 0, upsert: 0, delete: 0 };
  let k = 0;
  const push = (kind: number, row: number, prev: number) => {
    kinds[k] = kind;
    rows[k] = row;
    prevs[k] = prev;
    k++;
  };

  if (mode === "mirror") {
    for (let p = 0; p < prevStatus.length; p++) if (prevStatus[p] === PREV_GONE) push(OP_DELETE, -1, p);
    counts.delete = k;
  }
  for (let i = 0; i < rowStatus.length; i++) {
    const status = rowStatus[i];
    const prev = prevMatch[i] ?? -1;
    const valid = status === ROW_NEW || status === ROW_UPDATED || status === ROW_UNCHANGED;
    if (!valid) continue;
    if (mode === "upsert") {
      if (full || status !== ROW_UNCHANGED) {
        push(OP_UPSERT, i, prev);
        counts.upsert++;
      }
    } else if (mode === "update") {
      // A key new to the snapshot may well exist at the destination: updating it is the mode's point.
      if (full || status !== ROW_UNCHANGED) {
        push(OP_UPDATE, i, prev);
        counts.update++;
      }
    } else if (full || status === ROW_NEW) {
      push(OP_CREATE, i, prev);
      counts.create++;
    } else if (mode === "mirror" && status === ROW_UPDATED) {
      push(OP_UPDATE, i, prev);
      counts.update++;
    }
  }
  return { count: k, kinds: kinds.subarray(0, k), rows: rows.subarray(0, k), prevs: prevs.subarray(0, k), counts };
}

/** One operation as delivery sends it. */
export interface Operation {
  /** Index in the partition's plan; results are reported by it. */
  index: number;
  kind: OperationKind;
  key: string;
  /** Mapped values in mapping order; null for deletes. */
  values: RawValue[] | null;
}

/** Operation `index` of a plan, with its key and values. */
export function operationAt(plan: PartitionPlan, index: number, rows: RunRows, prev: SnapshotPartition): Operation {
  const kind = KIND_NAMES[plan.kinds[index] ?? 0];
  if (kind === undefined || index < 0 || index >= plan.count) throw new RangeError(`operation ${index} is not in [0, ${plan.count})`);
  const row = plan.rows[index] ?? -1;
  if (row < 0) return { index, kind, key: keyAt(prev.keys, plan.prevs[index] ?? 0) ?? "", values: null };
  return { index, kind, key: keyAt(rows.keys, row) ?? "", values: rows.values(row) };
}

/** Limits of one delivery batch. */
export interface BatchLimits {
  /** Most operations in a batch. */
  maxOperations: number;
  /** Most bytes of keys and values (UTF-16 units, an estimate of the payload) in a batch. */
  maxBytes?: number;
}

/** The plan's operations from `start`, in batches within the limits (a single oversized operation is a batch of its own). */
export function* operationBatches(
  plan: PartitionPlan,
  rows: RunRows,
  prev: SnapshotPartition,
  limits: BatchLimits,
  start = 0,
): Generator<Operation[]> {
  const maxOps = Math.max(1, Math.floor(limits.maxOperations));
  const maxBytes = limits.maxBytes ?? Number.POSITIVE_INFINITY;
  let batch: Operation[] = [];
  let bytes = 0;
  for (let k = start; k < plan.count; k++) {
    const op = operationAt(plan, k, rows, prev);
    let size = op.key.length;
    if (op.values !== null) for (const v of op.values) size += v === null ? 4 : v.length;
    if (batch.length > 0 && (batch.length >= maxOps || bytes + size > maxBytes)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(op);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}

/** Inputs of the mass-delete guard, summed over all partitions of the run. */
export interface MassDeleteInput {
  /** Deletes the run plans. */
  deletes: number;
  /** Entries in the previous committed snapshot (rows at the destination). */
  previousRows: number;
  /** Rows the model returned in this run. */
  currentRows: number;
  /** Share of the destination a run may delete without confirmation, in percent (default 50). */
  thresholdPercent?: number;
  /** The user confirmed (`allow_mass_delete: true`). */
  allowMassDelete?: boolean;
}

/** The guard's verdict. */
export interface MassDeleteVerdict {
  /** The run must stop before sending anything. */
  stop: boolean;
  /** Deletes as a percent of the previous snapshot (0 when it is empty). */
  sharePercent: number;
  /** Why it stops, for the run's error; null when it does not. */
  reason: string | null;
}

/** Default share of a destination a run may delete without confirmation. */
const DEFAULT_MASS_DELETE_THRESHOLD_PERCENT = 50;

/**
 * Whether a run must stop before sending because it would delete more than the threshold share of
 * the destination. An empty model result against a non-empty snapshot always stops (whatever the
 * threshold): it is far more often a broken query than an intent to empty the destination.
 */
export function checkMassDelete(input: MassDeleteInput): MassDeleteVerdict {
  const threshold = input.thresholdPercent ?? DEFAULT_MASS_DELETE_THRESHOLD_PERCENT;
  if (!(threshold >= 0 && threshold <= 100)) throw new RangeError(`mass-delete threshold must be in [0, 100], got ${threshold}`);
  const { deletes, previousRows, currentRows } = input;
  const sharePercent = previousRows > 0 ? (deletes * 100) / previousRows : 0;
  if (input.allowMassDelete === true || deletes === 0 || previousRows === 0) return { stop: false, sharePercent, reason: null };
  const empty = currentRows === 0;
  if (!empty && deletes * 100 <= threshold * previousRows) return { stop: false, sharePercent, reason: null };
  const share = sharePercent >= 99.95 || sharePercent < 0.05 ? sharePercent.toFixed(0) : sharePercent.toFixed(1);
  const why = empty
    ? `the model returned no rows, so this run would delete all ${deletes} rows it synced before`
    : `this run would delete ${deletes} of ${previousRows} synced rows (${share}%), more than the ${threshold}% mass-delete threshold`;
  return {
    stop: true,
    sharePercent,
    reason: `${why}. Nothing was sent. Check the model's query; to delete them anyway, trigger the run with {"allow_mass_delete": true}.`,
  };
}
