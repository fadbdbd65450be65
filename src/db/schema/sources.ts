import { index, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { timestamps } from "./columns";
import { workspaces } from "./workspaces";

export const SOURCE_TYPES = ["postgres"] as const;

/** A warehouse connection. The connection string is AES-GCM ciphertext. */
export const sources = sqliteTable(
  "sources",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    name: text("name").notNull(),
    type: text("type", { enum: SOURCE_TYPES }).notNull(),
    connectionCiphertext: text("connection_ciphertext").notNull(),
    /** The connection string with its password masked, safe to return. */
    connectionMasked: text("connection_masked").notNull(),
    ...timestamps,
  },
  (t) => [index("sources_workspace_idx").on(t.workspaceId, t.id)],
);
