import { ROW_UPDATED, type PartitionDiff } from "../engine/diff";
import { changedColumns, type FieldLayout, knownFieldHashes, RowFieldHashes } from "../engine/field-hashes";
import { type Hasher, loadHasher } from "../engine/hash";
import type { Operation, PartitionPlan } from "../engine/plan";
import type { RunRows, SnapshotPartition } from "../engine/snapshot";
import { mappingColumnIndexes, mappingSeedParts } from "../sync/mapping";
import { type RunState, valuesPerRow } from "./state";

/** The field hashes a run keeps in its snapshot: only for a sync that sends changed fields. */
export function fieldLayoutOf(s: RunState, hasher: Hasher): FieldLayout | null {
  if (s.config.send !== "changed_fields") return null;
  return { count: valuesPerRow(s), seed: hasher.mappingSeed(mappingSeedParts(s.config.mappings)) };
}

/** Field hashes of this run's rows for its commit, or null when the sync keeps none. */
export async function rowFieldHashes(s: RunState, rows: RunRows): Promise<RowFieldHashes | null> {
  const hasher = await loadHasher();
  const layout = fieldLayoutOf(s, hasher);
  return layout && new RowFieldHashes(hasher, rows, layout.count, layout.seed);
}

/** One partition's stored diff and plan with the rows and snapshot its operations come from. */
interface PartitionOperations {
  diff: PartitionDiff;
  plan: PartitionPlan;
  rows: RunRows;
  prev: SnapshotPartition;
}

/**
 * Which destination fields an operation carries, as a filter of its full record: null for every
 * field. Under `send: "changed_fields"`, an update (an update, or an upsert of a key the snapshot
 * has) of a changed row carries the fields whose columns' hashes differ from the snapshot's, plus
 * the identity fields. Every field goes when the snapshot has no field hashes under this mapping
 * (a first run after switching, a mapping edited), when the row hashes differ but no field hash
 * does (a collision), and on a full resync.
 */
export async function changedFieldsOf(
  s: RunState,
  fullResync: boolean,
  part: PartitionOperations,
): Promise<(op: Operation) => Set<string> | null> {
  const all = () => null;
  if (fullResync) return all;
  const hasher = await loadHasher();
  const layout = fieldLayoutOf(s, hasher);
  const prevFields = layout && knownFieldHashes(part.prev, layout);
  if (layout === null || prevFields === null) return all;
  const { diff, plan } = part;
  const current = new RowFieldHashes(hasher, part.rows, layout.count, layout.seed);
  const mappings = s.config.mappings;
  const dependsOn = mappingColumnIndexes(mappings);
  const identity = s.config.identityFields ?? [];
  return (op) => {
    if (op.kind !== "update" && op.kind !== "upsert") return null;
    const row = plan.rows[op.index] ?? -1;
    const p = plan.prevs[op.index] ?? -1;
    if (row < 0 || p < 0 || diff.rowStatus[row] !== ROW_UPDATED) return null;
    const hashes = current.of(row);
    const changed = hashes && changedColumns(hashes, prevFields, p, layout.count);
    if (!changed) return null;
    const fields = new Set(identity);
    mappings.forEach((m, i) => {
      if (dependsOn[i]?.some((c) => changed[c] === 1)) fields.add(m.destination);
    });
    return fields;
  };
}

/** `record` without the fields `keep` leaves out (all of it when `keep` is null). */
export function keepFields<T>(record: Record<string, T>, keep: Set<string> | null): Record<string, T> {
  if (keep === null) return record;
  return Object.fromEntries(Object.entries(record).filter(([name]) => keep.has(name)));
}
