// Over 400 lines: one fake Snowflake SQL API (auth, statements, polling, partitions, errors, limits) executing on the local Postgres.
import { createHash, createPublicKey, randomUUID, verify } from "node:crypto";
import { createServer, type Server, type ServerResponse } from "node:http";
import { gzipSync } from "node:zlib";
import pg from "pg";
import { json, readBody, tenants } from "./http";

/**
 * A fake Snowflake account for the Snowflake source tests: the SQL API v2 as documented, running
 * each statement on the local Postgres and answering in Snowflake's JSON encoding.
 *
 * Documented contract followed (cited):
 * - Operations, request body (`statement`, `timeout`, `warehouse`, `database`, `schema`, `role`,
 *   `parameters`), `?requestId`, `?async`, `?nullable`, `?partition=N`, the `ResultSet`,
 *   `QueryStatus` and `QueryFailureStatus` shapes, 202 while running, 408 for a statement past its
 *   timeout, 422 for a failed statement, 429 when limited: "Snowflake SQL API reference",
 *   https://docs.snowflake.com/en/developer-guide/sql-api/reference (and the OpenAPI file,
 *   https://github.com/snowflakedb/snowflake-rest-api-specs/blob/main/specifications/sqlapi.yaml).
 * - 45 s synchronous wait then 202 + `statementStatusUrl`, partitions (`partitionInfo`, the first
 *   in the POST answer, the others by `GET …?partition=N`, gzip-compressed), values as strings:
 *   "Handling responses", https://docs.snowflake.com/en/developer-guide/sql-api/handling-responses.
 * - Key-pair JWT (iss `ACCOUNT.USER.SHA256:<fingerprint>`, sub `ACCOUNT.USER`, at most 1 hour,
 *   `X-Snowflake-Authorization-Token-Type: KEYPAIR_JWT`; code 390144 "JWT token is invalid") and
 *   OAuth / programmatic access tokens: "Authenticating to the server",
 *   https://docs.snowflake.com/en/developer-guide/sql-api/authenticating and
 *   https://docs.snowflake.com/en/developer-guide/snowflake-rest-api/authentication.
 * - `MULTI_STATEMENT_COUNT` (default 1; code 000008 "Actual statement count N did not match the
 *   desired statement count 1"): https://docs.snowflake.com/en/developer-guide/sql-api/submitting-multiple-statements.
 *
 * Each account lives under `/t/{name}/` (the source's `config.endpoint` is `<base>/t/{name}`), so
 * test files running in parallel never meet. Control: `POST /t/{name}/_config` (a partial
 * {@link AccountConfig}; answers the registered key's fingerprint as Node's OpenSSL computes it)
 * and `GET /t/{name}/_state` (the requests seen).
 *
 * Postgres stands in for the warehouse: a role of kind "read" runs in a read-only transaction
 * (what a role with USAGE + SELECT only can do), a "write" role may write (and the answer then
 * carries `stats`, as Snowflake's does). Column names come back upper case (Snowflake's unquoted
 * identifiers). Types: int/numeric → FIXED (unconstrained numeric as NUMBER(38,9)), float → REAL,
 * bool → BOOLEAN, date → DATE, time → TIME, timestamp → TIMESTAMP_NTZ, timestamptz →
 * TIMESTAMP_LTZ, or TIMESTAMP_TZ (offset of the session's `TIMEZONE` parameter) for a column whose
 * name ends in `_tz`; json → VARIANT, jsonb → OBJECT, arrays → ARRAY, bytea → BINARY, the rest TEXT.
 */
export interface AccountConfig {
  account: string;
  user: string;
  /** The user's registered RSA public key (SPKI PEM), as `ALTER USER … SET RSA_PUBLIC_KEY` does. */
  public_key: string | null;
  /** OAuth access tokens and programmatic access tokens the account accepts. */
  tokens: string[];
  /** Roles granted to the user: "read" (USAGE + SELECT) or "write". */
  roles: Record<string, "read" | "write">;
  default_role: string;
  warehouses: string[];
  databases: string[];
  /** Rows per result partition. */
  partition_rows: number;
  /**
   * How long a statement waits in the warehouse's queue before it starts (queued time does not
   * count towards its `timeout`; STATEMENT_QUEUED_TIMEOUT_IN_SECONDS is separate).
   */
  queued_ms: number;
  /** How long a POST waits for its statement before answering 202 (Snowflake: 45 s). */
  sync_wait_ms: number;
  /** Partitions after the first: gzip with `Content-Encoding: gzip`, gzip bytes without the header, or plain. */
  partition_encoding: "gzip" | "gzip-bare" | "identity";
  /** Canned answers for the next matching requests, in order. */
  faults: Fault[];
}

