import { decodeRow } from "../../engine/row";
import { WarehouseError } from "../errors";
import {
  type ConnectionTest,
  type ExtractHandler,
  type Extracted,
  forwardLines,
  type HandlerFailure,
  type JsonValue,
  pickColumns,
  type QueryPreview,
  type Source,
  type WarehouseOptions,
} from "../source";
import { type MysqlTarget, MysqlConnection } from "./connection";
import { parseConnectionString } from "./connection-string";
import { mysqlModelSql, selectFrom } from "./sql-guard";
import { RowToCopy } from "./text-row";
import { jsonValue, type MysqlField, mysqlField } from "./types";

/**
 * The MySQL {@link Source}: each call is one session (./connection.ts) in a read-only transaction
 * with the statement timeout, TIMESTAMP values read in UTC.
 */

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const MAX_PREVIEW_ROWS = 10_000;
// The server gives up on a client that stops reading this long (default 60 s); extraction pauses
// reading while chunks are written, so allow more.
const NET_WRITE_TIMEOUT_SECONDS = 600;

/** A source on a connection string, parsed when a method is called (a bad one fails that call, or its test). */
export function openMysql(connectionString: string, opts: WarehouseOptions): Source {
  const target = async () => parseConnectionString(connectionString);
  return {
    test: () => target().then((t) => testConnection(t, opts), failedTest),
    describe: async (sql) =>
      withSession(await target(), opts, async (conn) =>
        (await describeFields(conn, mysqlModelSql(sql))).map(({ name, type }) => ({ name, type })),
      ),
    preview: async (sql, limit) => previewQuery(await target(), sql, limit, opts),
    estimateRows: async (sql) => estimateRows(await target(), sql, opts),
    extract: async (sql, handler) => extractQuery(await target(), sql, opts, handler),
  };
}

function failedTest(err: unknown): ConnectionTest {
  const error = err instanceof WarehouseError ? err : new WarehouseError("unreachable", String(err));
  return { ok: false, error: { code: error.code, message: error.message } };
}

/**
 * The statement timeout as the session's setting: MariaDB's `max_statement_time` (seconds) or
 * MySQL's `max_execution_time` (milliseconds, SELECT only, which is all a model runs).
 */
function sessionSettings(mariadb: boolean, opts: WarehouseOptions): string {
  const ms = Math.max(1, Math.floor(opts.statementTimeoutMs) || 1);
  const timeout = mariadb ? `max_statement_time = ${ms / 1000}` : `max_execution_time = ${ms}`;
  return `SET SESSION time_zone = '+00:00', net_write_timeout = ${NET_WRITE_TIMEOUT_SECONDS}, ${timeout}`;
}

/**
 * Runs `fn` on a fresh session inside `START TRANSACTION READ ONLY` (one consistent snapshot for
 * every statement), always closing it. The whole call is also bounded from this side: the
 * statement timeout plus the connect timeout, then the connection is dropped (`timeout`).
 */
async function withSession<T>(target: MysqlTarget, opts: WarehouseOptions, fn: (conn: MysqlConnection) => Promise<T>): Promise<T> {
  const connectMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const conn = await MysqlConnection.open(target, connectMs);
  const limitMs = opts.statementTimeoutMs + connectMs;
  const timer = setTimeout(() => conn.abort(new WarehouseError("timeout", `MySQL did not finish within ${limitMs} ms`)), limitMs);
  try {
    await conn.query(sessionSettings(conn.mariadb, opts));
    await conn.query("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY");
    return await fn(conn);
  } finally {
    clearTimeout(timer);
    await conn.close();
  }
}

async function testConnection(target: MysqlTarget, opts: WarehouseOptions): Promise<ConnectionTest> {
  const started = Date.now();
  try {
    const version = await withSession(target, opts, async (conn) => {
      const { rows } = await conn.query("SELECT VERSION()");
      const row = rows[0];
      return row ? new TextDecoder().decode(row.subarray(1, 1 + (row[0] ?? 0))) : conn.serverVersion;
    });
    return { ok: true, latency_ms: Date.now() - started, server_version: version || "unknown" };
  } catch (err) {
    return failedTest(err);
  }
}

