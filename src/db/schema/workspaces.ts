import { sqliteTable, text } from "drizzle-orm/sqlite-core";
import { timestamps } from "./columns";

/** A tenant. Every other object belongs to exactly one workspace. */
export const workspaces = sqliteTable("workspaces", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  ...timestamps,
});