interface Fault {
  /** Which requests it answers: statement submissions, status polls or partition reads. */
  on: "submit" | "status" | "partition";
  status: number;
  body?: unknown;
  retry_after?: string;
  times?: number;
}

interface RequestLog {
  method: string;
  path: string;
  status: number;
  token_type?: string;
  /** Arrival time (ms since the epoch), for spacing checks. */
  at: number;
}

interface Statement {
  handle: string;
  done: Promise<void>;
  result?: { body: Record<string, unknown>; partitions: unknown[][][] };
  failure?: { status: number; body: Record<string, unknown> };
  pid?: number;
  cancelled?: boolean;
}

interface Account {
  config: AccountConfig;
  requests: RequestLog[];
  statements: Map<string, Statement>;
}

const defaults = (): AccountConfig => ({
  account: "XY12345",
  user: "RETL",
  public_key: null,
  tokens: [],
  roles: { RETL_READER: "read", SYSADMIN: "write" },
  default_role: "RETL_READER",
  warehouses: ["COMPUTE_WH"],
  databases: ["ANALYTICS"],
  partition_rows: 1000,
  queued_ms: 0,
  sync_wait_ms: 45_000,
  partition_encoding: "gzip",
  faults: [],
});

const RELEASE = "9.38.1";
const warehouseUrl = process.env.TEST_WAREHOUSE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** Starts the fake on 127.0.0.1. */
export function startFakeSnowflake(port = 0): Promise<{ server: Server; port: number }> {
  const accounts = tenants<Account>(() => ({ config: defaults(), requests: [], statements: new Map() }));
  const pool = new pg.Pool({ connectionString: warehouseUrl, max: 6, idleTimeoutMillis: 1000, allowExitOnIdle: true });
  pool.on("error", () => undefined);
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const found = accounts.route(url);
    if (!found) return json(res, 404, { message: "no such account path" });
    const { tenant: account, path } = found;
    const arrived = Date.now();
    const raw = await readBody(req);
    if (path === "/_config" && req.method === "POST") {
      account.config = { ...defaults(), ...(JSON.parse(raw || "{}") as Partial<AccountConfig>) };
      account.config.faults = account.config.faults.map((f) => ({ ...f }));
      return json(res, 200, { fingerprint: account.config.public_key ? fingerprint(account.config.public_key) : null });
    }
    if (path === "/_state" && req.method === "GET") return json(res, 200, { requests: account.requests });
    const acct = account;
    const log = (status: number) =>
      acct.requests.push({
        method: req.method ?? "",
        path: path + url.search,
        status,
        token_type: req.headers["x-snowflake-authorization-token-type"] as string | undefined,
        at: arrived,
      });
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      log(status);
      json(res, status, body, headers);
    };

    if (!req.headers["user-agent"]) return send(400, { code: "391903", message: "User-Agent header is required." });
    const authFailure = authenticate(acct.config, req.headers.authorization, req.headers["x-snowflake-authorization-token-type"]);
    if (authFailure) return send(401, authFailure);

    const kind = path === "/api/v2/statements" ? "submit" : url.searchParams.has("partition") ? "partition" : "status";
    const fault = acct.config.faults.find((f) => f.on === kind);
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) acct.config.faults.splice(acct.config.faults.indexOf(fault), 1);
      return send(fault.status, fault.body ?? { code: "000000", message: `fault ${fault.status}` }, {
        ...(fault.retry_after === undefined ? {} : { "retry-after": fault.retry_after }),
      });
    }

    if (path === "/api/v2/statements" && req.method === "POST") {
      const body = parseJson(raw);
      const refused = refuseSubmission(acct.config, body);
      if (refused) return send(refused.status, refused.body);
      const statement = start(pool, acct, body as Submission);
      if (url.searchParams.get("async") !== "true") {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([statement.done, new Promise((r) => (timer = setTimeout(r, acct.config.sync_wait_ms)))]);
        clearTimeout(timer);
      }
      return answer(statement, 0, send, res, acct, log);
    }
    const handleMatch = /^\/api\/v2\/statements\/([^/]+)(\/cancel)?$/.exec(path);
    const statement = handleMatch ? acct.statements.get(handleMatch[1] ?? "") : undefined;
    if (!handleMatch || !statement)
      return send(handleMatch ? 422 : 404, { code: "000709", sqlState: "02000", message: "Statement not found." });
    if (handleMatch[2] && req.method === "POST") {
      statement.cancelled = true;
      if (statement.pid !== undefined) await pool.query("SELECT pg_cancel_backend($1)", [statement.pid]).catch(() => undefined);
      return send(200, { message: "successfully canceled", statementHandle: statement.handle });
    }
    if (req.method !== "GET") return send(405, { message: "Method Not Allowed" });
    return answer(statement, Number(url.searchParams.get("partition") ?? 0), send, res, acct, log);
  });
  server.on("close", () => void pool.end().catch(() => undefined));
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      resolve({ server, port: typeof address === "object" && address ? address.port : port });
    });
  });
}