/** The fields of a result's columns; refuses a repeated name. */
function fieldsOf(columns: Parameters<typeof mysqlField>[0][]): MysqlField[] {
  const seen = new Set<string>();
  return columns.map((c) => {
    if (seen.has(c.name))
      throw new WarehouseError("query_failed", `column name "${c.name}" appears more than once; give each column a unique alias`);
    seen.add(c.name);
    return mysqlField(c);
  });
}

/** The model's fields from `SELECT * FROM (<model>) AS model LIMIT 0` (no row is read). */
async function describeFields(conn: MysqlConnection, model: string): Promise<MysqlField[]> {
  const { columns } = await conn.query(`${selectFrom(model, "*")} LIMIT 0`);
  return fieldsOf(columns);
}

async function previewQuery(target: MysqlTarget, sql: string, limit: number, opts: WarehouseOptions): Promise<QueryPreview> {
  const model = mysqlModelSql(sql);
  const rowLimit = Math.max(0, Math.min(MAX_PREVIEW_ROWS, Math.floor(limit) || 0));
  return withSession(target, opts, async (conn) => {
    let fields: MysqlField[] = [];
    let convert: RowToCopy | undefined;
    const rows: Record<string, JsonValue>[] = [];
    const decoder = new TextDecoder();
    await conn.stream(
      `${selectFrom(model, "*")} LIMIT ${rowLimit}`,
      (columns) => {
        fields = fieldsOf(columns);
        convert = new RowToCopy(
          fields.map((f) => f.form),
          fields.map((_, k) => k),
        );
      },
      (packet) => {
        if (!convert) return;
        // The same canonical text extraction hashes, decoded as delivery decodes it.
        const values = decodeRow(decoder.decode(convert.line(packet)).slice(0, -1), fields.length);
        const row: Record<string, JsonValue> = {};
        for (const [k, f] of fields.entries()) row[f.name] = jsonValue(f.typeId, values[k] ?? null);
        rows.push(row);
      },
    );
    return { columns: fields.map(({ name, type }) => ({ name, type })), rows };
  });
}

/** The planner's estimate: the `rows` of EXPLAIN's first line (the outer table or derived table read); 0 when unknown. */
async function estimateRows(target: MysqlTarget, sql: string, opts: WarehouseOptions): Promise<number> {
  const model = mysqlModelSql(sql);
  return withSession(target, opts, async (conn) => {
    const { columns, rows } = await conn.query(`EXPLAIN ${selectFrom(model, "*")}`);
    const at = columns.findIndex((c) => c.name.toLowerCase() === "rows");
    const first = rows[0];
    if (at < 0 || !first) return 0;
    const values = decodeRow(
      new TextDecoder()
        .decode(
          new RowToCopy(
            columns.map(() => "text"),
            [at],
          ).line(first),
        )
        .slice(0, -1),
      1,
    );
    return Number(values[0]) || 0;
  });
}

/**
 * Extraction: the model is described (`LIMIT 0`), `handler.columns` picks the columns, and
 * `SELECT <columns> FROM (<model>) AS model` streams every row, converted packet by packet to
 * canonical COPY text (./text-row.ts). Reading waits for the handler's promise.
 */
async function extractQuery(target: MysqlTarget, sql: string, opts: WarehouseOptions, handler: ExtractHandler): Promise<Extracted> {
  const model = mysqlModelSql(sql);
  const failure: HandlerFailure = {};
  try {
    return await withSession(target, opts, async (conn) => {
      const fields = await describeFields(conn, model);
      const columns = pickColumns(handler, fields, failure);
      const byName = new Map(fields.map((f) => [f.name, f]));
      const convert = new RowToCopy(
        columns.map((c) => byName.get(c)?.form ?? "text"),
        columns.map((_, k) => k),
      );
      const line = forwardLines(handler, failure);
      const rows = await conn.stream(
        selectFrom(model, columns),
        () => undefined,
        (packet) => line(convert.line(packet)),
      );
      return { fields: fields.map(({ name, type, typeId }) => ({ name, type, typeId })), rows };
    });
  } catch (err) {
    if ("error" in failure) throw failure.error;
    throw err;
  }
}
