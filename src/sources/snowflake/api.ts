import { isRecord } from "../../lib/http";
import { WarehouseError, type WarehouseErrorCode } from "../errors";
import type { WarehouseOptions } from "../source";
import { pollDelayMs, sleep, warehouseFetch } from "../statement-http";
import type { SnowflakeAuth } from "./auth";
import type { RowType } from "./values";

/**
 * Snowflake's SQL API v2 (reference: https://docs.snowflake.com/en/developer-guide/sql-api/reference,
 * responses: https://docs.snowflake.com/en/developer-guide/sql-api/handling-responses):
 * `POST /api/v2/statements` runs one statement (`MULTI_STATEMENT_COUNT` 1, the statement timeout
 * as `timeout`); 200 carries the result's metadata and its first partition, 202 means it is still
 * running: `GET /api/v2/statements/{handle}` is polled until it is done, and
 * `GET …/{handle}?partition=N` reads the other partitions. Partitions after the first come
 * gzip-compressed; fetch decodes them when `Content-Encoding: gzip` says so, and a body that is
 * still gzip (magic bytes 1f 8b) is decompressed here.
 */

/** Where and as whom the source connects, and the session's context. */
export interface SnowflakeConnection {
  /** The API's base URL: `config.endpoint`, or `https://<account>.snowflakecomputing.com`. */
  baseUrl: string;
  auth: SnowflakeAuth;
  warehouse?: string;
  database?: string;
  schema?: string;
  role?: string;
  opts: WarehouseOptions;
}

/** A finished statement: its columns, partitions and the first partition's rows. */
export interface StatementResult {
  handle: string;
  columns: RowType[];
  /** Rows per partition, from `partitionInfo` (one partition when it is absent). */
  partitionRows: number[];
  firstRows: Row[];
}

/** One result row: the API's strings, null for SQL NULL. */
export type Row = (string | null)[];

const USER_AGENT = "edge-reverse-etl/1.0";
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
// A partition's headers come within this; its body is read as the rows are handled (see ./rows.ts).
const PARTITION_TIMEOUT_MS = 60_000;

/** The statement timeout in whole seconds, as the `timeout` field takes it (0 would mean 7 days). */
export function timeoutSeconds(opts: WarehouseOptions): number {
  return Math.max(1, Math.ceil(opts.statementTimeoutMs / 1000));
}

/**
 * Runs one statement and waits for its result: submits it, polls while it runs (until the
 * statement timeout plus the connect timeout have passed; then it is cancelled), and checks
 * what Snowflake reports before any row is read: a statement that changed rows (`stats`) or ran
 * several statements (`statementHandles`) is refused with `read_only`. Throws {@link WarehouseError}.
 */
export async function runStatement(
  conn: SnowflakeConnection,
  sql: string,
  maxSeconds = timeoutSeconds(conn.opts),
): Promise<StatementResult> {
  const connectMs = conn.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const deadline = Date.now() + maxSeconds * 1000 + connectMs;
  const body = JSON.stringify({
    statement: sql,
    timeout: maxSeconds,
    ...(conn.warehouse ? { warehouse: conn.warehouse } : {}),
    ...(conn.database ? { database: conn.database } : {}),
    ...(conn.schema ? { schema: conn.schema } : {}),
    ...(conn.role ? { role: conn.role } : {}),
    parameters: { MULTI_STATEMENT_COUNT: "1" },
  });
  const requestId = crypto.randomUUID();
  let answer = await request(conn, "POST", `/api/v2/statements?requestId=${requestId}&nullable=true`, deadline, body);
  let handle = handleOf(answer.json);
  for (let poll = 0; answer.status === 202; poll++) {
    const wait = Math.min(pollDelayMs(poll), deadline - Date.now());
    if (wait <= 0) {
      if (handle) await cancel(conn, handle);
      throw new WarehouseError("timeout", `Snowflake's statement did not finish within ${maxSeconds} s (queued or running)`);
    }
    await sleep(wait);
    if (!handle) throw new WarehouseError("unreachable", "Snowflake answered 202 without a statement handle", { retryable: false });
    answer = await request(conn, "GET", `/api/v2/statements/${encodeURIComponent(handle)}`, deadline);
    handle = handleOf(answer.json) ?? handle;
  }
  if (answer.status !== 200) throw snowflakeError(answer.status, answer.json);
  return resultOf(answer.json, handle);
}

/**
 * Partition `n` (≥ 1) of a finished statement, once its headers arrived: its body is left unread
 * (read it with ./rows.ts `streamRows`), so fetching ahead costs a connection, not memory.
 */
export async function fetchPartition(conn: SnowflakeConnection, handle: string, n: number): Promise<ReadableStream<Uint8Array>> {
  const answer = await request(
    conn,
    "GET",
    `/api/v2/statements/${encodeURIComponent(handle)}?partition=${n}`,
    Date.now() + PARTITION_TIMEOUT_MS,
    undefined,
    true,
  );
  if (!answer.stream) throw snowflakeError(answer.status, answer.json);
  return answer.stream;
}

