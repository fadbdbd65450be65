import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { syncs } from "./syncs";
import { workspaces } from "./workspaces";

// The run vocabulary the table stores lives here (not in src/run) so the catalogue depends on no
// engine module; src/run derives its phases from its steps against these values.

/** Run states. A run ends in exactly one of the final four. */
export const RUN_STATUSES = [
  "queued", // waiting for the run in flight to finish
  "running", // extracting, diffing, delivering or committing
  "succeeded", // every operation acknowledged
  "partial", // finished; some rows failed and will be retried next run
  "failed", // stopped by an error; nothing committed beyond what was acknowledged
  "cancelled", // dropped before it started (sync archived or deleted)
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const RUN_TRIGGERS = ["schedule", "manual", "webhook"] as const;
export type RunTrigger = (typeof RUN_TRIGGERS)[number];

/** The run's `phase` as the API shows it; src/run/state.ts maps each run step to one of these. */
export const RUN_PHASES = [
  "queued", // not started
  "extract", // reading the model into R2
  "diff", // comparing with the last snapshot and planning operations
  "deliver", // batches enqueued or awaiting their reports
  "commit", // writing the new snapshot and the run's results
  "done", // final
] as const;
export type RunPhase = (typeof RUN_PHASES)[number];

/** Options a trigger may set for one run. */
export interface RunOptions {
  /** Ignore the previous snapshot: every row is sent again. */
  full_resync?: boolean;
  /** Confirm a mirror run that would delete more than the sync's threshold. */
  allow_mass_delete?: boolean;
  /** Extract and diff only: the plan is counted, nothing is sent and the last snapshot stays. */
  dry_run?: boolean;
}

/** One execution of a sync. Written by the sync's SyncObject at each transition. */
export const syncRuns = sqliteTable(
  "sync_runs",
  {
    id: text("id").primaryKey(),
    syncId: text("sync_id")
      .notNull()
      .references(() => syncs.id, { onDelete: "cascade" }),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    status: text("status", { enum: RUN_STATUSES }).notNull(),
    trigger: text("trigger", { enum: RUN_TRIGGERS }).notNull(),
    phase: text("phase", { enum: RUN_PHASES }).notNull(),
    /** Progress of the current phase: rows read, partitions diffed, batches acknowledged. */
    progress: text("progress", { mode: "json" }).$type<Record<string, number>>(),
    /** Options given at trigger time (full_resync, allow_mass_delete). */
    options: text("options", { mode: "json" }).$type<RunOptions>(),
    startedAt: text("started_at"),
    finishedAt: text("finished_at"),
    durationMs: integer("duration_ms"),
    rowsProcessed: integer("rows_processed").notNull().default(0),
    rowsCreated: integer("rows_created").notNull().default(0),
    rowsUpdated: integer("rows_updated").notNull().default(0),
    rowsDeleted: integer("rows_deleted").notNull().default(0),
    rowsUnchanged: integer("rows_unchanged").notNull().default(0),
    rowsFailed: integer("rows_failed").notNull().default(0),
    errorCode: text("error_code"),
    errorMessage: text("error_message"),
    createdAt: text("created_at").notNull(),
  },
  (t) => [index("sync_runs_sync_idx").on(t.syncId, t.id)],
);
