import type { Operation as DestinationOperation } from "../../destinations/destination";
import { MAX_BATCH_BYTES } from "../../delivery/producer";
import { diffPartition, type PartitionDiff } from "../../engine/diff";
import { checkMassDelete, operationBatches, type PartitionPlan, planPartition } from "../../engine/plan";
import type { RunRows, SnapshotPartition } from "../../engine/snapshot";
import { plannedEntries } from "../../run-log/entry";
import { writeBatchLog, writeRunManifest } from "../../run-log/store";
import type { FailedRowRecord } from "../ledger";
import { changedFieldsOf, keepFields } from "../changed-fields";
import { savePlannedPartition } from "../plan-file";
import { plannedOperations, plansEveryRow, RunFailure, type RunState, valuesPerRow } from "../state";
import { loadRunRows, loadSnapshot } from "../storage";
import { budgetSpent, type StepContext, type StepOutcome } from "./context";
import { fieldsOf } from "./deliver";

/**
 * Partitions diffed and planned in this isolate. Only this step diffs: deliver and commit read the
 * stored plan, so a run plans each partition once (a test holds it to that).
 */
export const diffCounters = { partitionsPlanned: 0 };

/**
 * Diffs every partition against the committed snapshot and stores its plan for deliver and commit;
 * counts the change plan, then applies the mass-delete guard before anything is sent.
 */
export async function run(ctx: StepContext, s: RunState): Promise<StepOutcome> {
  const { run, bucket, syncId, ledger } = ctx;
  const dryRun = run.options.dry_run === true;
  // The run debugger finds a key's operations by partition: its log needs the run's partition count.
  if (s.partition === 0) await writeRunManifest(bucket, syncId, run.id, { partitions: s.partitions, dry_run: dryRun });
  while (s.partition < s.partitions && !budgetSpent(ctx)) {
    const p = s.partition;
    const [prev, rows] = await Promise.all([
      loadSnapshot(bucket, syncId, ctx.pointer, p, s.partitions),
      loadRunRows(bucket, syncId, run.id, p, s.chunks[p] ?? 0, valuesPerRow(s)),
    ]);
    const diff = diffPartition(prev, rows);
    const plan = planPartition(diff, s.config.mode, { fullResync: plansEveryRow(s, run.options) });
    diffCounters.partitionsPlanned += 1;
    // A dry run never delivers or commits: its plan is counted and listed in the run log.
    if (dryRun) await logPlannedPartition(ctx, s, p, { diff, plan, rows, prev });
    else await savePlannedPartition(bucket, syncId, run.id, p, { diff, plan });
    ledger.clearStepFailures(run.id, p, "validate");
    ledger.addFailures(
      run.id,
      diff.failed.map((f): FailedRowRecord => ({ partition: p, key: f.key, operation: "validate", message: f.message })),
      "validate",
    );
    s.totals.unchanged += diff.counts.unchanged;
    for (const kind of ["create", "update", "upsert", "delete"] as const) s.totals[kind] += plan.counts[kind];
    s.partition = p + 1;
    run.progress = { ...run.progress, partitions_diffed: s.partition };
    ctx.checkpoint(s);
  }
  if (s.partition < s.partitions) return { state: s, next: "diff" };

  const verdict = checkMassDelete({
    deletes: s.totals.delete,
    previousRows: ctx.pointer?.rows ?? 0,
    currentRows: s.totals.rows,
    thresholdPercent: s.config.massDeleteThresholdPct,
    allowMassDelete: run.options.allow_mass_delete === true,
  });
  if (dryRun) {
    // A preview ends here: the plan is counted (the report shows it), nothing is sent, the last snapshot stays.
    s.massDeleteBlocked = verdict.stop;
    s.reportedSeq = 0;
    return { state: s, next: "report" };
  }
  if (verdict.stop) {
    throw new RunFailure(
      "mass_delete_blocked",
      `${verdict.reason ?? "too many deletes"}. Nothing was sent. If this is intended, trigger the run with {"allow_mass_delete": true}.`,
    );
  }
  s.partition = 0;
  s.operation = 0;
  run.progress = { ...run.progress, operations_planned: plannedOperations(s) };
  return { state: s, next: "deliver" };
}

/**
 * A dry run's operations of partition p in the run log, status `planned`, in the batches (and
 * under the batch ids) the deliver step would send them, so the preview reads like the real run.
 */
async function logPlannedPartition(
  ctx: StepContext,
  s: RunState,
  p: number,
  part: { diff: PartitionDiff; plan: PartitionPlan; rows: RunRows; prev: SnapshotPartition },
): Promise<void> {
  const { plan, rows, prev } = part;
  const fields = fieldsOf(s);
  const changed = await changedFieldsOf(s, ctx.run.options.full_resync === true, part);
  const at = new Date().toISOString();
  const writes: Promise<void>[] = [];
  for (const batch of operationBatches(plan, rows, prev, { maxOperations: s.config.maxBatchSize, maxBytes: MAX_BATCH_BYTES })) {
    const first = batch[0];
    if (!first) continue;
    const batchId = `${ctx.run.id}.${p}.${first.index}`;
    const operations = batch.map(
      (op): DestinationOperation => ({ op: op.kind, key: op.key, fields: keepFields(fields(op.values), changed(op)) }),
    );
    writes.push(writeBatchLog(ctx.bucket, ctx.syncId, ctx.run.id, batchId, plannedEntries(operations, batchId, at)));
    // A few puts in flight at a time: memory stays bounded by a handful of batches.
    if (writes.length >= 8) await Promise.all(writes.splice(0));
  }
  await Promise.all(writes);
}
