import { and, eq } from "drizzle-orm";
import type { Database } from "../../db/client";
import { sources, type ModelColumn } from "../../db/schema";
import { ApiError, validationError } from "../../api/errors";
import { decryptSecret } from "../../lib/secrets";
import { WarehouseError } from "../../sources/errors";
import { openSource } from "../../sources/registry";
import { type Source, warehouseOptions } from "../../sources/source";

/** A source of the workspace, opened with its decrypted settings; an unknown source is a bad `source_id`. */
export async function openModelSource(db: Database, env: Env, workspaceId: string, sourceId: string): Promise<Source> {
  const row = await db.query.sources.findFirst({
    where: and(eq(sources.id, sourceId), eq(sources.workspaceId, workspaceId)),
  });
  if (!row) throw validationError([{ path: "source_id", message: `source ${sourceId} not found` }]);
  const secret = await decryptSecret(env.ENCRYPTION_KEY, row.connectionCiphertext, row.id);
  return openSource(row.type, secret, warehouseOptions(env));
}

/**
 * A warehouse failure as an API error. Problems with the query itself name `sql` when the query
 * came in this request; everything else (unreachable, rejected login, timeout) is the source's.
 */
export function warehouseApiError(err: WarehouseError, sourceId: string, sqlInRequest: boolean): ApiError {
  if (err.kind === "user" && sqlInRequest) {
    return validationError([{ path: "sql", message: err.message }]);
  }
  return new ApiError("source_error", `source ${sourceId}: ${err.message}`, { source_id: sourceId, warehouse_error: err.code });
}

/**
 * Runs the SQL with no rows (read-only, on the warehouse) to learn its columns, and checks that
 * they include the primary key. Column names are unique: describe refuses a repeated one.
 */
export async function learnColumns(source: Source, sourceId: string, sql: string, primaryKey: string): Promise<ModelColumn[]> {
  let columns: ModelColumn[];
  try {
    columns = await source.describe(sql);
  } catch (err) {
    if (err instanceof WarehouseError) throw warehouseApiError(err, sourceId, true);
    throw err;
  }
  const names = columns.map((col) => col.name);
  if (!names.includes(primaryKey)) {
    throw validationError([
      { path: "primary_key", message: `"${primaryKey}" is not a column of the query (columns: ${names.join(", ")})` },
    ]);
  }
  return columns;
}
