import type { SourceType } from "../sources/registry";
import type { destinations, RunPhase } from "../db/schema";
import { type FieldMapping, mappingColumns, type NullValues, type SendFields } from "../sync/mapping";
import type { SyncMode } from "../sync/mode";
import type { ExtractionMark } from "./extraction";

/** The steps of a run, in order. Each is one file under src/run/steps/. */
export const RUN_STEPS = [
  "extract", // read the model from the warehouse into partitioned R2 chunks (in one go; again after a transient warehouse error)
  "diff", // per partition: compare with the last snapshot, plan the operations, store the plan; then the mass-delete guard
  "deliver", // per partition: enqueue the plan's operations as destination batches
  "await", // wait until every batch is reported (acknowledged, failed, dead-lettered or aborted)
  "commit", // per partition: write the new snapshot from what the destination acknowledged; then switch to it
  "report", // copy failed rows to D1 and set the run's final counts and status
] as const;
export type RunStep = (typeof RUN_STEPS)[number];

/**
 * Where a run goes after a step: another step, or its end (`done`: the report set the status;
 * `failed`: an error a user can act on; `cancelled`: stopped before anything was sent).
 */
export type RunTarget = RunStep | "done" | "failed" | "cancelled";

/**
 * Why a run was stopped from outside: a user's cancel, or its time limit (`max_run_minutes`; the run
 * counts as failed; `destination_daily_limit` when its batches were waiting for the destination's
 * daily API allowance at that moment, so the reason is the vendor's limit, not a slow run). Before deliver the run ends at once (`cancelled`); from deliver on, nothing more
 * is enqueued and it goes on through await, commit and report, so what the destination acknowledged
 * is committed and the next run sends the rest.
 */
const STOP_CODES = ["cancelled", "run_timeout", "destination_daily_limit"] as const;
export type StopCode = (typeof STOP_CODES)[number];

/** Whether an abort is a stop (cancel, time limit) rather than a refusal by the destination. */
export function isStop(abort: { code: string } | null): boolean {
  return abort !== null && (STOP_CODES as readonly string[]).includes(abort.code);
}

/**
 * transitions[from] = the targets a step may lead to. A step that spent its budget mid-way stays
 * where it is (listed as its own target) and continues at the next alarm; so does an extraction that
 * hit a transient warehouse error (it starts over after a backoff). Any step may fail the run
 * (warehouse error, missing model, mass-delete guard). A destination that refuses the credentials
 * does not change the path: it aborts the unsent batches (see RunState.abort), so await, commit and
 * report still run and the report fails the run. A stop (cancel, time limit) ends a run that has sent
 * nothing yet (`cancelled`); later it takes the same path as an abort.
 */
const transitions: Record<RunStep, readonly RunTarget[]> = {
  extract: ["extract", "diff", "failed", "cancelled"],
  // A dry run ends after the diff: the report shows the counted plan; nothing is sent.
  diff: ["diff", "deliver", "report", "failed", "cancelled"],
  deliver: ["deliver", "await", "failed"],
  await: ["await", "commit", "failed"],
  commit: ["commit", "report", "failed"],
  report: ["report", "done", "failed"],
};

/** Whether `to` may follow `from`. */
export function canTransition(from: RunStep, to: RunTarget): boolean {
  return transitions[from].includes(to);
}

/** `to`, after checking that it may follow `from`; throws on an illegal transition (a bug in a step). */
export function transition<T extends RunTarget>(from: RunStep, to: T): T {
  if (!canTransition(from, to)) throw new IllegalTransitionError(from, to);
  return to;
}

export class IllegalTransitionError extends Error {
  constructor(
    readonly from: RunStep,
    readonly to: RunTarget,
  ) {
    super(`a run cannot go from ${from} to ${to}`);
  }
}

/** The API's `phase` of each step ("queued" and "done" are the run's before and after). */
const STEP_PHASES: Record<RunStep, RunPhase> = {
  extract: "extract",
  diff: "diff",
  deliver: "deliver",
  await: "deliver",
  commit: "commit",
  report: "commit",
};

/** The phase the API shows while a run is at `step`; a dry run's report still shows the diff it ends. */
export function phaseOf(step: RunStep, dryRun = false): RunPhase {
  return step === "report" && dryRun ? "diff" : STEP_PHASES[step];
}