type Send = (status: number, body: unknown, headers?: Record<string, string>) => void;

/** The answer for a statement: 202 while it runs, its failure, or partition `n` of its result. */
function answer(statement: Statement, n: number, send: Send, res: ServerResponse, account: Account, log: (s: number) => void): void {
  if (!statement.result && !statement.failure) {
    send(202, {
      code: "333334",
      message: "Asynchronous execution in progress. Use provided query id to perform query monitoring and management.",
      statementHandle: statement.handle,
      statementStatusUrl: `/api/v2/statements/${statement.handle}`,
    });
    return;
  }
  if (statement.failure) {
    send(statement.failure.status, statement.failure.body);
    return;
  }
  const result = statement.result as NonNullable<Statement["result"]>;
  if (n === 0) {
    send(200, { ...result.body, data: result.partitions[0] ?? [] });
    return;
  }
  const partition = result.partitions[n];
  if (!partition) {
    send(422, { code: "000000", message: `partition ${n} does not exist`, statementHandle: statement.handle });
    return;
  }
  // Partitions after the first come gzip-compressed.
  const text = JSON.stringify({ data: partition });
  const encoding = account.config.partition_encoding;
  log(200);
  if (encoding === "identity") {
    res.writeHead(200, { "content-type": "application/json" });
    return void res.end(text);
  }
  res.writeHead(200, {
    "content-type": "application/json",
    ...(encoding === "gzip" ? { "content-encoding": "gzip" } : {}),
  });
  res.end(gzipSync(text));
}

/** The failure body of a refused credential, or undefined when the request is authenticated. */
function authenticate(config: AccountConfig, authorization: string | undefined, tokenType: string | string[] | undefined) {
  const token = /^Bearer (.+)$/.exec(authorization ?? "")?.[1];
  const requestId = randomUUID();
  if (!token) return { code: "390101", message: `Authorization header is missing. [${requestId}]` };
  if (tokenType === "KEYPAIR_JWT") {
    return verifyJwt(config, token) ? undefined : { code: "390144", message: `JWT token is invalid. [${requestId}]` };
  }
  if (tokenType !== undefined && tokenType !== "OAUTH" && tokenType !== "PROGRAMMATIC_ACCESS_TOKEN")
    return { code: "390101", message: `Unsupported token type ${String(tokenType)}. [${requestId}]` };
  return config.tokens.includes(token) ? undefined : { code: "390303", message: `Invalid OAuth access token. [${requestId}]` };
}

/** `SHA256:<base64 of the SHA-256 of the public key's DER>`, as DESCRIBE USER shows RSA_PUBLIC_KEY_FP. */
function fingerprint(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: "spki", format: "der" });
  return `SHA256:${createHash("sha256").update(der).digest("base64")}`;
}