/** Asks Snowflake to stop a statement (best effort: the statement timeout stops it anyway). */
async function cancel(conn: SnowflakeConnection, handle: string): Promise<void> {
  const deadline = Date.now() + (conn.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  await request(conn, "POST", `/api/v2/statements/${encodeURIComponent(handle)}/cancel`, deadline, "{}").catch(() => undefined);
}

/** One API request, retried on 429/503/504; its JSON body (gzip or not). */
async function request(
  conn: SnowflakeConnection,
  method: "GET" | "POST",
  path: string,
  deadline: number,
  body?: string,
  stream = false,
): Promise<{ status: number; json: unknown; stream?: ReadableStream<Uint8Array> }> {
  const url = `${conn.baseUrl.replace(/\/+$/, "")}${path}`;
  const connectMs = conn.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const headers: Record<string, string> = {
    ...(await conn.auth.headers()),
    accept: "application/json",
    "accept-encoding": "gzip",
    "user-agent": USER_AGENT,
    ...(body === undefined ? {} : { "content-type": "application/json" }),
  };
  // Without async=true Snowflake holds a statement's request up to 45 s before answering 202.
  const timeoutMs = Math.max(connectMs, Math.min(60_000, deadline - Date.now())) + connectMs;
  const res = await warehouseFetch(url, { method, headers, body }, { vendor: "Snowflake", timeoutMs, deadline, stream });
  if (res.stream) return { status: res.status, json: undefined, stream: res.stream };
  const text = await decodeBody(res.body);
  let json: unknown;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (json === undefined && res.status < 300 && res.status !== 204)
    throw new WarehouseError("unreachable", `not a Snowflake SQL API answer (HTTP ${res.status}): ${text.slice(0, 200)}`, {
      retryable: false,
    });
  if (json === undefined && text) json = { message: text.slice(0, 500) };
  return { status: res.status, json };
}

/** A body as text; gzip that fetch did not decode (no `Content-Encoding` header) is decompressed. */
async function decodeBody(bytes: Uint8Array): Promise<string> {
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return new TextDecoder().decode(bytes);
  try {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return await new Response(stream).text();
  } catch (err) {
    throw new WarehouseError("connection_lost", `Snowflake's gzip answer could not be decompressed: ${String(err)}`, { cause: err });
  }
}

function handleOf(json: unknown): string | undefined {
  return isRecord(json) && typeof json.statementHandle === "string" ? json.statementHandle : undefined;
}

/** The result of a 200 answer, once it is known to be one query's rows. */
function resultOf(json: unknown, handle: string | undefined): StatementResult {
  if (!isRecord(json) || !isRecord(json.resultSetMetaData) || !handle)
    throw new WarehouseError("unreachable", "Snowflake's answer has no resultSetMetaData", { retryable: false });
  if (Array.isArray(json.statementHandles) && json.statementHandles.length > 1)
    throw new WarehouseError("read_only", "a model must be one query; Snowflake ran several statements");
  const stats = isRecord(json.stats) ? json.stats : {};
  const changed = ["numRowsInserted", "numRowsUpdated", "numRowsDeleted", "numDuplicateRowsUpdated"].filter(
    (k) => typeof stats[k] === "number",
  );
  if (changed.length > 0)
    throw new WarehouseError(
      "read_only",
      `a model must be a read-only query; Snowflake reports a statement that writes (${changed.join(", ")})`,
    );
  const meta = json.resultSetMetaData;
  const columns = Array.isArray(meta.rowType) ? (meta.rowType as RowType[]) : [];
  const firstRows = Array.isArray(json.data) ? (json.data as Row[]) : [];
  const info = Array.isArray(meta.partitionInfo) ? meta.partitionInfo : [];
  const partitionRows = info.length === 0 ? [firstRows.length] : info.map((p) => (isRecord(p) ? Number(p.rowCount) || 0 : 0));
  if (firstRows.length !== partitionRows[0])
    throw new WarehouseError("connection_lost", `Snowflake's first partition has ${firstRows.length} rows, ${partitionRows[0]} announced`);
  return { handle, columns, partitionRows, firstRows };
}

// Snowflake error codes (the answer's `code`) onto ours; see the module comment of ./index.ts.
const codes = new Map<string, WarehouseErrorCode>([
  ["390144", "auth_failed"], // JWT token is invalid
  ["390100", "auth_failed"], // incorrect username or password
  ["390303", "auth_failed"], // invalid OAuth access token
  ["390318", "auth_failed"], // OAuth access token expired
  ["394300", "auth_failed"], // programmatic access token invalid
  ["390189", "auth_failed"], // role does not exist or not authorized
  ["390201", "database_not_found"], // the requested database does not exist or not authorized
  ["000606", "auth_failed"], // no active warehouse selected (the source's warehouse)
  ["000630", "timeout"], // statement reached its statement or warehouse timeout
  ["000604", "timeout"], // SQL execution canceled
  ["003001", "permission_denied"], // insufficient privileges
]);

/** A Snowflake error answer (`{code, message, sqlState}`) as a {@link WarehouseError}. */
function snowflakeError(status: number, json: unknown): WarehouseError {
  const body = isRecord(json) ? json : {};
  const code = typeof body.code === "string" ? body.code : undefined;
  const sqlstate = typeof body.sqlState === "string" ? body.sqlState : undefined;
  const message = `Snowflake: ${String(body.message ?? `HTTP ${status}`).slice(0, 2000)}${code ? ` (${code})` : ""}`;
  const mapped = code ? codes.get(code) : undefined;
  if (mapped) return new WarehouseError(mapped, message, { sqlstate });
  if (status === 408) return new WarehouseError("timeout", message, { sqlstate });
  if (status === 401 || status === 403) return new WarehouseError("auth_failed", message, { sqlstate });
  if (status === 429 || status >= 500) return new WarehouseError("unreachable", message, { sqlstate });
  if (sqlstate === "42501") return new WarehouseError("permission_denied", message, { sqlstate });
  if (status === 422) return new WarehouseError("query_failed", message, { sqlstate });
  return new WarehouseError("unreachable", `not a Snowflake SQL API answer (HTTP ${status}): ${message}`, { retryable: false, sqlstate });
}
