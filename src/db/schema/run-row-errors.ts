import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { syncRuns } from "./sync-runs";

/**
 * Why a row failed: it can never be sent as it is (`invalid_row`: a duplicate or unusable key), it
 * was not sent because the run stopped (`not_sent`), the destination rejected it (`rejected`), or
 * an update-only sync found no record to update (`not_found`).
 */
export const ROW_ERROR_CODES = ["invalid_row", "not_sent", "rejected", "not_found"] as const;
export type RowErrorCode = (typeof ROW_ERROR_CODES)[number];

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
    /** Why the row failed (ROW_ERROR_CODES); null on rows recorded before codes existed. */
    code: text("code").$type<RowErrorCode>(),
    createdAt: text("created_at").notNull(),
  },
  (t) => [index("run_row_errors_run_idx").on(t.runId, t.seq)],
);
