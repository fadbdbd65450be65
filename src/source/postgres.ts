import { Client, DatabaseError, type FieldDef, type QueryArrayResult } from "@neondatabase/serverless";
import type { ModelColumn } from "../db/schema";
import { blockedHostReason } from "../lib/ssrf";
import { copySelect } from "../engine/extract";
import { maxRowUtf8, writeRowUtf8 } from "../engine/row";
import { CopyDataSplitter } from "./copy-data";
import { ReadControl, TcpSocketError, tcpWebSocketClass, type TlsMode } from "./tcp-websocket";

/**
 * The warehouse client: connection tests, model description, previews and row streaming from a
 * Postgres source. Neon hosts use the driver's secure WebSocket; any other Postgres is reached over
 * plain TCP (`cloudflare:sockets`) through {@link tcpWebSocketClass}, with TLS per `sslmode`.
 *
 * Every model query runs inside `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY` with a
 * `statement_timeout`, wrapped as `SELECT * FROM (<sql>) AS model` (or inside `COPY (…) TO STDOUT`
 * for runs, see {@link copyQuery}), and sent with the extended query protocol, which accepts
 * exactly one statement: `SELECT 1) AS model; COMMIT; DROP …` fails.
 * Model SQL should still run as a read-only database role: a read-only transaction stops writes
 * in this session, not side effects of functions such as dblink.
 */

/** How the warehouse is reached and how long a statement may run. */
export interface WarehouseOptions {
  /** `SET LOCAL statement_timeout` for every statement on the warehouse. */
  statementTimeoutMs: number;
  /** Allow loopback and private-network hosts (local development and tests only). */
  allowPrivate: boolean;
  /** TCP + TLS + authentication must finish within this; default 10 s. */
  connectTimeoutMs?: number;
  /** `application_name` shown in `pg_stat_activity`; default "edge-reverse-etl". */
  applicationName?: string;
}

/** Warehouse options from the Worker's bindings. */
export function warehouseOptions(env: Env): WarehouseOptions {
  return {
    statementTimeoutMs: Number(env.WAREHOUSE_STATEMENT_TIMEOUT_MS) || 300_000,
    allowPrivate: env.ALLOW_PRIVATE_DESTINATIONS === "true",
  };
}

/** Result of {@link testConnection}: a failure is a value, not an exception. */
export interface ConnectionTest {
  ok: boolean;
  latency_ms?: number;
  server_version?: string;
  error?: { code: string; message: string };
}

/** Every {@link WarehouseError} code. */
export const WAREHOUSE_ERROR_CODES = [
  "invalid_connection_string", // the URL cannot be used (bad scheme, sslmode, several hosts)
  "host_not_allowed", // a loopback/private host while private hosts are not allowed
  "unreachable", // refused, DNS, routing, connect timeout, server shutting down or full
  "tls_failed", // TLS refused under sslmode=require, or handshake/certificate failure
  "auth_failed", // 28P01 / 28000: wrong password, unknown role, no pg_hba entry
  "database_not_found", // 3D000
  "connection_lost", // the connection broke after it was established
  "query_failed", // syntax or runtime error in the model SQL
  "timeout", // 57014: statement_timeout
  "read_only", // 25006, or a model that is not a query (INSERT, CREATE, …)
  "permission_denied", // 42501
] as const;
export type WarehouseErrorCode = (typeof WAREHOUSE_ERROR_CODES)[number];

const retryableByDefault: Record<WarehouseErrorCode, boolean> = {
  invalid_connection_string: false,
  host_not_allowed: false,
  unreachable: true,
  tls_failed: false,
  auth_failed: false,
  database_not_found: false,
  connection_lost: true,
  query_failed: false,
  timeout: true,
  read_only: false,
  permission_denied: false,
};

/** A warehouse failure the caller can act on: `code` classifies it, `retryable` says whether trying again may help. */
export class WarehouseError extends Error {
  override readonly name = "WarehouseError";
  readonly code: WarehouseErrorCode;
  readonly retryable: boolean;
  /** Postgres SQLSTATE, when the server reported the error. */
  readonly sqlstate?: string;
  /** 1-based character offset of the error in the model SQL, when Postgres gave one. */
  readonly position?: number;

  constructor(
    code: WarehouseErrorCode,
    message: string,
    extra: { retryable?: boolean; sqlstate?: string; position?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: extra.cause });
    this.code = code;
    this.retryable = extra.retryable ?? retryableByDefault[code];
    this.sqlstate = extra.sqlstate;
    this.position = extra.position;
  }
}

