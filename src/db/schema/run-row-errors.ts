import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { syncRuns } from "./sync-runs";

/** Per-row failures of a run, paged by (run_id, seq). */
export const runRowErrors = sqliteTable(
  "run_row_errors",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    runId: text("run_id")
      .notNull()
      .references(() => syncRuns.id, { onDelete: "cascade" }),
    primaryKey: text("primary_key"),
    operation: text("operation").notNull(),
    message: text("message").notNull(),
    createdAt: text("created_at").notNull(),
  },
  (t) => [index("run_row_errors_run_idx").on(t.runId, t.seq)],
);