function verifyJwt(config: AccountConfig, jwt: string): boolean {
  if (!config.public_key) return false;
  const [header, payload, signature] = jwt.split(".");
  if (!header || !payload || !signature) return false;
  try {
    const head = JSON.parse(Buffer.from(header, "base64url").toString()) as { alg?: string };
    if (head.alg !== "RS256") return false;
    const ok = verify(
      "RSA-SHA256",
      Buffer.from(`${header}.${payload}`),
      createPublicKey(config.public_key),
      Buffer.from(signature, "base64url"),
    );
    if (!ok) return false;
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as { iss?: string; sub?: string; iat?: number; exp?: number };
    const subject = `${config.account}.${config.user}`.toUpperCase();
    const now = Math.floor(Date.now() / 1000);
    return (
      claims.sub === subject &&
      claims.iss === `${subject}.${fingerprint(config.public_key)}` &&
      typeof claims.exp === "number" &&
      typeof claims.iat === "number" &&
      claims.exp > now &&
      claims.exp - claims.iat <= 3600 &&
      claims.iat <= now + 60
    );
  } catch {
    return false;
  }
}

interface Submission {
  statement: string;
  timeout?: number;
  warehouse?: string;
  database?: string;
  schema?: string;
  role?: string;
  parameters?: Record<string, string>;
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

const failure = (status: number, code: string, sqlState: string, message: string) => ({
  status,
  body: { code, sqlState, message, statementHandle: randomUUID() },
});

/** Why Snowflake would refuse the submission before running it, or undefined. */
function refuseSubmission(config: AccountConfig, body: unknown) {
  if (typeof body !== "object" || body === null || typeof (body as Submission).statement !== "string")
    return { status: 400, body: { code: "391902", message: "Invalid request body: statement is required." } };
  const s = body as Submission;
  const role = s.role ?? config.default_role;
  if (!config.roles[role])
    return failure(422, "390189", "08004", `Role '${role}' specified in the connect string does not exist or not authorized.`);
  if (!s.warehouse || !config.warehouses.includes(s.warehouse))
    return failure(
      422,
      "000606",
      "57P03",
      "No active warehouse selected in the current session.  Select an active warehouse with the 'use warehouse' command.",
    );
  if (s.database && !config.databases.includes(s.database))
    return failure(422, "390201", "08004", "The requested database does not exist or not authorized.");
  const wanted = Number(s.parameters?.MULTI_STATEMENT_COUNT ?? s.parameters?.multi_statement_count ?? 1);
  const count = statementCount(s.statement);
  if (wanted !== 0 && count !== wanted)
    return failure(422, "000008", "0A000", `Actual statement count ${count} did not match the desired statement count ${wanted}.`);
  return undefined;
}

/** Statements in a text: `;` outside quotes and comments, a trailing one not counting. */
function statementCount(sql: string): number {
  let count = 1;
  let quote: string | undefined;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === "-" && sql[i + 1] === "-") i = sql.indexOf("\n", i) === -1 ? sql.length : sql.indexOf("\n", i);
    else if (c === ";" && sql.slice(i + 1).trim() !== "") count++;
  }
  return count;
}

/** Starts a statement on Postgres; `done` resolves when it has a result or a failure. */
function start(pool: pg.Pool, account: Account, s: Submission): Statement {
  const statement: Statement = { handle: randomUUID(), done: Promise.resolve() };
  account.statements.set(statement.handle, statement);
  const timeout = s.timeout === undefined || s.timeout === 0 ? 172_800 : s.timeout;
  const zone = s.parameters?.TIMEZONE ?? s.parameters?.timezone ?? "UTC";
  const readOnly = account.config.roles[s.role ?? account.config.default_role] === "read";
  const canceled = {
    status: 422,
    body: { code: "000604", sqlState: "57014", message: "SQL execution canceled", statementHandle: statement.handle },
  };
  statement.done = (async () => {
    const queuedUntil = Date.now() + account.config.queued_ms;
    while (Date.now() < queuedUntil && !statement.cancelled)
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, queuedUntil - Date.now())).unref());
    if (statement.cancelled) {
      statement.failure = canceled;
      return;
    }
    const client = await pool.connect();
    try {
      statement.pid = (client as unknown as { processID: number }).processID;
      await client.query(`BEGIN${readOnly ? " READ ONLY" : ""}`);
      await client.query(`SET LOCAL statement_timeout = ${timeout * 1000}`);
      await client.query(`SET LOCAL TIME ZONE '${zone.replaceAll("'", "''")}'`);
      // Postgres has no CURRENT_VERSION(): it stands for the account's release.
      const text = s.statement.replace(/;\s*$/, "").replace(/\bCURRENT_VERSION\(\)/gi, `'${RELEASE}'::text AS "CURRENT_VERSION()"`);
      const result = await client.query({ text, rowMode: "array", types: { getTypeParser: rawParser } });
      await client.query("COMMIT");
      statement.result = encodeResult(statement.handle, result, s, account.config.partition_rows);
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      statement.failure = statement.cancelled ? canceled : failureOf(err as { code?: string; message?: string }, statement.handle, timeout);
    } finally {
      client.release();
    }
  })();
  return statement;
}

