import { createDb } from "../../db/client";
import { openDestination } from "../../destinations/open";
import { destinationOf } from "../../destinations/registry";
import { resendOverdue } from "../resend";
import { isStop, RunFailure, type RunState } from "../state";
import type { StepContext, StepOutcome } from "./context";

/** While batches are out, the alarm checks back this often (reports wake the run sooner). */
const AWAIT_POLL_MS = 60_000;

/**
 * Waits until every batch the deliver step sent is settled (the last report wakes the run). Batches
 * whose reports are overdue are enqueued again; a stopped run settles the batches no attempt is
 * under way for and waits only for those being sent. Then the destination finishes the run (its
 * `finishRun` hook), before anything is committed.
 */
export async function run(ctx: StepContext, s: RunState): Promise<StepOutcome> {
  const { ledger, run } = ctx;
  if (s.abort) ledger.abortIdle(run.id);
  await resendOverdue(ctx, s);
  const open = ledger.openBatches(run.id);
  ctx.run.progress = {
    ...ctx.run.progress,
    batches_sent: s.totals.batches,
    batches_acknowledged: s.totals.batches - open,
    batches_resent: ledger.resentCount(run.id),
  };
  if (open > 0) return { state: s, next: "await", waitMs: AWAIT_POLL_MS };
  await finishRun(ctx, s);
  s.partition = 0;
  return { state: s, next: "commit" };
}

/**
 * The destination's end-of-run hook (files: assemble the files and the manifest). It is idempotent,
 * so a crash before the checkpoint only runs it again. A run the destination refused (credentials)
 * is not finished: it fails anyway. A failure fails the run before commit, so the next run sends
 * its rows again.
 */
async function finishRun(ctx: StepContext, s: RunState): Promise<void> {
  if (!destinationOf(s.config.destinationType).connector.finishRun) return;
  if (s.abort && !isStop(s.abort)) return;
  const { run } = ctx;
  const opened = await openDestination(createDb(ctx.env.DB), ctx.env, s.config.workspaceId, s.config.destinationId);
  if (!opened.ok) throw new RunFailure("destination_finish_failed", `the destination could not finish the run: ${opened.error}`);
  const finished = await opened.destination.finishRun({
    sync_id: ctx.syncId,
    run_id: run.id,
    started_at: run.started_at ?? run.created_at,
    fields: s.config.mappings.map((m) => m.destination),
  });
  if (!finished.ok) throw new RunFailure("destination_finish_failed", `the destination could not finish the run: ${finished.error}`);
}
