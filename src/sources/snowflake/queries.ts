import { maxRowUtf8, type RawValue, writeRowUtf8 } from "../../engine/row";
import { WarehouseError } from "../errors";
import {
  type ConnectionTest,
  type ExtractHandler,
  type Extracted,
  forwardLines,
  type HandlerFailure,
  type JsonValue,
  type QueryPreview,
  type Source,
  type SourceField,
} from "../source";
import { fetchPartition, type Row, runStatement, type SnowflakeConnection, type StatementResult, timeoutSeconds } from "./api";
import { streamRows } from "./rows";
import { selectAll, snowflakeModelSql } from "./sql-guard";
import { type Canonicalize, canonicalizer, jsonValue, typeIdOf, typeNameOf, ValueFormatError } from "./values";

/** The Snowflake {@link Source}: each method is one statement through the SQL API (./api.ts). */

const MAX_PREVIEW_ROWS = 10_000;
// A partition whose body sends nothing for this long is abandoned (connection_lost, retried by the run).
const PARTITION_STALL_MS = 60_000;
// Counting rows for an estimate may take this long before we answer "unknown" (0).
const COUNT_ESTIMATE_SECONDS = 5;

export function openSnowflake(conn: SnowflakeConnection): Source {
  return {
    test: () => testConnection(conn),
    describe: async (sql) =>
      fieldsOf(await runStatement(conn, `${selectAll(snowflakeModelSql(sql))} LIMIT 0`)).map(({ name, type }) => ({ name, type })),
    preview: (sql, limit) => previewQuery(conn, sql, limit),
    estimateRows: (sql) => estimateRows(conn, sql),
    extract: (sql, handler) => extractQuery(conn, sql, handler),
  };
}

async function testConnection(conn: SnowflakeConnection): Promise<ConnectionTest> {
  const started = Date.now();
  try {
    const result = await runStatement(conn, "SELECT CURRENT_VERSION()");
    const version = result.firstRows[0]?.[0];
    return { ok: true, latency_ms: Date.now() - started, server_version: version ?? "unknown" };
  } catch (err) {
    const error = err instanceof WarehouseError ? err : new WarehouseError("unreachable", String(err));
    return { ok: false, error: { code: error.code, message: error.message } };
  }
}

/** The result's fields as Snowflake names them (upper case unless quoted); refuses a repeated name. */
function fieldsOf(result: StatementResult): SourceField[] {
  const seen = new Set<string>();
  return result.columns.map((column) => {
    if (seen.has(column.name))
      throw new WarehouseError("query_failed", `column name "${column.name}" appears more than once; give each column a unique alias`);
    seen.add(column.name);
    return { name: column.name, type: typeNameOf(column), typeId: typeIdOf(column) };
  });
}

/**
 * Every row of a finished statement, partition by partition: while one partition's rows are
 * handed to `onRow` (awaiting its promise), the next one's request is in flight (its body is read
 * when its turn comes, see ./rows.ts). Each partition must hold the rows `partitionInfo`
 * announced. `onRow` returning `false` stops reading.
 */
async function readRows(
  conn: SnowflakeConnection,
  result: StatementResult,
  onRow: (row: Row) => void | boolean | Promise<void>,
): Promise<void> {
  const fetch = (n: number) => {
    const promise = fetchPartition(conn, result.handle, n);
    // Awaited below; a failure while the current partition is handled must not be unhandled.
    promise.catch(() => undefined);
    return promise;
  };
  const count = result.partitionRows.length;
  let ahead = count > 1 ? fetch(1) : undefined;
  try {
    for (const row of result.firstRows) {
      const r = onRow(row);
      if (r === false) return;
      if (r instanceof Promise) await r;
    }
    for (let n = 1; n < count; n++) {
      const body = await (ahead as Promise<ReadableStream<Uint8Array>>);
      ahead = n + 1 < count ? fetch(n + 1) : undefined;
      let stopped = false;
      const rows = await streamRows(
        body,
        (row) => {
          const r = onRow(row);
          if (r === false) stopped = true;
          return r;
        },
        PARTITION_STALL_MS,
      );
      if (stopped) return;
      const expected = result.partitionRows[n] ?? 0;
      if (rows !== expected)
        throw new WarehouseError("connection_lost", `Snowflake's partition ${n} has ${rows} rows, ${expected} announced`);
    }
  } finally {
    // A partition fetched ahead and not read: release its connection.
    void ahead?.then((body) => body.cancel()).catch(() => undefined);
  }
}

