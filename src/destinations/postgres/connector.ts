import type { Client } from "@neondatabase/serverless";
import { messageOf, truncate } from "../../lib/http";
import { WarehouseError } from "../../sources/errors";
import { closePostgres, connectPostgres } from "../../sources/postgres/connection";
import { blockedHostReason } from "../../lib/ssrf";
// After the sources split: connectPostgres/closePostgres from "../../sources/postgres/connection".
import type { Batch, Connector, ConnectorContext, Operation, RowResult, SendOutcome } from "../destination";
import type { PostgresConfig, PostgresCredentials } from "./schema";

const DEFAULT_BATCH_SIZE = 500;
const STATEMENT_TIMEOUT_MS = 60_000;
const CONNECT_TIMEOUT_MS = 10_000;
const APPLICATION_NAME = "edge-reverse-etl destination";

/**
 * Postgres destination: rows are written into the table `config.schema`.`config.table`, matched on
 * `config.key_column` (which needs a unique index or constraint).
 *
 * - create and upsert are `INSERT … ON CONFLICT (key) DO UPDATE`: a redelivered create
 *   (at-least-once queues) is absorbed instead of failing on the duplicate key.
 * - update is an `UPDATE` of the rows that exist, then the same upsert for those that do not (an
 *   update of a row someone deleted puts it back, as the model says it should be). A plain
 *   upsert would not do: Postgres checks NOT NULL on the proposed insert row before it looks
 *   for the conflict, so an update that omits a NOT NULL column would fail.
 * - in update mode an update is only the `UPDATE`: keys it did not touch are `not_found`.
 * - delete is `DELETE … WHERE key IN (…)`; a key already absent counts as deleted.
 * - Values are JSON from the model; `json_populate_recordset(NULL::table, $1)` turns them into
 *   the table's row type, so Postgres casts each one to its column's type (text to int, ISO
 *   strings to timestamptz, objects to jsonb, arrays to arrays), one statement per batch (per run of
 *   operations with the same kind and fields).
 * - A batch runs in one transaction. When its statement fails on data (SQLSTATE class 22 or 23),
 *   the rows are retried one by one, each in a savepoint, so each bad row is reported with
 *   Postgres' own message and the others are still written.
 * - Connection problems `retry`; 28P01/28000 (authentication) and 42501 (no privilege)
 *   `auth_failed`; an unknown table or column (42P01/42703) or other statement error `rejected`.
 */
export const postgresConnector: Connector<PostgresConfig, PostgresCredentials> = {
  maxBatchSize: (config) => config.batch_size ?? DEFAULT_BATCH_SIZE,
  // Each send holds a connection: keep the number of sessions per database small.
  defaultRateLimit: { requestsPerSecond: 20, concurrency: 4 },

  /** Connects and checks that the table exists, the role may write it, and the key column is unique. */
  async test(ctx) {
    const connected = await open(ctx);
    if ("outcome" in connected) return { ok: false, error: connected.outcome.error };
    const { client } = connected;
    try {
      const { schema, table, key_column } = ctx.config;
      const result = await client.query<{ writable: boolean; has_key: boolean; keyed: boolean }>(CHECK_TABLE_SQL, [
        schema ?? "public",
        table,
        key_column,
      ]);
      const row = result.rows[0];
      const name = `${schema ?? "public"}.${table}`;
      if (!row) return { ok: false, error: `table ${name} does not exist (or is not visible to this role)` };
      if (!row.has_key) return { ok: false, error: `table ${name} has no column ${key_column}` };
      if (!row.keyed) {
        return {
          ok: false,
          error: `column ${key_column} of ${name} needs a unique index or constraint (INSERT … ON CONFLICT matches on it)`,
        };
      }
      if (!row.writable) return { ok: false, error: `this role may not INSERT, UPDATE and DELETE on ${name}` };
      return { ok: true };
    } catch (err) {
      return { ok: false, error: classifyError(err).error };
    } finally {
      await closePostgres(client);
    }
  },

  async send(ctx, batch) {
    const connected = await open(ctx);
    if ("outcome" in connected) return connected.outcome;
    const { client } = connected;
    try {
      const target = new Target(ctx.config);
      const results = new Map<number, RowResult>();
      await client.query(`BEGIN; SET LOCAL statement_timeout = ${STATEMENT_TIMEOUT_MS}`);
      for (const segment of segments(batch, ctx.config.key_column)) {
        await applySegment(client, target, segment, results);
      }
      await client.query("COMMIT");
      return {
        kind: "results",
        results: batch.operations.map((op, i) => results.get(i) ?? { key: op.key, ok: true }),
      };
    } catch (err) {
      // Nothing was committed: closing the session rolls the transaction back.
      return classifyError(err);
    } finally {
      await closePostgres(client);
    }
  },
};

const CHECK_TABLE_SQL = `
SELECT has_table_privilege(c.oid, 'INSERT') AND has_table_privilege(c.oid, 'UPDATE')
         AND has_table_privilege(c.oid, 'DELETE') AS writable,
       a.attnum IS NOT NULL AS has_key,
       EXISTS (SELECT 1 FROM pg_index i
                WHERE i.indrelid = c.oid AND i.indisunique AND i.indpred IS NULL
                  AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum) AS keyed
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped
 WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`;

