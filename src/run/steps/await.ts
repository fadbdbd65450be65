import { resendOverdue } from "../resend";
import type { RunState } from "../state";
import type { StepContext, StepOutcome } from "./context";

/** While batches are out, the alarm checks back this often (reports wake the run sooner). */
const AWAIT_POLL_MS = 60_000;

/**
 * Waits until every batch the deliver step sent is settled (the last report wakes the run). Batches
 * whose reports are overdue are enqueued again; a stopped run settles the batches no attempt is
 * under way for and waits only for those being sent.
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
  s.partition = 0;
  return { state: s, next: "commit" };
}
