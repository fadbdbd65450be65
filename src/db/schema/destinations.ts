import { index, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { timestamps } from "./columns";
import { workspaces } from "./workspaces";

export const DESTINATION_TYPES = ["webhook", "postgres", "salesforce", "hubspot"] as const;
export type DestinationType = (typeof DESTINATION_TYPES)[number];

/** Where a sync writes. `config` is plain JSON; `credentials` is AES-GCM ciphertext of a JSON object. */
export const destinations = sqliteTable(
  "destinations",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    name: text("name").notNull(),
    type: text("type", { enum: DESTINATION_TYPES }).notNull(),
    config: text("config", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    credentialsCiphertext: text("credentials_ciphertext"),
    /** Credential field names with masked values, safe to return. */
    credentialsMasked: text("credentials_masked", { mode: "json" }).$type<Record<string, string>>(),
    ...timestamps,
  },
  (t) => [index("destinations_workspace_idx").on(t.workspaceId, t.id)],
);