export async function open(
  ctx: ConnectorContext<PostgresConfig, PostgresCredentials>,
): Promise<{ client: Client } | { outcome: SendOutcome & { error: string } }> {
  const connectionString = ctx.credentials.connection_string;
  if (!ctx.allowPrivate && URL.canParse(connectionString)) {
    const reason = blockedHostReason(new URL(connectionString).hostname);
    if (reason) return { outcome: { kind: "rejected", error: `destination host refused: ${reason}` } };
  }
  try {
    const client = await connectPostgres(connectionString, {
      statementTimeoutMs: STATEMENT_TIMEOUT_MS,
      allowPrivate: ctx.allowPrivate,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      applicationName: APPLICATION_NAME,
    });
    return { client };
  } catch (err) {
    return { outcome: classifyError(err) };
  }
}

// ---------------------------------------------------------------------------------------------
// Statements

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The quoted names of the destination table and key column. */
class Target {
  readonly relation: string;
  readonly key: string;

  constructor(readonly config: PostgresConfig) {
    this.relation = `${quoteIdent(config.schema ?? "public")}.${quoteIdent(config.table)}`;
    this.key = quoteIdent(config.key_column);
  }

  /** One upsert of rows that all carry `columns` (the key column first). */
  upsertSql(columns: string[]): string {
    const cols = columns.map(quoteIdent).join(", ");
    return (
      `INSERT INTO ${this.relation} (${cols}) SELECT ${cols} ` +
      `FROM json_populate_recordset(NULL::${this.relation}, $1::json) ${this.onConflict(columns)}`
    );
  }

  /** Updates the rows that exist, then upserts those that do not (see the connector's notes). */
  updateSql(columns: string[]): string {
    const fields = this.fieldsOf(columns);
    if (fields.length === 0) return this.upsertSql(columns);
    const cols = columns.map(quoteIdent).join(", ");
    const sets = fields.map((c) => `${c} = input.${c}`).join(", ");
    return (
      `WITH input AS (SELECT ${cols} FROM json_populate_recordset(NULL::${this.relation}, $1::json)), ` +
      `updated AS (UPDATE ${this.relation} AS t SET ${sets} FROM input ` +
      `WHERE t.${this.key} = input.${this.key} RETURNING t.${this.key}) ` +
      `INSERT INTO ${this.relation} (${cols}) SELECT ${cols} FROM input ` +
      `WHERE NOT EXISTS (SELECT 1 FROM updated WHERE updated.${this.key} = input.${this.key}) ${this.onConflict(columns)}`
    );
  }

  /** Updates the rows that exist and returns their keys (update mode: nothing is inserted). */
  updateOnlySql(columns: string[]): string {
    const fields = this.fieldsOf(columns);
    const cols = columns.map(quoteIdent).join(", ");
    // Without fields to set, the key is set to itself: the statement still tells which rows exist.
    const sets = (fields.length > 0 ? fields : [this.key]).map((c) => `${c} = input.${c}`).join(", ");
    return (
      `WITH input AS (SELECT ${cols} FROM json_populate_recordset(NULL::${this.relation}, $1::json)) ` +
      `UPDATE ${this.relation} AS t SET ${sets} FROM input WHERE t.${this.key} = input.${this.key} RETURNING t.${this.key}::text AS key`
    );
  }

  /** The quoted non-key columns. */
  private fieldsOf(columns: string[]): string[] {
    return columns.filter((c) => c !== this.config.key_column).map(quoteIdent);
  }

  private onConflict(columns: string[]): string {
    const fields = this.fieldsOf(columns);
    if (fields.length === 0) return `ON CONFLICT (${this.key}) DO NOTHING`;
    return `ON CONFLICT (${this.key}) DO UPDATE SET ${fields.map((c) => `${c} = EXCLUDED.${c}`).join(", ")}`;
  }

  /** Deletes by key; the keys are cast to the key column's type through the row type too. */
  deleteSql(): string {
    return (
      `DELETE FROM ${this.relation} WHERE ${this.key} IN ` +
      `(SELECT ${this.key} FROM json_populate_recordset(NULL::${this.relation}, $1::json))`
    );
  }
}

/** Consecutive operations that one statement can apply: same kind (upsert, update, update only, delete) and same columns. */
interface Segment {
  kind: "upsert" | "update" | "update_only" | "delete";
  /** Key column first, then the field names. */
  columns: string[];
  items: { index: number; op: Operation }[];
}

/**
 * Splits the batch in order into segments. A new one starts when the kind or the set of fields
 * changes (a row lacking a field must not have it set to NULL), or when a key repeats (one
 * statement cannot touch a row twice).
 */
