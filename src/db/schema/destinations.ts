import { index, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { DestinationType } from "../../destinations/registry";
import { timestamps } from "./columns";
import { workspaces } from "./workspaces";

/** Where a sync writes. `config` is plain JSON; `credentials` is AES-GCM ciphertext of a JSON object. */
export const destinations = sqliteTable(
  "destinations",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    name: text("name").notNull(),
    // One of the registry's types (a plain text column: a new type needs no migration).
    type: text("type").$type<DestinationType>().notNull(),
    config: text("config", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    credentialsCiphertext: text("credentials_ciphertext"),
    /** Credential field names with masked values, safe to return. */
    credentialsMasked: text("credentials_masked", { mode: "json" }).$type<Record<string, string>>(),
    ...timestamps,
  },
  (t) => [index("destinations_workspace_idx").on(t.workspaceId, t.id)],
);
