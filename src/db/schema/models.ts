import { index, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { timestamps } from "./columns";
import { sources } from "./sources";
import { workspaces } from "./workspaces";

export interface ModelColumn {
  name: string;
  /** Postgres type name, e.g. "text", "int8", "timestamptz". */
  type: string;
}

/** A SQL query on a source with a primary key column; its columns are learned at save time. */
export const models = sqliteTable(
  "models",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    sourceId: text("source_id")
      .notNull()
      .references(() => sources.id),
    name: text("name").notNull(),
    sql: text("sql").notNull(),
    primaryKey: text("primary_key").notNull(),
    columns: text("columns", { mode: "json" }).$type<ModelColumn[]>().notNull(),
    ...timestamps,
  },
  (t) => [index("models_workspace_idx").on(t.workspaceId, t.id), index("models_source_idx").on(t.sourceId)],
);