function segments(batch: Batch, keyColumn: string): Segment[] {
  const out: Segment[] = [];
  let current: (Segment & { signature: string; keys: Set<string> }) | undefined;
  batch.operations.forEach((op, index) => {
    const kind = op.op === "delete" ? "delete" : op.op === "update" ? (batch.mode === "update" ? "update_only" : "update") : "upsert";
    const fields =
      kind === "delete"
        ? []
        : Object.keys(op.fields)
            .filter((f) => f !== keyColumn)
            .sort();
    const signature = `${kind}\u0000${fields.join("\u0000")}`;
    if (!current || current.signature !== signature || current.keys.has(op.key)) {
      current = { kind, columns: [keyColumn, ...fields], items: [], signature, keys: new Set() };
      out.push(current);
    }
    current.items.push({ index, op });
    current.keys.add(op.key);
  });
  return out;
}

/** The JSON rows for `json_populate_recordset`: the key under the key column wins over a same-named field. */
function rowsJson(segment: Segment, keyColumn: string, items = segment.items): string {
  return JSON.stringify(
    items.map(({ op }) => (segment.kind === "delete" ? { [keyColumn]: op.key } : { ...op.fields, [keyColumn]: op.key })),
  );
}

/** Runs one segment; on a data error finds the failing rows one by one. Other errors propagate. */
async function applySegment(client: Client, target: Target, segment: Segment, results: Map<number, RowResult>): Promise<void> {
  const keyColumn = target.config.key_column;
  const sql =
    segment.kind === "delete"
      ? target.deleteSql()
      : segment.kind === "update"
        ? target.updateSql(segment.columns)
        : segment.kind === "update_only"
          ? target.updateOnlySql(segment.columns)
          : target.upsertSql(segment.columns);
  /** A row's result: in update-only segments, ok only when the UPDATE returned its key. */
  const resultOf = (op: Operation, touched: Set<string> | undefined): RowResult =>
    !touched || touched.has(op.key)
      ? { key: op.key, ok: true }
      : { key: op.key, ok: false, error: `no row with ${keyColumn} = ${truncate(op.key, 200)} to update`, not_found: true };
  const run = async (items: Segment["items"]) => {
    const result = await client.query<{ key: string }>(sql, [rowsJson(segment, keyColumn, items)]);
    return segment.kind === "update_only" ? new Set(result.rows.map((r) => r.key)) : undefined;
  };
  await client.query("SAVEPOINT retl_batch");
  try {
    const touched = await run(segment.items);
    await client.query("RELEASE SAVEPOINT retl_batch");
    for (const { index, op } of segment.items) results.set(index, resultOf(op, touched));
    return;
  } catch (err) {
    if (!isDataError(err)) throw err;
    await client.query("ROLLBACK TO SAVEPOINT retl_batch");
    const only = segment.items.length === 1 ? segment.items[0] : undefined;
    if (only) {
      results.set(only.index, { key: only.op.key, ok: false, error: rowError(err) });
      return;
    }
  }
  for (const item of segment.items) {
    await client.query("SAVEPOINT retl_row");
    try {
      const touched = await run([item]);
      await client.query("RELEASE SAVEPOINT retl_row");
      results.set(item.index, resultOf(item.op, touched));
    } catch (err) {
      if (!isDataError(err)) throw err;
      await client.query("ROLLBACK TO SAVEPOINT retl_row");
      results.set(item.index, { key: item.op.key, ok: false, error: rowError(err) });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Errors

interface PgError {
  code: string;
  message: string;
}

/** A server error with a SQLSTATE (the driver's DatabaseError, matched by shape as in sources/postgres). */
function asPgError(err: unknown): PgError | undefined {
  if (!(err instanceof Error) || !("severity" in err) || !("code" in err)) return undefined;
  return typeof err.code === "string" ? { code: err.code, message: err.message } : undefined;
}

/** Class 22 (data exception) and 23 (integrity constraint violation): the row's fault, not the batch's. */
function isDataError(err: unknown): boolean {
  const code = asPgError(err)?.code ?? "";
  return code.startsWith("22") || code.startsWith("23");
}

function rowError(err: unknown): string {
  const pg = asPgError(err);
  // Only the message and SQLSTATE: Postgres' DETAIL ("Failing row contains …") would copy row values.
  return pg ? truncate(`${pg.message} [SQLSTATE ${pg.code}]`, 1000) : truncate(messageOf(err), 1000);
}

/** Maps a connection or statement failure to the outcome of the whole batch. */
export function classifyError(err: unknown): SendOutcome & { error: string } {
  if (err instanceof WarehouseError) {
    if (err.code === "auth_failed" || err.code === "permission_denied") return { kind: "auth_failed", error: err.message };
    return err.retryable ? { kind: "retry", error: err.message } : { kind: "rejected", error: err.message };
  }
  const pg = asPgError(err);
  if (!pg) return { kind: "retry", error: `connection lost: ${messageOf(err)}` };
  const error = `${pg.message} [SQLSTATE ${pg.code}]`;
  const cls = pg.code.slice(0, 2);
  if (cls === "28" || pg.code === "42501") return { kind: "auth_failed", error };
  // Connection (08), resources (53), operator intervention (57: shutdown, statement timeout),
  // transaction rollback (40: serialization, deadlock), lock not available, internal errors.
  if (["08", "53", "57", "40", "58", "XX"].includes(cls) || pg.code === "55P03") return { kind: "retry", error };
  return { kind: "rejected", error };
}
