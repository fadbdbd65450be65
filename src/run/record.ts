import type { Database } from "../db/client";
import { newId } from "../lib/ids";
import { syncRuns, type RunOptions, type RunPhase, type RunStatus, type RunTrigger } from "../db/schema";

/** Counters a run accumulates. */
export interface RunCounts {
  rows_processed: number;
  rows_created: number;
  rows_updated: number;
  rows_deleted: number;
  rows_unchanged: number;
  rows_failed: number;
}

const ZERO_COUNTS: RunCounts = {
  rows_processed: 0,
  rows_created: 0,
  rows_updated: 0,
  rows_deleted: 0,
  rows_unchanged: 0,
  rows_failed: 0,
};

/** A run as the API shows it; the SyncObject keeps this and mirrors it into D1. */
export interface RunRecord extends RunCounts {
  id: string;
  sync_id: string;
  workspace_id: string;
  status: RunStatus;
  trigger: RunTrigger;
  phase: RunPhase;
  progress: Record<string, number>;
  options: RunOptions;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  error: { code: string; message: string } | null;
  created_at: string;
}

/** A new run of a sync, queued. Only the options set to true are kept. */
export function newRun(syncId: string, workspaceId: string, trigger: RunTrigger, options: RunOptions): RunRecord {
  return {
    id: newId("run"),
    sync_id: syncId,
    workspace_id: workspaceId,
    status: "queued",
    trigger,
    phase: "queued",
    progress: {},
    options: onlyTrue(options),
    started_at: null,
    finished_at: null,
    duration_ms: null,
    ...ZERO_COUNTS,
    error: null,
    created_at: new Date().toISOString(),
  };
}

/** The options set to true (a false option is the same as none). */
export function onlyTrue(options: RunOptions): RunOptions {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v === true));
}

/** The run's counters alone (for logs). */
export function runCounts(run: RunRecord): RunCounts {
  const { rows_processed, rows_created, rows_updated, rows_deleted, rows_unchanged, rows_failed } = run;
  return { rows_processed, rows_created, rows_updated, rows_deleted, rows_unchanged, rows_failed };
}

type RunRow = typeof syncRuns.$inferSelect;

export function runFromRow(row: RunRow): RunRecord {
  return {
    id: row.id,
    sync_id: row.syncId,
    workspace_id: row.workspaceId,
    status: row.status,
    trigger: row.trigger,
    phase: row.phase,
    progress: row.progress ?? {},
    options: row.options ?? {},
    started_at: row.startedAt,
    finished_at: row.finishedAt,
    duration_ms: row.durationMs,
    rows_processed: row.rowsProcessed,
    rows_created: row.rowsCreated,
    rows_updated: row.rowsUpdated,
    rows_deleted: row.rowsDeleted,
    rows_unchanged: row.rowsUnchanged,
    rows_failed: row.rowsFailed,
    error: row.errorCode ? { code: row.errorCode, message: row.errorMessage ?? "" } : null,
    created_at: row.createdAt,
  };
}

function rowFromRun(run: RunRecord): RunRow {
  return {
    id: run.id,
    syncId: run.sync_id,
    workspaceId: run.workspace_id,
    status: run.status,
    trigger: run.trigger,
    phase: run.phase,
    progress: run.progress,
    options: run.options,
    startedAt: run.started_at,
    finishedAt: run.finished_at,
    durationMs: run.duration_ms,
    rowsProcessed: run.rows_processed,
    rowsCreated: run.rows_created,
    rowsUpdated: run.rows_updated,
    rowsDeleted: run.rows_deleted,
    rowsUnchanged: run.rows_unchanged,
    rowsFailed: run.rows_failed,
    errorCode: run.error?.code ?? null,
    errorMessage: run.error?.message ?? null,
    createdAt: run.created_at,
  };
}

/** One D1 statement: awaited alone, or one of a `db.batch` (the writes of one transition go in one round trip). */
export type D1Write = Parameters<Database["batch"]>[0][number] & PromiseLike<unknown>;

/** The statement writing the run's current state to the D1 catalogue (insert or full update). */
export function runWrite(db: Database, run: RunRecord): D1Write {
  const row = rowFromRun(run);
  const { id: _id, ...rest } = row;
  return db.insert(syncRuns).values(row).onConflictDoUpdate({ target: syncRuns.id, set: rest });
}

/** Writes the run's current state to the D1 catalogue (insert or full update). */
export async function saveRun(db: Database, run: RunRecord): Promise<void> {
  await runWrite(db, run);
}

/** Runs `writes` in one D1 round trip: one batch, applied together (a single statement runs alone). */
export async function writeAll(db: Database, writes: readonly D1Write[]): Promise<void> {
  const [head, ...tail] = writes;
  if (!head) return;
  if (tail.length === 0) await head;
  else await db.batch([head, ...tail]);
}