/** A JSON value, as {@link jsonValue} produces. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** One row as Postgres sent it: the text form of each column, or null. */
export type RawRow = (string | null)[];

/** A result column: its name, type OID and Postgres type name ("int4", "text", "int4[]"). */
export interface StreamField {
  name: string;
  typeId: number;
  type: string;
}

/**
 * One page of {@link streamQuery}. `rows` are arrays in `fields` order holding Postgres' text
 * output (DateStyle ISO, bytea hex), so they can be hashed as they are; {@link jsonValue} turns a
 * value into JSON for delivery. `fields` is the same array on every page.
 */
export interface StreamPage {
  fields: readonly StreamField[];
  rows: RawRow[];
}

/** Options of {@link streamQuery}. */
export interface StreamOptions {
  /** Rows per `FETCH`, and so per page; default 5000 (about 20% faster than 1000 in workerd). */
  pageSize?: number;
}

/** Result of {@link previewQuery}: JSON-safe rows keyed by column name. */
export interface QueryPreview {
  columns: ModelColumn[];
  rows: Record<string, JsonValue>[];
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_APPLICATION_NAME = "edge-reverse-etl";
// The server ends a session idle inside a transaction this long, e.g. a stream whose Worker died.
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 10 * 60_000;
const MAX_PREVIEW_ROWS = 10_000;

/**
 * Connects, asks the server version, disconnects. Never throws: a failure comes back as
 * `{ ok: false, error: { code, message } }` with a {@link WarehouseErrorCode}.
 */
export async function testConnection(connectionString: string, opts: WarehouseOptions): Promise<ConnectionTest> {
  const started = Date.now();
  try {
    const client = await openClient(connectionString, opts);
    try {
      const result = await client.query<{ version: string }>("SELECT current_setting('server_version') AS version");
      const version = result.rows[0]?.version ?? "unknown";
      return { ok: true, latency_ms: Date.now() - started, server_version: version };
    } finally {
      await closeClient(client);
    }
  } catch (err) {
    const error = toWarehouseError(err, "query");
    return { ok: false, error: { code: error.code, message: error.message } };
  }
}

/**
 * The columns of a model, from `SELECT * FROM (<sql>) AS model LIMIT 0` in a read-only
 * transaction. Throws {@link WarehouseError}.
 */
export async function describeQuery(connectionString: string, sql: string, opts: WarehouseOptions): Promise<ModelColumn[]> {
  const model = modelSql(sql);
  const prefix = "SELECT * FROM (\n";
  return withReadOnlyTransaction(connectionString, opts, { start: prefix.length, length: model.length }, async (client) => {
    // Named, so it goes through the extended protocol, which refuses a second statement.
    const result = await client.query({ name: "retl_describe", text: `${prefix}${model}\n) AS model LIMIT 0`, rowMode: "array" });
    const fields = await fieldTypes(client, result.fields);
    return fields.map(({ name, type }) => ({ name, type }));
  });
}

/**
 * The first `limit` rows of a model (at most 10,000), with values made JSON-safe by
 * {@link jsonValue}. Same read-only transaction as {@link describeQuery}. Throws {@link WarehouseError}.
 */
export async function previewQuery(connectionString: string, sql: string, limit: number, opts: WarehouseOptions): Promise<QueryPreview> {
  const model = modelSql(sql);
  const rowLimit = Math.max(0, Math.min(MAX_PREVIEW_ROWS, Math.floor(limit) || 0));
  const prefix = "SELECT * FROM (\n";
  return withReadOnlyTransaction(connectionString, opts, { start: prefix.length, length: model.length }, async (client) => {
    const result = await client.query<RawRow>({
      name: "retl_preview",
      text: `${prefix}${model}\n) AS model LIMIT ${rowLimit}`,
      rowMode: "array",
      types: rawTextTypes,
    });
    const fields = await fieldTypes(client, result.fields);
    const rows = result.rows.map((raw) => {
      const row: Record<string, JsonValue> = {};
      fields.forEach((f, i) => (row[f.name] = jsonValue(f.typeId, raw[i] ?? null)));
      return row;
    });
    return { columns: fields.map(({ name, type }) => ({ name, type })), rows };
  });
}

/**
 * The planner's row estimate for a model (`EXPLAIN` of `SELECT * FROM (<sql>) AS model`, nothing
 * is run), e.g. to size a run's partitions before the first row arrives: cheap, but only as good
 * as the warehouse's statistics. Same read-only transaction rules. Throws {@link WarehouseError}.
 */
export async function estimateRows(connectionString: string, sql: string, opts: WarehouseOptions): Promise<number> {
  const model = modelSql(sql);
  const prefix = "EXPLAIN (FORMAT JSON) SELECT * FROM (\n";
  return withReadOnlyTransaction(connectionString, opts, { start: prefix.length, length: model.length }, async (client) => {
    const result = await client.query<[unknown]>({ name: "retl_estimate", text: `${prefix}${model}\n) AS model`, rowMode: "array" });
    const cell: unknown = result.rows[0]?.[0];
    const plan: unknown = typeof cell === "string" ? JSON.parse(cell) : cell;
    const top = Array.isArray(plan) ? (plan[0] as { Plan?: { "Plan Rows"?: unknown } } | undefined) : undefined;
    const rows = top?.Plan?.["Plan Rows"];
    return typeof rows === "number" ? rows : 0;
  });
}

/**
 * Streams a model's rows page by page through a server-side cursor (`DECLARE … NO SCROLL CURSOR`
 * + `FETCH n`) in a read-only REPEATABLE READ transaction, so at most two pages are in memory (the
 * next page is fetched while the caller works on the current one). The first page is always
 * yielded, even when empty, so `fields` is known; later pages are never empty. The transaction and
 * connection are closed when the generator finishes, throws, or is closed early (`return()`,
 * `break` out of `for await`); a generator dropped without either keeps its session until the
 * Worker's request ends or the server's 10-minute idle-in-transaction timeout. Throws
 * {@link WarehouseError}.
 */
export async function* streamQuery(
  connectionString: string,
  sql: string,
  opts: WarehouseOptions,
  stream: StreamOptions = {},
): AsyncGenerator<StreamPage, void, undefined> {
  const model = modelSql(sql);
  const pageSize = Math.max(1, Math.floor(stream.pageSize ?? 5000) || 5000);
  const prefix = "DECLARE model_cursor NO SCROLL CURSOR FOR SELECT * FROM (\n";
  const client = await openClient(connectionString, opts);
  let atYield = false;
  try {
    await beginReadOnly(client, opts);
    let fields: StreamField[] | undefined;
    for await (const page of cursorPages(
      client,
      { name: "retl_stream", text: `${prefix}${model}\n) AS model` },
      "model_cursor",
      pageSize,
    )) {
      fields ??= await fieldTypes(client, page.fields);
      atYield = true;
      yield { fields, rows: page.rows };
      atYield = false;
    }
  } catch (err) {
    // An error the caller threw in through `throw()` is theirs, not the warehouse's.
    throw atYield ? err : toWarehouseError(err, "query", { start: prefix.length, length: model.length });
  } finally {
    await closeClient(client);
  }
}

/**
 * Declares a cursor and yields its pages, the next one fetched while the caller handles the
 * current one (two pages in memory at most). The first page is yielded even when empty (it
 * carries the fields); the loop ends at the first page shorter than `pageSize`.
 */
async function* cursorPages(
  client: Client,
  declare: { name: string; text: string },
  cursor: string,
  pageSize: number,
): AsyncGenerator<QueryArrayResult<RawRow>, void, undefined> {
  await client.query(declare);
  const fetchPage = () => client.query<RawRow>({ text: `FETCH FORWARD ${pageSize} FROM ${cursor}`, rowMode: "array", types: rawTextTypes });
  let next: Promise<QueryArrayResult<RawRow>> | undefined = fetchPage();
  let first = true;
  try {
    while (next) {
      const page: QueryArrayResult<RawRow> = await next;
      next = undefined;
      if (page.rows.length === pageSize) {
        next = fetchPage();
        // Awaited above or in `finally`; this only keeps an early close from reporting it unhandled.
        next.catch(() => undefined);
      }
      if (page.rows.length > 0 || first) yield page;
      first = false;
    }
  } finally {
    if (next) await next.catch(() => undefined);
  }
}

/** What {@link copyQuery} does with a model's result. */
export interface CopyHandler {
  /**
   * The result columns to read, in order, chosen once the model's fields are known (a column may
   * be named twice). What it throws (e.g. a missing mapped column) is rethrown as it is.
   */
  columns(fields: readonly StreamField[]): readonly string[];
  /**
   * One row as a line of COPY text: the chosen columns' values separated by tabs, `\N` for null,
   * escapes as `COPY … TO STDOUT` writes them, a newline at the end. The bytes are valid during
   * the call only. While a returned promise is pending, reading from the warehouse stops.
   * What it throws or rejects with is rethrown as it is, once the query has ended.
   */
  line(bytes: Uint8Array): void | Promise<void>;
}

/** How {@link copyQuery} reads: `copy` needs a connection it can pause, so Neon's WebSocket uses `cursor`. */
export type CopyVia = "copy" | "cursor";

/**
 * Reads a model's rows as COPY text lines, the fastest way out of Postgres: in one read-only
 * REPEATABLE READ transaction, the model is described (`LIMIT 0`, extended protocol, so a second
 * statement is refused), `handler.columns` picks the columns, and `COPY (SELECT <columns> FROM
 * (<sql>) AS model) TO STDOUT` streams every row (extended protocol again). Over TCP the socket is
 * paused while the handler's promise is pending, so memory stays bounded; over Neon's WebSocket,
 * which cannot be paused, the same lines come from cursor pages (`via: "cursor"`, also for tests).
 * Throws {@link WarehouseError}, or what the handler threw.
 */
export async function copyQuery(
  connectionString: string,
  sql: string,
  opts: WarehouseOptions,
  handler: CopyHandler,
  via: CopyVia = parseConnectionString(connectionString).neon ? "cursor" : "copy",
): Promise<{ fields: StreamField[]; rows: number }> {
  const model = modelSql(sql);
  const control = new ReadControl();
  const describePrefix = "SELECT * FROM (\n";
  let span: SqlSpan = { start: describePrefix.length, length: model.length };
  const handlerFailure: { error?: unknown } = {};
  const client = await openClient(connectionString, opts, control);
  try {
    await beginReadOnly(client, opts);
    const described = await client.query({
      name: "retl_copy_describe",
      text: `${describePrefix}${model}\n) AS model LIMIT 0`,
      rowMode: "array",
    });
    const fields = await fieldTypes(client, described.fields);
    let columns: readonly string[];
    try {
      columns = handler.columns(fields);
    } catch (err) {
      handlerFailure.error = err;
      throw err;
    }
    const select = copySelect(model, columns);
    let rows: number;
    if (via === "copy") {
      const prefix = "COPY (";
      span = { start: prefix.length + select.modelAt, length: model.length };
      rows = await copyOut(client, `${prefix}${select.text}) TO STDOUT`, handler, control, handlerFailure);
    } else {
      const prefix = "DECLARE model_copy NO SCROLL CURSOR FOR ";
      span = { start: prefix.length + select.modelAt, length: model.length };
      rows = await cursorLines(client, `${prefix}${select.text}`, handler, handlerFailure);
    }
    await client.query("COMMIT");
    return { fields, rows };
  } catch (err) {
    throw "error" in handlerFailure ? handlerFailure.error : toWarehouseError(err, "query", span);
  } finally {
    control.splitter = null;
    control.open();
    await closeClient(client);
  }
}

/** The driver's hook for protocol flows it does not know (a "submittable", as pg-copy-streams uses). */
interface CopyConnection {
  parse(q: { text: string; name: string; types: number[] }): void;
  bind(b: { portal: string; statement: string; values: unknown[]; binary: boolean }): void;
  execute(e: { portal: string; rows: number }): void;
  sync(): void;
}

/**
 * Runs a `COPY … TO STDOUT` statement, handing each row (a CopyData message) to the handler. On
 * the TCP route a {@link CopyDataSplitter} takes the rows out of the socket's bytes before the
 * driver parses them (much cheaper per row); elsewhere the driver hands them over one by one.
 */
function copyOut(client: Client, text: string, handler: CopyHandler, control: ReadControl, failure: { error?: unknown }): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let rows = 0;
    const waits = new Set<Promise<void>>();
    // A handler failure ends the read at once: the caller closes the connection, which stops the COPY.
    const fail = (err: unknown) => {
      if (!("error" in failure)) failure.error = err;
      control.open();
      reject(err);
    };
    const row = (bytes: Uint8Array) => {
      if ("error" in failure) return;
      rows++;
      try {
        const wait = handler.line(bytes);
        if (!wait) return;
        control.close();
        const tracked: Promise<void> = wait.then(() => {
          waits.delete(tracked);
          if (waits.size === 0) control.open();
        }, fail);
        waits.add(tracked);
      } catch (err) {
        fail(err);
      }
    };
    const submittable = {
      submit(connection: CopyConnection) {
        // Unnamed statement and portal through Parse/Bind/Execute: exactly one statement or an error.
        connection.parse({ text, name: "", types: [] });
        connection.bind({ portal: "", statement: "", values: [], binary: false });
        connection.execute({ portal: "", rows: 0 });
        connection.sync();
      },
      handleCopyData(msg: { chunk: Uint8Array }) {
        row(msg.chunk);
      },
      handleCommandComplete() {},
      handleEmptyQuery() {},
      handleRowDescription() {},
      handleDataRow() {},
      handlePortalSuspended() {},
      handleCopyInResponse() {},
      // The driver drops the query on an error, before the server's ReadyForQuery.
      handleError: (err: unknown) => reject(err),
      handleReadyForQuery() {
        // Rows count as read once the handler's pending work has settled.
        void Promise.all(waits).then(() => ("error" in failure ? undefined : resolve(rows)));
      },
    };
    // The connection is idle (the last query ended with ReadyForQuery): the next byte read starts a message.
    control.splitter = new CopyDataSplitter(row);
    (client as unknown as { query(submittable: unknown): void }).query(submittable);
  });
}

