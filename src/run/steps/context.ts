import type { RunLedger } from "../ledger";
import type { RunRecord } from "../record";
import type { RunState, RunTarget } from "../state";
import type { SnapshotPointer } from "../storage";

/** Work one alarm does before checkpointing and yielding (wall time). */
const STEP_BUDGET_MS = 10_000;

/** What a step works with; the driver builds it for each pass. A step never writes the checkpoint itself. */
export interface StepContext {
  env: Env;
  syncId: string;
  /** The run as the API shows it: steps set its progress, counts and (report) final status. */
  run: RunRecord;
  ledger: RunLedger;
  bucket: R2Bucket;
  /** The committed snapshot this run compares against (null before the first commit). */
  pointer: SnapshotPointer | null;
  /** When the step started (epoch ms), for its budget. */
  started: number;
  /** When this instance of the SyncObject started (epoch ms): batch messages sent before may be lost with the process. */
  bootAt: number;
  /** Whether the run was stopped (cancel, time limit, credentials refused) since the step began. */
  stopRequested(): boolean;
  /**
   * Saves `state` as the checkpoint now, mid-step (the driver does the write): for work that must
   * not be repeated after a crash, such as messages already handed to the queue.
   */
  checkpoint(state: RunState): void;
  /** Mirrors the run record to D1 mid-step, so the API shows progress while a long step runs. */
  publish(): Promise<void>;
}

/** What a step hands back to the driver. */
export interface StepOutcome {
  /** The state to checkpoint. */
  state: RunState;
  /** Where the run goes: the same step to continue later, the next one, or `done` (report only). A step fails the run by throwing; a stop is the driver's. */
  next: Exclude<RunTarget, "failed" | "cancelled">;
  /** Nothing to do until batch reports arrive, or a backoff passes; check back after this long. */
  waitMs?: number;
  /** The commit's new snapshot: the driver switches to it in the same storage write as the checkpoint. */
  pointer?: SnapshotPointer;
}

/** Whether the step's budget is spent. */
export function budgetSpent(ctx: StepContext): boolean {
  return Date.now() - ctx.started >= STEP_BUDGET_MS;
}
