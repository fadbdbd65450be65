import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { SyncMode } from "../../sync/mode";
import type { Schedule } from "../../sync/schedule";
import { SYNC_STATUSES } from "../../sync/lifecycle";
import { type FieldMapping, NULL_VALUES, SEND_FIELDS } from "../../sync/mapping";
import type { AlertRules } from "../../alerts/rules";
import { timestamps } from "./columns";
import { destinations } from "./destinations";
import { models } from "./models";
import { workspaces } from "./workspaces";

/** The catalogue row of a sync. Its live run state is owned by its SyncObject. */
export const syncs = sqliteTable(
  "syncs",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    name: text("name").notNull(),
    modelId: text("model_id")
      .notNull()
      .references(() => models.id),
    destinationId: text("destination_id")
      .notNull()
      .references(() => destinations.id),
    mode: text("mode").$type<SyncMode>().notNull(),
    schedule: text("schedule", { mode: "json" }).$type<Schedule>().notNull(),
    fieldMappings: text("field_mappings", { mode: "json" }).$type<FieldMapping[]>().notNull(),
    status: text("status", { enum: SYNC_STATUSES }).notNull(),
    statusReason: text("status_reason"),
    nextRunAt: text("next_run_at"),
    lastRunId: text("last_run_id"),
    /** AES-GCM ciphertext of the secret in the sync's trigger webhook URL. */
    triggerSecretCiphertext: text("trigger_secret_ciphertext").notNull(),
    /** Percent of destination rows a mirror run may delete without confirmation. */
    massDeleteThresholdPct: integer("mass_delete_threshold_pct").notNull().default(50),
    /** A run still going after this many minutes is stopped (`run_timeout`) and counts as failed. */
    maxRunMinutes: integer("max_run_minutes").notNull().default(360),
    /** What an update carries: every mapped field, or only the changed ones (the snapshot then keeps field hashes). */
    send: text("send", { enum: SEND_FIELDS }).notNull().default("all_fields"),
    /** Whether null fields are sent or left out. */
    nullValues: text("null_values", { enum: NULL_VALUES }).notNull().default("send"),
    /** The sync's own alert rules; null: the workspace's default channels with the default rules. */
    alerts: text("alerts", { mode: "json" }).$type<AlertRules>(),
    archivedAt: text("archived_at"),
    ...timestamps,
  },
  (t) => [
    index("syncs_workspace_idx").on(t.workspaceId, t.id),
    index("syncs_model_idx").on(t.modelId),
    index("syncs_destination_idx").on(t.destinationId),
  ],
);
