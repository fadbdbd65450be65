import { text } from "drizzle-orm/sqlite-core";

/** ISO-8601 timestamps shared by every table; text keeps them sortable and readable in D1. */
export const timestamps = {
  createdAt: text("created_at").notNull(),
  updatedAt: text("updated_at").notNull(),
};
