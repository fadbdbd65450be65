import { drizzle } from "drizzle-orm/d1";
import * as schema from "./schema";

export type Database = ReturnType<typeof createDb>;

/** A drizzle client over the D1 catalogue, or over one D1 session of it (the API's requests). */
export function createDb(d1: D1Database | D1DatabaseSession) {
  // A session offers what drizzle calls (prepare, batch); drizzle's type names only D1Database.
  return drizzle(d1 as D1Database, { schema });
}
