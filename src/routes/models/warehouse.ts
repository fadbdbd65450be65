import { and, eq } from "drizzle-orm";
import type { Database } from "../../db/client";
import { sources, type ModelColumn } from "../../db/schema";
import { ApiError, validationError } from "../../api/errors";
import { decryptSecret } from "../../lib/secrets";
import { describeQuery, WarehouseError, warehouseOptions } from "../../source/postgres";

/** The decrypted connection string of a source of the workspace; an unknown source is a bad `source_id`. */
export async function sourceConnection(db: Database, env: Env, workspaceId: string, sourceId: string): Promise<string> {
  const row = await db.query.sources.findFirst({
    where: and(eq(sources.id, sourceId), eq(sources.workspaceId, workspaceId)),
  });
  if (!row) throw validationError([{ path: "source_id", message: `source ${sourceId} not found` }]);
  return decryptSecret(env.ENCRYPTION_KEY, row.connectionCiphertext, row.id);
}

/**
 * A warehouse failure as an API error. Problems with the query itself name `sql` when the query
 * came in this request; everything else (unreachable, rejected login, timeout) is the source's.
 */
export function warehouseApiError(err: WarehouseError, sourceId: string, sqlInRequest: boolean): ApiError {
  const queryProblem = err.code === "query_failed" || err.code === "read_only" || err.code === "permission_denied";
  if (queryProblem && sqlInRequest) {
    return validationError([{ path: "sql", message: err.message }]);
  }
  return new ApiError("source_error", `source ${sourceId}: ${err.message}`, { source_id: sourceId, warehouse_error: err.code });
}

/**
 * Runs the SQL with no rows (read-only, on the warehouse) to learn its columns, and checks that
 * they are uniquely named and include the primary key.
 */
export async function learnColumns(
  env: Env,
  connectionString: string,
  sourceId: string,
  sql: string,
  primaryKey: string,
): Promise<ModelColumn[]> {
  let columns: ModelColumn[];
  try {
    columns = await describeQuery(connectionString, sql, warehouseOptions(env));
  } catch (err) {
    if (err instanceof WarehouseError) throw warehouseApiError(err, sourceId, true);
    throw err;
  }
  const names = columns.map((col) => col.name);
  // Rows are keyed and mapped by column name, so a repeated name would be ambiguous.
  const repeated = names.filter((name, i) => names.indexOf(name) !== i);
  if (repeated.length > 0) {
    throw validationError([
      { path: "sql", message: `column names must be unique; give these an alias: ${[...new Set(repeated)].join(", ")}` },
    ]);
  }
  if (!names.includes(primaryKey)) {
    throw validationError([
      { path: "primary_key", message: `"${primaryKey}" is not a column of the query (columns: ${names.join(", ")})` },
    ]);
  }
  return columns;
}
