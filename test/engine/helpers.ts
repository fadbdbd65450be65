import { commitPartition, RESULT_ACKNOWLEDGED, RESULT_FAILED, RESULT_NOT_FOUND } from "../../src/engine/commit";
import { diffPartition } from "../../src/engine/diff";
import { loadHasher, type RawValue } from "../../src/engine/hash";
import { type Operation, operationBatches, planPartition, type PlanOptions } from "../../src/engine/plan";
import { decodeRunChunk, emptySnapshot, RunChunkBuilder, type RunRows, type SnapshotPartition } from "../../src/engine/snapshot";
import type { SyncMode } from "../../src/sync/mode";

/** A model row in tests: primary key then mapped values. */
export type Row = [key: string | null, ...values: RawValue[]];

/** Rows of one partition, built and round-tripped through the chunk format. `keyHash` overrides hashes (collisions). */
export async function rowsOf(rows: readonly Row[], keyHash?: (key: string | null) => bigint | undefined): Promise<RunRows> {
  const hasher = await loadHasher();
  const columns = rows[0] === undefined ? 0 : rows[0].length - 1;
  const b = new RunChunkBuilder(columns, (utf8) => hasher.hashEncodedRow(utf8));
  for (const [key, ...values] of rows) {
    const forced = keyHash?.(key);
    b.add(key, forced ?? (key === null ? 0n : hasher.hashKey(key)), values);
  }
  return decodeRunChunk(b.encode());
}

/** Key → row hash of a snapshot, for assertions. */
export function entries(s: SnapshotPartition): Map<string, bigint> {
  const m = new Map<string, bigint>();
  for (let i = 0; i < s.count; i++) m.set(s.keys.text.slice(s.keys.starts[i] ?? 0, s.keys.ends[i] ?? 0), s.rowHashes[i] ?? 0n);
  return m;
}

/** Operations as "kind key" strings, sorted. */
export function describe(ops: readonly Operation[]): string[] {
  return ops.map((o) => `${o.kind} ${o.key}`).sort();
}

export interface RunOutcome {
  ops: Operation[];
  snapshot: SnapshotPartition;
  failedKeys: (string | null)[];
  counts: ReturnType<typeof commitPartition>["counts"];
  diff: ReturnType<typeof diffPartition>;
}

/** One whole run over one partition: diff, plan, "deliver" (fail when `reject` says so), commit. */
export async function runOnce(
  prev: SnapshotPartition,
  model: readonly Row[],
  mode: SyncMode,
  opts: PlanOptions & {
    reject?: (op: Operation) => boolean;
    /** Operations the destination answers "no such record" (update mode). */
    notFound?: (op: Operation) => boolean;
    keyHash?: (key: string | null) => bigint | undefined;
  } = {},
): Promise<RunOutcome> {
  const rows = await rowsOf(model, opts.keyHash);
  const diff = diffPartition(prev, rows);
  const plan = planPartition(diff, mode, opts);
  const results = new Uint8Array(plan.count);
  const ops: Operation[] = [];
  for (const batch of operationBatches(plan, rows, prev, { maxOperations: 3 })) {
    for (const op of batch) {
      ops.push(op);
      results[op.index] =
        opts.reject?.(op) === true ? RESULT_FAILED : opts.notFound?.(op) === true ? RESULT_NOT_FOUND : RESULT_ACKNOWLEDGED;
    }
  }
  const { snapshot, counts } = commitPartition(prev, rows, diff, plan, results);
  return { ops, snapshot, counts, diff, failedKeys: diff.failed.map((f) => f.key) };
}

export { emptySnapshot };