/** Postgres errors as Snowflake reports their kind. */
function failureOf(err: { code?: string; message?: string }, handle: string, timeout: number) {
  const body = (code: string, sqlState: string, message: string) => ({ code, sqlState, message, statementHandle: handle });
  const message = err.message ?? String(err);
  switch (err.code) {
    case "57014":
      return {
        status: 408,
        body: body("000630", "57014", `Statement reached its statement or warehouse timeout of ${timeout} second(s) and was canceled.`),
      };
    case "25006":
    case "42501":
      return { status: 422, body: body("003001", "42501", `SQL access control error: Insufficient privileges to operate on ${message}`) };
    case "42P01":
      return { status: 422, body: body("002003", "42S02", `SQL compilation error: Object does not exist or not authorized. (${message})`) };
    case "42703":
      return { status: 422, body: body("000904", "42000", `SQL compilation error: invalid identifier (${message})`) };
    case "42601":
      return { status: 422, body: body("001003", "42000", `SQL compilation error: syntax error (${message})`) };
    default:
      return { status: 422, body: body("100000", err.code ?? "XX000", message) };
  }
}

// Postgres type OIDs the fake maps (the rest are TEXT).
const OID = {
  bool: 16,
  bytea: 17,
  int8: 20,
  int2: 21,
  int4: 23,
  json: 114,
  float4: 700,
  float8: 701,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  jsonb: 3802,
};

/** Raw text for scalars; arrays parsed (to become JSON). */
function rawParser(oid: number): (value: string) => unknown {
  const parser = pg.types.getTypeParser(oid, "text") as (value: string) => unknown;
  return isArrayOid(oid) ? parser : (value: string) => value;
}

// Array types of the built-in scalars (pg_type.typarray).
const ARRAY_OIDS = new Set([1000, 1001, 1005, 1007, 1009, 1014, 1015, 1016, 1021, 1022, 1182, 1183, 1115, 1185, 1231, 199, 3807]);
const isArrayOid = (oid: number) => ARRAY_OIDS.has(oid);

interface ColumnType {
  type: string;
  precision?: number;
  scale?: number;
  convert: (value: unknown) => string;
}

function columnType(field: pg.FieldDef): ColumnType {
  const text = (v: unknown) => String(v);
  const name = field.name.toLowerCase();
  switch (field.dataTypeID) {
    case OID.int2:
    case OID.int4:
    case OID.int8:
      return { type: "FIXED", precision: 38, scale: 0, convert: text };
    case OID.numeric: {
      if (field.dataTypeModifier < 0) return { type: "FIXED", precision: 38, scale: 9, convert: (v) => fixedScale(String(v), 9) };
      const mod = field.dataTypeModifier - 4;
      return { type: "FIXED", precision: (mod >> 16) & 0xffff, scale: mod & 0xffff, convert: text };
    }
    case OID.float4:
    case OID.float8:
      return { type: "REAL", convert: (v) => ({ Infinity: "inf", "-Infinity": "-inf" })[String(v)] ?? String(v) };
    case OID.bool:
      return { type: "BOOLEAN", convert: (v) => (v === "t" ? "true" : "false") };
    case OID.date:
      return { type: "DATE", convert: (v) => String(Math.round(Date.parse(`${String(v)}T00:00:00Z`) / 86_400_000)) };
    case OID.time:
      return { type: "TIME", scale: 9, convert: (v) => epochText(`1970-01-01 ${String(v)}`) };
    case OID.timestamp:
      return { type: "TIMESTAMP_NTZ", scale: 9, convert: (v) => epochText(String(v)) };
    case OID.timestamptz:
      return name.endsWith("_tz")
        ? { type: "TIMESTAMP_TZ", scale: 9, convert: (v) => timestampTz(String(v)) }
        : { type: "TIMESTAMP_LTZ", scale: 9, convert: (v) => timestampTz(String(v)).split(" ")[0] ?? "" };
    case OID.json:
      return { type: "VARIANT", convert: text };
    case OID.jsonb:
      return { type: "OBJECT", convert: text };
    case OID.bytea:
      return { type: "BINARY", convert: (v) => String(v).replace(/^\\x/, "").toUpperCase() };
    default:
      return isArrayOid(field.dataTypeID) ? { type: "ARRAY", convert: (v) => JSON.stringify(v, null, 2) } : { type: "TEXT", convert: text };
  }
}

