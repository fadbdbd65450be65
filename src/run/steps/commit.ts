import { commitPartition, RESULT_ACKNOWLEDGED, RESULT_FAILED, RESULT_NOT_FOUND } from "../../engine/commit";
import { operationAt } from "../../engine/plan";
import { encodeSnapshot } from "../../engine/snapshot";
import type { FailedRowRecord } from "../ledger";
import { rowFieldHashes } from "../changed-fields";
import { loadPlannedPartition } from "../plan-file";
import { isStop, type RunState, valuesPerRow } from "../state";
import { loadRunRows, loadSnapshot, paths } from "../storage";
import { budgetSpent, type StepContext, type StepOutcome } from "./context";

/**
 * Writes the new snapshot, partition by partition, from the stored plans: acknowledged state per
 * key, failed rows keep their previous state. The driver then switches to it in one storage write.
 */
export async function run(ctx: StepContext, s: RunState): Promise<StepOutcome> {
  const { run, bucket, syncId, ledger } = ctx;
  while (s.partition < s.partitions && !budgetSpent(ctx)) {
    const p = s.partition;
    const [{ diff, plan }, prev, rows] = await Promise.all([
      loadPlannedPartition(bucket, syncId, run.id, p),
      loadSnapshot(bucket, syncId, ctx.pointer, p, s.partitions),
      loadRunRows(bucket, syncId, run.id, p, s.chunks[p] ?? 0, valuesPerRow(s)),
    ]);
    const failed = ledger.failedKeys(run.id, p);
    const results = new Uint8Array(plan.count);
    for (let k = 0; k < plan.count; k++) {
      const step = failed.get(operationAt(plan, k, rows, prev).key);
      results[k] = step === undefined ? RESULT_ACKNOWLEDGED : step === "not_found" ? RESULT_NOT_FOUND : RESULT_FAILED;
    }
    // Operations of batches never sent (the run was aborted) fail too, each listed with its key.
    const aborted: FailedRowRecord[] = [];
    const stopped = isStop(s.abort);
    for (const { firstOp, lastOp } of ledger.abortedRanges(run.id, p)) {
      for (let k = firstOp; k <= lastOp && k < plan.count; k++) {
        results[k] = RESULT_FAILED;
        // A stopped run's unsent rows are not failures: the next run sends them.
        if (stopped) continue;
        const op = operationAt(plan, k, rows, prev);
        aborted.push({ partition: p, key: op.key, operation: op.kind, message: `not sent: ${s.abort?.message ?? "the run was stopped"}` });
      }
    }
    ledger.clearStepFailures(run.id, p, "abort");
    ledger.addFailures(run.id, aborted, "abort");
    const { snapshot, counts } = commitPartition(prev, rows, diff, plan, results, await rowFieldHashes(s, rows));
    await bucket.put(paths.snapshot(syncId, run.id, p), encodeSnapshot(snapshot));
    s.committed.created += counts.created;
    s.committed.updated += counts.updated;
    s.committed.deleted += counts.deleted;
    s.committed.entries += snapshot.count;
    s.partition = p + 1;
    run.progress = { ...run.progress, partitions_committed: s.partition };
    ctx.checkpoint(s);
  }
  if (s.partition < s.partitions) return { state: s, next: "commit" };
  s.reportedSeq = 0;
  // The switch to the new snapshot: a crash before the driver writes it keeps the old one whole.
  return { state: s, next: "report", pointer: { runId: run.id, partitions: s.partitions, rows: s.committed.entries } };
}
