import { eq } from "drizzle-orm";
import { createDb } from "../../db/client";
import { type RowErrorCode, runRowErrors } from "../../db/schema";
import type { FailureStep } from "../ledger";
import { writeAll } from "../record";
import { extractionFigures, plannedOperations, type RunState } from "../state";
import { deletePrefix, paths } from "../storage";
import { budgetSpent, type StepContext, type StepOutcome } from "./context";

/** Failed rows copied to D1 per page. */
const PAGE_ROWS = 500;
/** D1 caps bound parameters per statement: insert in slices of 10 rows (6 columns each). */
const INSERT_ROWS = 10;

/** A failed row's code by who found it. */
const ERROR_CODE_OF_STEP: Record<FailureStep, RowErrorCode> = {
  validate: "invalid_row",
  abort: "not_sent",
  deliver: "rejected",
  not_found: "not_found",
};

/** Copies failed rows to D1 page by page, then sets the run's final counts and status. */
export async function run(ctx: StepContext, s: RunState): Promise<StepOutcome> {
  const { run, ledger } = ctx;
  const db = createDb(ctx.env.DB);
  if (s.retiredSnapshot) {
    await deletePrefix(ctx.bucket, paths.snapshots(ctx.syncId, s.retiredSnapshot));
    s.retiredSnapshot = undefined;
  }
  if (s.reportedSeq === 0) await db.delete(runRowErrors).where(eq(runRowErrors.runId, run.id));
  for (;;) {
    const page = ledger.failurePage(run.id, s.reportedSeq, PAGE_ROWS);
    if (page.length === 0) break;
    const now = new Date().toISOString();
    const rowsOf = page.map((f) => ({
      runId: run.id,
      primaryKey: f.key,
      operation: f.operation,
      message: f.message,
      code: ERROR_CODE_OF_STEP[f.step],
      createdAt: now,
    }));
    const inserts = [];
    for (let i = 0; i < rowsOf.length; i += INSERT_ROWS) inserts.push(db.insert(runRowErrors).values(rowsOf.slice(i, i + INSERT_ROWS)));
    await writeAll(db, inserts);
    s.reportedSeq = page.at(-1)?.seq ?? s.reportedSeq;
    // Copied pages are not copied again after a crash.
    ctx.checkpoint(s);
    if (budgetSpent(ctx)) return { state: s, next: "report" };
  }
  const dryRun = run.options.dry_run === true;
  const failures = ledger.failureCount(run.id);
  const planned = plannedOperations(s);
  // The progress figures a step wrote to the run record are lost if the object dies before the
  // record is persisted (the step's checkpoint survives): rebuild the final ones from the checkpoint.
  run.progress = {
    ...run.progress,
    rows_read: s.totals.rows,
    partitions: s.partitions,
    partitions_diffed: s.partitions,
    operations_planned: planned,
    batches_sent: s.totals.batches,
    batches_resent: ledger.resentCount(run.id),
    warehouse_retries: s.warehouseRetries ?? 0,
    ...extractionFigures(s),
    partitions_committed: dryRun ? 0 : s.partitions,
    ...(dryRun
      ? {
          planned_creates: s.totals.create,
          planned_updates: s.totals.update,
          planned_upserts: s.totals.upsert,
          planned_deletes: s.totals.delete,
          mass_delete_blocked: s.massDeleteBlocked ? 1 : 0,
        }
      : {}),
  };
  run.rows_processed = s.totals.rows;
  run.rows_created = s.committed.created;
  run.rows_updated = s.committed.updated;
  run.rows_deleted = s.committed.deleted;
  run.rows_unchanged = s.totals.unchanged;
  run.rows_failed = failures;
  const accepted = s.committed.created + s.committed.updated + s.committed.deleted;
  const exhausted = ledger.exhaustedCount(run.id);
  if (s.abort) {
    // A cancel ends `cancelled`; a time limit or refused credentials fail the run.
    run.status = s.abort.code === "cancelled" ? "cancelled" : "failed";
    run.error = s.abort;
  } else if (planned > 0 && accepted === 0 && exhausted > 0) {
    // Nothing got through and batches ran out of retries: the destination is down, not a few bad
    // records. The run fails (three in a row put the sync in error); its rows are retried next run.
    run.status = "failed";
    const first = ledger.firstDeliveryError(run.id);
    run.error = {
      code: "delivery_failed",
      message: `the destination accepted none of the ${planned} operations; ${exhausted} batch${exhausted === 1 ? "" : "es"} ran out of retries${first ? ` (${first})` : ""}`,
    };
  } else {
    run.status = failures > 0 ? "partial" : "succeeded";
    run.error = null;
  }
  return { state: s, next: "done" };
}
