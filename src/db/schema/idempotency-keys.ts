import { integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** Responses of POSTs sent with an Idempotency-Key, replayed for 24 hours. */
export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    workspaceId: text("workspace_id").notNull(),
    key: text("key").notNull(),
    /** "POST /api/v1/..." so one key cannot replay another endpoint's response. */
    endpoint: text("endpoint").notNull(),
    requestHash: text("request_hash").notNull(),
    status: integer("status").notNull(),
    body: text("body").notNull(),
    createdAt: text("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.workspaceId, t.key] })],
);