/** Rows per page of {@link copyQuery}'s cursor route. */
const CURSOR_PAGE_ROWS = 5000;

/** The cursor route of {@link copyQuery}: pages of text values encoded as the same COPY lines. */
async function cursorLines(client: Client, declare: string, handler: CopyHandler, failure: { error?: unknown }): Promise<number> {
  let rows = 0;
  let line = new Uint8Array(4096);
  for await (const page of cursorPages(client, { name: "retl_copy_cursor", text: declare }, "model_copy", CURSOR_PAGE_ROWS)) {
    for (const row of page.rows) {
      rows++;
      // One buffer for every line: the handler may use the bytes during the call only.
      const room = maxRowUtf8(row) + 1;
      if (room > line.length) line = new Uint8Array(Math.max(room, 2 * line.length));
      const end = writeRowUtf8(row, line, 0);
      line[end] = 0x0a;
      try {
        const wait = handler.line(line.subarray(0, end + 1));
        if (wait) await wait;
      } catch (err) {
        failure.error = err;
        throw err;
      }
    }
  }
  return rows;
}

/**
 * One text value from Postgres as JSON: booleans and 2/4-byte integers and finite floats as
 * numbers; int8, numeric and money as strings (no precision loss); json/jsonb parsed; timestamps
 * as ISO 8601 strings (`2024-01-02T03:04:05.123456Z`); dates as `YYYY-MM-DD`; bytea in Postgres'
 * hex form (`\x0102`); arrays of those types as JSON arrays; anything else as its text.
 */
