import type { RunState } from "../state";
import type { StepContext, StepOutcome } from "./context";

/** While batches are out, the alarm checks back this often (a safety net; reports wake the run). */
const AWAIT_POLL_MS = 60_000;

/** Waits until every batch the deliver step sent is settled (the last report wakes the run). */
export function run(ctx: StepContext, s: RunState): StepOutcome {
  const open = ctx.ledger.openBatches(ctx.run.id);
  ctx.run.progress = { ...ctx.run.progress, batches_sent: s.totals.batches, batches_acknowledged: s.totals.batches - open };
  if (open > 0) return { state: s, next: "await", waitMs: AWAIT_POLL_MS };
  s.partition = 0;
  return { state: s, next: "commit" };
}