/** A decimal with exactly `scale` fraction digits (Snowflake's FIXED text). */
function fixedScale(value: string, scale: number): string {
  const [int, frac = ""] = value.split(".");
  return `${int}.${frac.padEnd(scale, "0").slice(0, scale)}`;
}

/** The fraction digits of a Postgres time or timestamp text ("" when whole). */
function fraction(value: string): string {
  return /\.(\d+)/.exec(value)?.[1] ?? "";
}

/** Nanoseconds since the epoch of a wall-clock text read as UTC (exact: the fraction is not a float). */
function wallClockNanos(wallClock: string): bigint {
  const whole = Date.parse(`${wallClock.replace(/\.\d+/, "").replace(" ", "T")}Z`) / 1000;
  return BigInt(whole) * 1_000_000_000n + BigInt(fraction(wallClock).padEnd(9, "0").slice(0, 9));
}

/** Snowflake's "seconds.nanoseconds", signed as a whole ("-0.500000000"). */
function secondsText(nanos: bigint): string {
  const abs = nanos < 0n ? -nanos : nanos;
  return `${nanos < 0n ? "-" : ""}${abs / 1_000_000_000n}.${String(abs % 1_000_000_000n).padStart(9, "0")}`;
}

const epochText = (wallClock: string) => secondsText(wallClockNanos(wallClock));

/** Postgres' `2024-01-02 03:04:05.5+02` (or `+05:30`) → "utcSeconds.nanos offsetMinutes+1440". */
function timestampTz(value: string): string {
  const m = /^(.+?)([+-])(\d\d)(?::?(\d\d))?(?::\d\d)?$/.exec(value);
  if (!m) throw new Error(`unreadable timestamptz ${value}`);
  const offset = (m[2] === "-" ? -1 : 1) * (Number(m[3]) * 60 + Number(m[4] ?? 0));
  // The local wall clock minus the offset is the UTC instant.
  const utc = wallClockNanos(m[1] ?? "") - BigInt(offset) * 60_000_000_000n;
  return `${secondsText(utc)} ${offset + 1440}`;
}

/** A Postgres result as Snowflake's ResultSet and partitions. */
function encodeResult(handle: string, result: pg.QueryResult<unknown[]>, s: Submission, partitionRows: number) {
  const fields = result.fields ?? [];
  const types = fields.map(columnType);
  const rows = (result.rows ?? []).map((row) => row.map((v, k) => (v === null ? null : (types[k] as ColumnType).convert(v))));
  const partitions: unknown[][][] = [];
  for (let i = 0; i < rows.length; i += partitionRows) partitions.push(rows.slice(i, i + partitionRows));
  if (partitions.length === 0) partitions.push([]);
  const writes = result.command !== "SELECT" && result.command !== undefined;
  const body: Record<string, unknown> = {
    code: "090001",
    sqlState: "00000",
    message: "Statement executed successfully.",
    statementHandle: handle,
    createdOn: Date.now(),
    statementStatusUrl: `/api/v2/statements/${handle}`,
    resultSetMetaData: {
      numRows: rows.length,
      format: "jsonv2",
      rowType: fields.map((f, k) => ({
        name: f.name.toUpperCase(),
        database: s.database ?? "",
        schema: s.schema ?? "",
        table: "",
        type: types[k]?.type,
        precision: types[k]?.precision ?? null,
        scale: types[k]?.scale ?? null,
        length: types[k]?.type === "TEXT" ? 16_777_216 : null,
        nullable: true,
      })),
      partitionInfo: partitions.map((p) => ({ rowCount: p.length, uncompressedSize: JSON.stringify(p).length })),
    },
    ...(writes
      ? {
          stats: {
            [result.command === "INSERT" ? "numRowsInserted" : result.command === "DELETE" ? "numRowsDeleted" : "numRowsUpdated"]:
              result.rowCount ?? 0,
          },
        }
      : {}),
  };
  return { body, partitions };
}