/** Converts a row's chosen columns to canonical text (see ./values.ts). */
function rowConverter(fields: readonly SourceField[], indexes: readonly number[]): (row: Row) => RawValue[] {
  const convert: Canonicalize[] = indexes.map((k) => canonicalizer(fields[k]?.typeId ?? 0));
  const out: RawValue[] = new Array(indexes.length).fill(null);
  return (row) => {
    for (let c = 0; c < indexes.length; c++) {
      const raw = row[indexes[c] ?? 0];
      if (raw === undefined)
        throw new WarehouseError("connection_lost", `a Snowflake row has ${row.length} values, fewer than its columns`);
      try {
        out[c] = raw === null ? null : (convert[c] as Canonicalize)(String(raw));
      } catch (err) {
        if (!(err instanceof ValueFormatError)) throw err;
        throw new WarehouseError("query_failed", `column "${fields[indexes[c] ?? 0]?.name}": ${err.message}`, { cause: err });
      }
    }
    return out;
  };
}

async function previewQuery(conn: SnowflakeConnection, sql: string, limit: number): Promise<QueryPreview> {
  const rowLimit = Math.max(0, Math.min(MAX_PREVIEW_ROWS, Math.floor(limit) || 0));
  const result = await runStatement(conn, `${selectAll(snowflakeModelSql(sql))} LIMIT ${rowLimit}`);
  const fields = fieldsOf(result);
  const convert = rowConverter(
    fields,
    fields.map((_, k) => k),
  );
  const rows: Record<string, JsonValue>[] = [];
  await readRows(conn, result, (row) => {
    if (rows.length >= rowLimit) return false;
    const values = convert(row);
    const out: Record<string, JsonValue> = {};
    for (const [k, f] of fields.entries()) out[f.name] = jsonValue(f.typeId, values[k] ?? null);
    rows.push(out);
  });
  return { columns: fields.map(({ name, type }) => ({ name, type })), rows };
}

/**
 * The row estimate: `COUNT(*)` of the model, bounded to 5 s (Snowflake answers it from metadata
 * for a table; EXPLAIN gives partitions and bytes, not rows); 0 when that times out.
 */
async function estimateRows(conn: SnowflakeConnection, sql: string): Promise<number> {
  const model = snowflakeModelSql(sql);
  try {
    const seconds = Math.min(COUNT_ESTIMATE_SECONDS, timeoutSeconds(conn.opts));
    const result = await runStatement(conn, `SELECT COUNT(*) FROM (\n${model}\n) AS model`, seconds);
    return Number(result.firstRows[0]?.[0]) || 0;
  } catch (err) {
    if (err instanceof WarehouseError && err.code === "timeout") return 0;
    throw err;
  }
}

/**
 * Extraction: one statement, `SELECT * FROM (<model>)`; once its columns are known,
 * `handler.columns` picks the ones to read and each row becomes a COPY text line of them.
 */
async function extractQuery(conn: SnowflakeConnection, sql: string, handler: ExtractHandler): Promise<Extracted> {
  const result = await runStatement(conn, selectAll(snowflakeModelSql(sql)));
  const fields = fieldsOf(result);
  const columns = handler.columns(fields);
  const indexOf = new Map(fields.map((f, k) => [f.name, k]));
  const indexes = columns.map((name) => {
    const k = indexOf.get(name);
    if (k === undefined) throw new WarehouseError("query_failed", `the model has no column "${name}"`);
    return k;
  });
  const convert = rowConverter(fields, indexes);
  let buffer = new Uint8Array(4096);
  let rows = 0;
  const failure: HandlerFailure = {};
  const line = forwardLines(handler, failure);
  try {
    await readRows(conn, result, (row) => {
      const values = convert(row);
      const need = maxRowUtf8(values) + 1;
      if (buffer.length < need) buffer = new Uint8Array(Math.max(need, buffer.length * 2));
      const end = writeRowUtf8(values, buffer, 0);
      buffer[end] = 0x0a;
      rows++;
      return line(buffer.subarray(0, end + 1));
    });
  } catch (err) {
    if ("error" in failure) throw failure.error;
    throw err;
  }
  return { fields, rows };
}
