import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { AlertChannelType } from "../../alerts/channels";
import { timestamps } from "./columns";
import { workspaces } from "./workspaces";

/**
 * Where alerts go. `config` is what the API shows (secret fields masked); the secret fields (a
 * Slack webhook URL, a PagerDuty routing key, a webhook's signing secret) are AES-GCM ciphertext of
 * a JSON object in `secrets_ciphertext`.
 */
export const alertChannels = sqliteTable(
  "alert_channels",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    name: text("name").notNull(),
    type: text("type").$type<AlertChannelType>().notNull(),
    config: text("config", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    secretsCiphertext: text("secrets_ciphertext"),
    /** Used by every sync without its own `alerts.channel_ids`. */
    isDefault: integer("is_default", { mode: "boolean" }).notNull().default(false),
    lastSentAt: text("last_sent_at"),
    lastError: text("last_error"),
    lastErrorAt: text("last_error_at"),
    ...timestamps,
  },
  (t) => [index("alert_channels_workspace_idx").on(t.workspaceId, t.id)],
);

/**
 * The alert states a sync is in (one row per open state: `run_failed`, `late`, …). An alert fires
 * only when its row is inserted and `recovered` only when the last one is deleted, so a sync failing
 * every 5 minutes alerts once. Written by the sync's object and by the cron scan alike: the row
 * insert is the one atomic decision, wherever it is made.
 */
export const syncAlertStates = sqliteTable(
  "sync_alert_states",
  {
    syncId: text("sync_id").notNull(),
    workspaceId: text("workspace_id").notNull(),
    event: text("event").notNull(),
    openedAt: text("opened_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.syncId, t.event] })],
);