/** The sync's settings, frozen at the start of a run so an edit mid-run cannot mix two configurations. */
interface RunConfig {
  workspaceId: string;
  sql: string;
  primaryKey: string;
  mappings: FieldMapping[];
  mode: SyncMode;
  sourceId: string;
  /** Absent in checkpoints written before sources were plug-ins: those are Postgres. */
  sourceType?: SourceType;
  connectionCiphertext: string;
  destinationId: string;
  destinationType: (typeof destinations.$inferSelect)["type"];
  maxBatchSize: number;
  /** The destination needs every valid row each run (the files destination's full exports); absent before it existed. */
  plansEveryRow?: boolean;
  massDeleteThresholdPct: number;
  /** The run's time limit (`max_run_minutes`), from its start. */
  maxRunMinutes?: number;
  /** What an update carries (absent in checkpoints from before the setting: all fields). */
  send?: SendFields;
  /** Whether null fields are sent (absent: sent). */
  nullValues?: NullValues;
  /** Fields every update carries when only changed fields are sent (registry `identityFields`). */
  identityFields?: string[];
}

/** A run's checkpoint: everything needed to continue it after eviction or a crash. */
export interface RunState {
  runId: string;
  step: RunStep;
  config: RunConfig;
  partitions: number;
  /** Chunks written per partition. */
  chunks: number[];
  /** Postgres type OIDs of the mapped columns, to type values for delivery. */
  fieldTypes: number[];
  /** Next partition for diff, deliver and commit. */
  partition: number;
  /** Next operation of `partition` to enqueue. */
  operation: number;
  totals: { rows: number; unchanged: number; create: number; update: number; upsert: number; delete: number; batches: number };
  committed: { created: number; updated: number; deleted: number; entries: number };
  /** Set when the run must stop (destination auth refused, cancel, time limit): unsent batches fail, the rest commits. */
  abort: { code: string; message: string } | null;
  /** Last failure copied to D1 by the report step. */
  reportedSeq: number;
  /** The run whose snapshot this run's commit replaced: its objects are deleted by the report step. */
  retiredSnapshot?: string;
  /** Extractions started over after a transient warehouse error (src/run/retry.ts); absent before the first. */
  warehouseRetries?: number;
  /** Not before this (epoch ms) does the extraction try again: the backoff after a transient error. */
  extractRetryAt?: number;
  /** Retries since the extraction last finished a page: the backoff grows with them, and past the limit the run fails. */
  warehouseRetriesInRow?: number;
  /** How the extraction reads the model, and how far it got; set when it first starts (absent before). */
  extraction?: ExtractionPlan;
  /** A dry run's verdict: the mass-delete guard would have stopped a real run. */
  massDeleteBlocked?: boolean;
}

/**
 * An extraction's route and progress. `keyset`: pages in key order, resumed after the last page
 * whose chunks are stored (`mark`); `whole`: one read of the model, started over when interrupted.
 */
export interface ExtractionPlan {
  route: "keyset" | "whole";
  pageRows: number;
  /** The last finished page's mark (keyset only); null before the first. */
  mark: ExtractionMark | null;
  /** A read was under way when this was saved: found so at the next start, it was interrupted. */
  reading: boolean;
  /** Times the extraction went on after an interruption (a crash, a restart, a transient error). */
  resumes: number;
  /** Rows read past the last finished page when a read failed, read again by the next try. */
  rowsReread: number;
}

/** A keyset extraction's figures for the run's progress: pages finished, resumptions, rows read again. */
export function extractionFigures(s: RunState): Record<string, number> {
  const plan = s.extraction;
  if (plan?.route !== "keyset") return {};
  return { pages_read: plan.mark?.pages ?? 0, extract_resumes: plan.resumes, rows_reread: plan.rowsReread };
}

/**
 * Whether the run plans every valid row, changed or not: a full resync, or a destination that needs
 * every row each run (files' full exports). Extraction then keeps every row's values.
 */
export function plansEveryRow(s: RunState, options: { full_resync?: boolean }): boolean {
  return options.full_resync === true || s.config.plansEveryRow === true;
}

/** Operations the diff planned over all partitions so far. */
export function plannedOperations(s: RunState): number {
  return s.totals.create + s.totals.update + s.totals.upsert + s.totals.delete;
}

/** A run failure the user can act on, with a code for the run's `error`. */
export class RunFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** How many values each stored row of the run holds: the model columns its mappings read. */
export function valuesPerRow(s: RunState): number {
  return mappingColumns(s.config.mappings).length;
}
