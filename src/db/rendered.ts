import { fillPlaceholders, type Query } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import type { Database } from "./client";

/**
 * Statements drizzle renders once per isolate and each request binds on its own D1 session.
 * Rendering is not free: the syncs list's join took drizzle ~0.2-0.4 ms each time (as much as
 * the rest of the request's own work), yet its SQL depends only on which filters are present,
 * so it is rendered once per shape, with the values as `sql.placeholder`s.
 */
export class RenderedStatements<Shape extends string> {
  private readonly rendered = new Map<Shape, Query>();

  constructor(private readonly render: (db: Database, shape: Shape) => { toSQL(): Query }) {}

  /** The rows of the statement of `shape` with `values` for its placeholders, as arrays of driver values. */
  async rows(db: Database, shape: Shape, values: Record<string, unknown>): Promise<unknown[][]> {
    let query = this.rendered.get(shape);
    if (!query) {
      query = this.render(db, shape).toSQL();
      this.rendered.set(shape, query);
    }
    // One round trip, on the request's own session (its bookmark stays the request's).
    return db.$client
      .prepare(query.sql)
      .bind(...fillPlaceholders(query.params, values))
      .raw();
  }
}

/** Selected columns in the order drizzle renders them (a select object's key order). */
export type Columns = readonly (readonly [string, SQLiteColumn])[];

/**
 * The object of `columns` read from `row` at `offset`, each value decoded by its own drizzle
 * column (JSON text parsed, integers and booleans as declared).
 */
export function decodeColumns<T>(columns: Columns, row: readonly unknown[], offset = 0): T {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < columns.length; i++) {
    const [key, column] = columns[i] as readonly [string, SQLiteColumn];
    const value = row[offset + i];
    out[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
  }
  return out as T;
}
