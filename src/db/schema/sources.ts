import { index, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { SourceType } from "../../sources/registry";
import { timestamps } from "./columns";
import { workspaces } from "./workspaces";

/**
 * A warehouse connection. Its settings are AES-GCM ciphertext (see SourcePlugin.seal), with a
 * masked copy to show; the non-secret `config` part is also kept in the clear, as the API returns it.
 */
export const sources = sqliteTable(
  "sources",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    name: text("name").notNull(),
    // The types come from the source registry; the SQL column is text, so a new type needs no migration.
    type: text("type").$type<SourceType>().notNull(),
    connectionCiphertext: text("connection_ciphertext").notNull(),
    /** The connection string with its password masked, safe to return. */
    connectionMasked: text("connection_masked").notNull(),
    /** The plug-in's config fields as JSON (`{}` for types whose settings are all secret, e.g. postgres). */
    config: text("config").notNull().default("{}"),
    ...timestamps,
  },
  (t) => [index("sources_workspace_idx").on(t.workspaceId, t.id)],
);
