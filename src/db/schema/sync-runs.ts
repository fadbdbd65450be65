import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { RUN_PHASES, RUN_STATUSES, RUN_TRIGGERS } from "../../run/status";
import type { RunOptions } from "../../run/record";
import { syncs } from "./syncs";
import { workspaces } from "./workspaces";

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