export function jsonValue(typeId: number, raw: string | null): JsonValue {
  if (raw === null) return null;
  switch (typeId) {
    case 16:
      return raw === "t";
    case 21:
    case 23:
    case 26:
      return Number(raw);
    case 700:
    case 701: {
      const n = Number(raw);
      return Number.isFinite(n) ? n : raw;
    }
    case 114:
    case 3802:
      return JSON.parse(raw) as JsonValue;
    case 1114:
      return isoTimestamp(raw, false);
    case 1184:
      return isoTimestamp(raw, true);
    default: {
      const element = arrayElementTypes.get(typeId);
      return element === undefined ? raw : parseArray(raw, (v) => jsonValue(element, v));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Connections

interface ConnectionTarget {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  tls: TlsMode;
  options: string | undefined;
  neon: boolean;
}

function parseConnectionString(connectionString: string): ConnectionTarget {
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    throw new WarehouseError("invalid_connection_string", "the connection string is not a valid postgres:// URL");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:")
    throw new WarehouseError("invalid_connection_string", "the connection string must start with postgres:// or postgresql://");
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!host || host.includes(","))
    throw new WarehouseError("invalid_connection_string", "the connection string must name exactly one host");
  const port = url.port ? Number(url.port) : 5432;
  const user = decodeURIComponent(url.username) || "postgres";
  const database = decodeURIComponent(url.pathname.replace(/^\//, "")) || user;
  const sslmode = url.searchParams.get("sslmode") ?? "prefer";
  const tls = sslModes[sslmode];
  if (!tls)
    throw new WarehouseError(
      "invalid_connection_string",
      `unsupported sslmode "${sslmode}"; use disable, prefer, require, verify-ca or verify-full`,
    );
  return {
    host,
    port,
    user,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    database,
    tls,
    options: url.searchParams.get("options") ?? undefined,
    neon: /\.neon\.(tech|build)$/i.test(host),
  };
}

// The runtime always verifies certificates, so every TLS mode verifies (see TlsMode).
const sslModes: Record<string, TlsMode | undefined> = {
  disable: "disable",
  allow: "disable",
  prefer: "prefer",
  require: "require",
  "verify-ca": "require",
  "verify-full": "require",
  "no-verify": "require",
};

/**
 * A connected read-write session with the same routing, TLS and error rules as the model
 * functions, `statementTimeoutMs` as its `statement_timeout` and no transaction open: for tests
 * and database destinations. Close it
 * with {@link closePostgres}. Throws {@link WarehouseError}.
 */
export function connectPostgres(connectionString: string, opts: WarehouseOptions): Promise<Client> {
  return openClient(connectionString, opts);
}

/** Ends a session from {@link connectPostgres}; never throws and gives up waiting after 2 s. */
export function closePostgres(client: Client): Promise<void> {
  return closeClient(client);
}

async function openClient(connectionString: string, opts: WarehouseOptions, control?: ReadControl): Promise<Client> {
  const target = parseConnectionString(connectionString);
  const blocked = opts.allowPrivate ? undefined : blockedHostReason(target.host);
  if (blocked) throw new WarehouseError("host_not_allowed", `${blocked}; private and local hosts are not allowed`);
  const client = new Client({
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    database: target.database,
    options: target.options,
    application_name: opts.applicationName ?? DEFAULT_APPLICATION_NAME,
    statement_timeout: statementTimeout(opts),
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_TIMEOUT_MS,
  });
  if (!target.neon) {
    const config = client.neonConfig;
    config.webSocketConstructor = tcpWebSocketClass({ hostname: target.host, port: target.port, tls: target.tls, control });
    config.wsProxy = (host, port) => `${host}:${port}`;
    config.useSecureWebSocket = false;
    config.pipelineConnect = false;
    config.pipelineTLS = false;
    config.coalesceWrites = false;
    config.forceDisablePgSSL = true;
  }
  // An error while no query is active is emitted as an event; unhandled, it would be thrown.
  client.on("error", () => undefined);

  const timeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const connecting = client.connect();
  connecting.catch(() => undefined);
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new WarehouseError("unreachable", `could not connect to ${target.host}:${target.port} within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([connecting, timedOut]);
    return client;
  } catch (err) {
    // Drop the socket without a Terminate message: after a FATAL the server has already hung up.
    client.neonConfig.destroy();
    throw toWarehouseError(err, "connect");
  } finally {
    clearTimeout(timer);
  }
}

/** Ends the session (the server rolls back any open transaction); never throws or hangs. */
async function closeClient(client: Client): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  // end() waits for an 'end' event that a connection which failed early has already sent.
  const gaveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, 2_000)));
  await Promise.race([client.end().catch(() => undefined), gaveUp]);
  clearTimeout(timer);
}

async function beginReadOnly(client: Client, opts: WarehouseOptions): Promise<void> {
  const timeout = statementTimeout(opts);
  // DateStyle and bytea_output fix the text form of values (DateStyle 'ISO' keeps the input order).
  await client.query(
    `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = ${timeout}; ` +
      `SET LOCAL DateStyle = 'ISO'; SET LOCAL bytea_output = 'hex'`,
  );
}

/** Runs `fn` in a read-only transaction on a fresh connection, always closing it. */
async function withReadOnlyTransaction<T>(
  connectionString: string,
  opts: WarehouseOptions,
  span: SqlSpan,
  fn: (client: Client) => Promise<T>,
): Promise<T> {
  const client = await openClient(connectionString, opts);
  try {
    await beginReadOnly(client, opts);
    return await fn(client);
  } catch (err) {
    throw toWarehouseError(err, "query", span);
  } finally {
    await closeClient(client);
  }
}

function statementTimeout(opts: WarehouseOptions): number {
  return Math.max(1, Math.floor(opts.statementTimeoutMs) || 1);
}

// ---------------------------------------------------------------------------------------------
// Model SQL and result types

const allowedLeadingWords = new Set(["select", "with", "values", "table"]);
const writeLeadingWords = new Set([
  "insert",
  "update",
  "delete",
  "merge",
  "create",
  "drop",
  "alter",
  "truncate",
  "grant",
  "revoke",
  "copy",
  "call",
  "do",
  "comment",
  "refresh",
  "reindex",
  "vacuum",
  "cluster",
  "lock",
  "import",
  "security",
]);

/** The model SQL without one trailing `;`, refusing statements that are not queries. */
function modelSql(sql: string): string {
  const model = sql.trim().replace(/;\s*$/, "").trimEnd();
  const word = leadingWord(model);
  if (!word) throw new WarehouseError("query_failed", "the model SQL is empty");
  if (writeLeadingWords.has(word))
    throw new WarehouseError("read_only", `a model must be a read-only query; ${word.toUpperCase()} statements are not allowed`);
  if (!allowedLeadingWords.has(word))
    throw new WarehouseError(
      "query_failed",
      `a model must be a query starting with SELECT, WITH, VALUES or TABLE, not ${word.toUpperCase()}`,
    );
  return model;
}

/** The first keyword, skipping whitespace, comments and opening parentheses. */
function leadingWord(sql: string): string | undefined {
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    if (c === "(" || (c !== undefined && /\s/.test(c))) i++;
    else if (sql.startsWith("--", i)) {
      const end = sql.indexOf("\n", i);
      i = end === -1 ? sql.length : end + 1;
    } else if (sql.startsWith("/*", i)) {
      // Postgres block comments nest.
      let depth = 0;
      do {
        if (sql.startsWith("/*", i)) depth++, (i += 2);
        else if (sql.startsWith("*/", i)) depth--, (i += 2);
        else i++;
      } while (depth > 0 && i < sql.length);
    } else break;
  }
  return /^[a-z_]+/i.exec(sql.slice(i))?.[0]?.toLowerCase();
}

// Values stay as Postgres' text: the stream hashes them as sent; jsonValue converts later.
const identity = (value: string): string => value;
const rawTextTypes = { getTypeParser: () => identity };

// Built-in type OIDs are the same on every server; others are looked up in pg_type.
const builtinTypeNames = new Map<number, string>([
  [16, "bool"],
  [17, "bytea"],
  [18, "char"],
  [19, "name"],
  [20, "int8"],
  [21, "int2"],
  [23, "int4"],
  [25, "text"],
  [26, "oid"],
  [114, "json"],
  [142, "xml"],
  [650, "cidr"],
  [700, "float4"],
  [701, "float8"],
  [790, "money"],
  [829, "macaddr"],
  [869, "inet"],
  [1042, "bpchar"],
  [1043, "varchar"],
  [1082, "date"],
  [1083, "time"],
  [1114, "timestamp"],
  [1184, "timestamptz"],
  [1186, "interval"],
  [1266, "timetz"],
  [1560, "bit"],
  [1562, "varbit"],
  [1700, "numeric"],
  [2950, "uuid"],
  [3802, "jsonb"],
]);
const arrayElementTypes = new Map<number, number>([
  [1000, 16],
  [1001, 17],
  [1005, 21],
  [1007, 23],
  [1009, 25],
  [1014, 1042],
  [1015, 1043],
  [1016, 20],
  [1021, 700],
  [1022, 701],
  [1115, 1114],
  [1182, 1082],
  [1183, 1083],
  [1185, 1184],
  [1231, 1700],
  [2951, 2950],
  [199, 114],
  [3807, 3802],
]);
for (const [arrayId, elementId] of arrayElementTypes) {
  const element = builtinTypeNames.get(elementId);
  if (element) builtinTypeNames.set(arrayId, `${element}[]`);
}

/** Names and types of result fields; refuses duplicate column names (rows are mapped by name). */
async function fieldTypes(client: Client, fields: FieldDef[]): Promise<StreamField[]> {
  const seen = new Set<string>();
  for (const f of fields) {
    if (seen.has(f.name))
      throw new WarehouseError("query_failed", `column name "${f.name}" appears more than once; give each column a unique alias`);
    seen.add(f.name);
  }
  const unknown = [...new Set(fields.map((f) => f.dataTypeID).filter((id) => !builtinTypeNames.has(id)))];
  const names = new Map<number, string>();
  if (unknown.length > 0) {
    const result = await client.query<{ oid: number; name: string }>(
      `SELECT t.oid::int4 AS oid, CASE WHEN e.oid IS NULL THEN t.typname ELSE e.typname || '[]' END AS name
         FROM pg_type t LEFT JOIN pg_type e ON e.typarray = t.oid WHERE t.oid = ANY($1::oid[])`,
      [unknown],
    );
    for (const row of result.rows) names.set(row.oid, row.name);
  }
  return fields.map((f) => ({
    name: f.name,
    typeId: f.dataTypeID,
    type: builtinTypeNames.get(f.dataTypeID) ?? names.get(f.dataTypeID) ?? String(f.dataTypeID),
  }));
}

/** `2024-01-02 03:04:05.5+05:30` → `2024-01-02T03:04:05.5+05:30`; `+00` → `Z`; BC and infinity unchanged. */
function isoTimestamp(raw: string, withZone: boolean): string {
  const m = /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)(?:([+-]\d\d)(?::(\d\d))?(?::(\d\d))?)?$/.exec(raw);
  if (!m) return raw;
  const [, date, time, hours, minutes, seconds] = m;
  if (!withZone || hours === undefined) return `${date}T${time}`;
  if (hours === "+00" && !minutes && !seconds) return `${date}T${time}Z`;
  return `${date}T${time}${hours}:${minutes ?? "00"}${seconds ? `:${seconds}` : ""}`;
}

/** Parses Postgres' array text (`{1,NULL,"a \"b\""}`, nested, optional `[1:2]=` bounds). */
function parseArray(raw: string, element: (value: string) => JsonValue): JsonValue {
  let i = raw.startsWith("[") ? raw.indexOf("=") + 1 : 0;
  const parseLevel = (): JsonValue[] => {
    const out: JsonValue[] = [];
    i++; // "{"
    while (i < raw.length) {
      const c = raw[i];
      if (c === "}") {
        i++;
        return out;
      }
      if (c === ",") i++;
      else if (c === "{") out.push(parseLevel());
      else if (c === '"') {
        let value = "";
        i++;
        while (i < raw.length && raw[i] !== '"') {
          if (raw[i] === "\\") i++;
          value += raw[i] ?? "";
          i++;
        }
        i++;
        out.push(element(value));
      } else {
        let end = i;
        while (end < raw.length && raw[end] !== "," && raw[end] !== "}") end++;
        const value = raw.slice(i, end);
        out.push(value === "NULL" ? null : element(value));
        i = end;
      }
    }
    return out;
  };
  return raw[i] === "{" ? parseLevel() : raw;
}

// ---------------------------------------------------------------------------------------------
// Errors

/** Where the model SQL sits in the text sent to Postgres, to map error positions back onto it. */
interface SqlSpan {
  start: number;
  length: number;
}

/** Classifies anything the driver threw. */
function toWarehouseError(err: unknown, phase: "connect" | "query", span?: SqlSpan): WarehouseError {
  if (err instanceof WarehouseError) return err;
  if (err instanceof TcpSocketError) {
    if (err.code === "connect_failed") return new WarehouseError("unreachable", err.message, { cause: err });
    if (err.code === "not_postgres") return new WarehouseError("unreachable", err.message, { cause: err, retryable: false });
    if (err.code === "tls_refused" || err.code === "tls_failed") return new WarehouseError("tls_failed", err.message, { cause: err });
    return new WarehouseError(phase === "connect" ? "unreachable" : "connection_lost", err.message, { cause: err });
  }
  if (isDatabaseError(err)) return fromSqlState(err, span);
  const message = err instanceof Error ? err.message : String(err);
  return new WarehouseError(phase === "connect" ? "unreachable" : "connection_lost", message || "the connection failed", { cause: err });
}

function isDatabaseError(err: unknown): err is DatabaseError {
  return (
    err instanceof DatabaseError || (err instanceof Error && "severity" in err && typeof (err as { code?: unknown }).code === "string")
  );
}

function fromSqlState(err: DatabaseError, span: SqlSpan | undefined): WarehouseError {
  const sqlstate = err.code ?? "";
  const extra = { sqlstate, cause: err };
  switch (sqlstate) {
    case "28P01":
    case "28000":
      return new WarehouseError("auth_failed", err.message, extra);
    case "3D000":
      return new WarehouseError("database_not_found", err.message, extra);
    case "57014":
      return new WarehouseError("timeout", `the query was cancelled: ${err.message}`, extra);
    case "25006":
      return new WarehouseError("read_only", `a model must be read-only: ${err.message}`, extra);
    case "42501":
      return new WarehouseError("permission_denied", err.message, extra);
    case "53300":
    case "57P01":
    case "57P02":
    case "57P03":
      return new WarehouseError("unreachable", err.message, extra);
  }
  if (sqlstate === "0A000" && /data-modifying/i.test(err.message))
    return new WarehouseError("read_only", `a model must be read-only: ${err.message}`, extra);
  if (sqlstate.startsWith("08")) return new WarehouseError("connection_lost", err.message, extra);

  const sent = Number(err.position);
  const inModel = span !== undefined && Number.isInteger(sent) && sent > span.start && sent <= span.start + span.length;
  const position = inModel ? sent - span.start : undefined;
  const where = position === undefined ? "" : ` (at character ${position} of the model SQL)`;
  const detail = err.detail ? `; ${err.detail}` : "";
  const hint = err.hint ? `; hint: ${err.hint}` : "";
  // Serialization failures, deadlocks and resource shortages may pass on a second try.
  const retryable = sqlstate.startsWith("40") || sqlstate.startsWith("53");
  return new WarehouseError("query_failed", `${err.message}${where}${detail}${hint}`, { ...extra, position, retryable });
}
