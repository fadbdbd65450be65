import { closePostgres } from "../../sources/postgres/connection";
import type { ConnectorContext, DestinationField, FieldsAnswer, FieldType } from "../destination";
import { classifyError, open } from "./connector";
import type { PostgresConfig, PostgresCredentials } from "./schema";

/** `information_schema.columns.data_type` as the value types we cast to; the rest (text, uuid, enums…) take text. */
const POSTGRES_TYPES: Record<string, FieldType> = {
  smallint: "integer",
  integer: "integer",
  bigint: "integer",
  numeric: "number",
  real: "number",
  "double precision": "number",
  boolean: "boolean",
  date: "date",
  "timestamp without time zone": "datetime",
  "timestamp with time zone": "datetime",
  json: "json",
  jsonb: "json",
  // json_populate_recordset reads a JSON array into an array column.
  ARRAY: "json",
};

// Generated columns and GENERATED ALWAYS identities cannot be written.
const COLUMNS_SQL = `
SELECT column_name, data_type,
       is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO' AS required
  FROM information_schema.columns
 WHERE table_schema = $1 AND table_name = $2
   AND is_generated = 'NEVER' AND coalesce(identity_generation, '') <> 'ALWAYS'
 ORDER BY ordinal_position`;

/**
 * The table's writable columns (`information_schema.columns`, so only those the role may see).
 * Required: NOT NULL without a default (nor an identity). The identifier is `key_column`, which
 * the connector fills from each row's key. Failures carry no `failure`: delivery never describes
 * a Postgres table (Postgres casts values itself, see the connector).
 */
export async function postgresFields(ctx: ConnectorContext<PostgresConfig, PostgresCredentials>): Promise<FieldsAnswer> {
  const connected = await open(ctx);
  if ("outcome" in connected) return { ok: false, error: connected.outcome.error };
  const { client } = connected;
  const { schema, table, key_column: key } = ctx.config;
  try {
    const result = await client.query<{ column_name: string; data_type: string; required: boolean }>(COLUMNS_SQL, [
      schema ?? "public",
      table,
    ]);
    if (result.rows.length === 0)
      return { ok: false, error: `table ${schema ?? "public"}.${table} does not exist (or is not visible to this role)` };
    const fields = result.rows.map(
      (c): DestinationField => ({
        name: c.column_name,
        type: POSTGRES_TYPES[c.data_type] ?? "string",
        required: c.required,
        ...(c.column_name === key ? { identifier: true } : {}),
      }),
    );
    return { ok: true, fields };
  } catch (err) {
    return { ok: false, error: classifyError(err).error };
  } finally {
    await closePostgres(client);
  }
}
