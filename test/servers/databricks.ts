// Over 400 lines: one fake workspace implementing the Statement Execution API, its OAuth token endpoint and result storage, as documented.
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import pg from "pg";
import { json, readBody, tenants } from "./http";

/**
 * A fake Databricks workspace for the Databricks source's tests, following the documented contract of:
 * - the SQL Statement Execution API 2.0 (https://docs.databricks.com/api/workspace/statementexecution,
 *   https://docs.databricks.com/api/statement-execution/v1/execute-statement.md,
 *   https://docs.databricks.com/api/statement-execution/v1/get-result-data.md,
 *   https://docs.databricks.com/aws/en/dev-tools/sql-execution-tutorial):
 *   `POST /api/2.0/sql/statements` (`warehouse_id`, `catalog`, `schema`, `wait_timeout` "0s" or
 *   5–50 s, `on_wait_timeout` CONTINUE/CANCEL, `disposition: EXTERNAL_LINKS`, `format:
 *   JSON_ARRAY`), `GET …/{id}` (state PENDING → RUNNING → SUCCEEDED / FAILED / CANCELED, with
 *   `manifest.schema.columns[].{name,type_name,type_text,position}`, `manifest.total_chunk_count`
 *   and the first chunk's `result.external_links`), `POST …/{id}/cancel` (empty answer), and
 *   `GET …/{id}/result/chunks/{n}`; every link has `next_chunk_index` and
 *   `next_chunk_internal_link` (a path to join with the host) but on the last chunk;
 * - result storage: `external_link`s are presigned URLs on a separate `/storage/…` path that, like
 *   S3, REFUSE a request carrying an Authorization header (400 InvalidArgument "Only one auth
 *   mechanism allowed") and a link past its expiration (403 AccessDenied); JSON_ARRAY data is an
 *   array of rows, each value a string or null;
 * - auth (https://docs.databricks.com/aws/en/dev-tools/auth/oauth-m2m,
 *   https://databrickslabs.github.io/partner-architecture/isv-partners/lakehouse-patterns/access-auth/oauth-reference):
 *   `Authorization: Bearer <personal access token>`, or a token from `POST /oidc/v1/token`
 *   (`grant_type=client_credentials`, `scope=all-apis`, client id and secret as HTTP Basic;
 *   answers `{access_token, token_type: "Bearer", expires_in, scope}`);
 * - errors as `{"error_code","message"}` (401 UNAUTHENTICATED, 404 RESOURCE_DOES_NOT_EXIST for an
 *   unknown warehouse, 400 INVALID_PARAMETER_VALUE, 429 TOO_MANY_REQUESTS with Retry-After), and a
 *   FAILED statement's `status.error` (`error_code` from the documented enum, BAD_REQUEST for the
 *   SQL's faults, the error class in the message) and `status.sql_state`
 *   (https://docs.databricks.com/api/statement-execution/v1/statement-execution/object.md).
 *
 * The SQL runs on the local Postgres, in a read-only transaction (standing for a principal with
 * SELECT grants only: a write fails as Databricks' INSUFFICIENT_PERMISSIONS), with back-quoted
 * identifiers turned into Postgres' double-quoted ones and `schema` as the search_path. Postgres
 * types are reported and rendered as Databricks' (BIGINT as LONG, timestamptz as TIMESTAMP
 * `…T…Z`, timestamp as TIMESTAMP_NTZ, float8 as DOUBLE in Java's `1.5E300`, bytea as BINARY in
 * base64, arrays as ARRAY JSON, json as STRUCT, jsonb as MAP). `EXPLAIN COST <query>` answers
 * Spark's plan text with Postgres' row estimate as `rowCount`.
 *
 * Each workspace is a path prefix `/t/{name}` (the source's host is `http://127.0.0.1:port/t/{name}`),
 * so tests never see each other. Control: `POST /t/{name}/_config` (a partial {@link WorkspaceConfig}),
 * `GET /t/{name}/_state` (the requests seen, statements, token grants, storage downloads) and
 * `POST /t/{name}/_revoke` (every OAuth token issued so far stops working, as a revoked one).
 */

interface WorkspaceConfig {
  /** Personal access tokens accepted. */
  tokens: string[];
  /** The service principal of OAuth M2M. */
  client_id: string;
  client_secret: string;
  /** Lifetime of an OAuth token. */
  token_ttl_seconds: number;
  /** Rows per result chunk. */
  chunk_rows: number;
  /** How long a statement stays PENDING (the warehouse starting). */
  pending_ms: number;
  /** The next this many API calls (statements and chunks, not the token endpoint) answer 429 with `Retry-After: 0`. */
  throttle: number;
  /** The next this many storage downloads answer 403 (an expired link). */
  expire_links: number;
  /** Results of more rows than this are cut and marked `truncated` (standing for the byte limit). */
  max_rows: number;
  /** Warehouses that exist. */
  warehouses: string[];
}

const defaults = (): WorkspaceConfig => ({
  tokens: ["dapi-test-token"],
  client_id: "retl-sp",
  client_secret: "sp-secret",
  token_ttl_seconds: 3600,
  chunk_rows: 1000,
  pending_ms: 0,
  throttle: 0,
  expire_links: 0,
  warehouses: ["wh-test"],
  max_rows: 1_000_000,
});

type State = "PENDING" | "RUNNING" | "SUCCEEDED" | "FAILED" | "CANCELED";
interface Column {
  name: string;
  type_name: string;
  type_text: string;
  position: number;
}
interface Statement {
  id: string;
  sql: string;
  state: State;
  columns: Column[];
  rows: (string | null)[][];
  truncated: boolean;
  error?: { error_code: string; message: string; sql_state: string };
  /** Postgres' backend pid while it runs, for cancel. */
  pid?: number;
  done: Promise<void>;
}
interface Workspace {
  /** The tenant name in `/t/{name}/…` (external links point back to it). */
  name: string;
  config: WorkspaceConfig;
  statements: Map<string, Statement>;
  oauthTokens: Map<string, number>;
  /** Presigned link signatures → their statement, chunk and expiry. */
  links: Map<string, { statement: string; chunk: number; expires: number }>;
  requests: { method: string; path: string; status: number }[];
  tokenGrants: number;
  downloads: { chunk: number; status: number; authorization: boolean }[];
}

const WAREHOUSE_URL = process.env.TEST_WAREHOUSE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const LINK_TTL_MS = 15 * 60_000;

/** Starts the fake on 127.0.0.1. */
export function startFakeDatabricks(port = 0): Promise<{ server: Server; port: number }> {
  const workspaces = tenants<Workspace>((name) => ({
    name,
    config: defaults(),
    statements: new Map(),
    oauthTokens: new Map(),
    links: new Map(),
    requests: [],
    tokenGrants: 0,
    downloads: [],
  }));
  let origin = "";
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => json(res, 500, { error_code: "INTERNAL_ERROR", message: String(err) }));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const found = workspaces.route(url);
    if (!found) return json(res, 404, { error_code: "ENDPOINT_NOT_FOUND", message: "no workspace in the path" });
    const { tenant: ws, path } = found;
    const body = await readBody(req);

    if (path === "/_config" && req.method === "POST") {
      ws.config = { ...defaults(), ...(JSON.parse(body || "{}") as Partial<WorkspaceConfig>) };
      return json(res, 200, ws.config);
    }
    if (path === "/_revoke" && req.method === "POST") {
      ws.oauthTokens.clear();
      return json(res, 200, {});
    }
    if (path === "/_state" && req.method === "GET") {
      return json(res, 200, {
        requests: ws.requests,
        statements: [...ws.statements.values()].map((s) => ({ id: s.id, sql: s.sql, state: s.state })),
        token_grants: ws.tokenGrants,
        downloads: ws.downloads,
      });
    }
    if (path.startsWith("/storage/")) return storage(ws, path, url, req, res);
    if (path === "/oidc/v1/token" && req.method === "POST") return tokenEndpoint(ws, req, body, res);

    const answer = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      ws.requests.push({ method: req.method ?? "", path, status });
      json(res, status, payload, headers);
    };
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
    const oauthExpiry = ws.oauthTokens.get(bearer);
    if (!ws.config.tokens.includes(bearer) && !(oauthExpiry !== undefined && oauthExpiry > Date.now()))
      return answer(401, { error_code: "UNAUTHENTICATED", message: "Invalid access token." });
    if (ws.config.throttle > 0) {
      ws.config.throttle--;
      return answer(
        429,
        { error_code: "TOO_MANY_REQUESTS", message: "Too many requests. Please wait a moment and try again." },
        { "retry-after": "0" },
      );
    }

    if (path === "/api/2.0/sql/statements" && req.method === "POST") {
      const params = JSON.parse(body || "{}") as Record<string, unknown>;
      const invalid = (message: string) => answer(400, { error_code: "INVALID_PARAMETER_VALUE", message });
      if (typeof params.statement !== "string" || params.statement.trim() === "") return invalid("statement is required");
      if (typeof params.warehouse_id !== "string" || !ws.config.warehouses.includes(params.warehouse_id))
        return answer(404, { error_code: "RESOURCE_DOES_NOT_EXIST", message: `Warehouse ${String(params.warehouse_id)} does not exist.` });
      const wait = /^(\d+)s$/.exec(String(params.wait_timeout ?? "10s"))?.[1];
      const waitSeconds = Number(wait);
      if (wait === undefined || (waitSeconds !== 0 && (waitSeconds < 5 || waitSeconds > 50)))
        return invalid("wait_timeout must be 0s or between 5s and 50s");
      const onWait = params.on_wait_timeout ?? "CONTINUE";
      if (onWait !== "CONTINUE" && onWait !== "CANCEL") return invalid("on_wait_timeout must be CONTINUE or CANCEL");
      if (params.disposition !== "EXTERNAL_LINKS") return invalid("this fake serves disposition EXTERNAL_LINKS only");
      if (params.format !== "JSON_ARRAY") return invalid("this fake serves format JSON_ARRAY only");
      const statement = start(ws, params.statement, typeof params.schema === "string" ? params.schema : undefined);
      if (waitSeconds > 0) {
        await Promise.race([statement.done, new Promise((r) => setTimeout(r, waitSeconds * 1000))]);
        if (!isFinal(statement.state) && onWait === "CANCEL") await cancel(statement);
      }
      return answer(200, statementResponse(ws, statement));
    }
    const chunk = /^\/api\/2\.0\/sql\/statements\/([^/]+)\/result\/chunks\/(\d+)$/.exec(path);
    if (chunk && req.method === "GET") {
      const statement = ws.statements.get(chunk[1] ?? "");
      if (!statement) return answer(404, { error_code: "RESOURCE_DOES_NOT_EXIST", message: "No such statement." });
      if (statement.state !== "SUCCEEDED")
        return answer(400, { error_code: "BAD_REQUEST", message: `The statement is ${statement.state}.` });
      const index = Number(chunk[2]);
      if (index >= chunkCount(ws, statement)) return answer(400, { error_code: "INVALID_PARAMETER_VALUE", message: `No chunk ${index}.` });
      return answer(200, { external_links: [externalLink(ws, statement, index)] });
    }
    const one = /^\/api\/2\.0\/sql\/statements\/([^/]+)(\/cancel)?$/.exec(path);
    if (one) {
      const statement = ws.statements.get(one[1] ?? "");
      if (!statement) return answer(404, { error_code: "RESOURCE_DOES_NOT_EXIST", message: "No such statement." });
      if (one[2] && req.method === "POST") {
        await cancel(statement);
        return answer(200, {});
      }
      if (!one[2] && req.method === "GET") return answer(200, statementResponse(ws, statement));
    }
    return answer(404, { error_code: "ENDPOINT_NOT_FOUND", message: `No API at ${req.method} ${path}.` });
  }

  /** `POST /oidc/v1/token`: client credentials as HTTP Basic, form body. */
  function tokenEndpoint(ws: Workspace, req: IncomingMessage, body: string, res: ServerResponse) {
    const form = new URLSearchParams(body);
    const basic = Buffer.from((req.headers.authorization ?? "").replace(/^Basic /, ""), "base64").toString();
    const [id = "", secret = ""] = basic.split(":").map(decodeURIComponent);
    if (form.get("grant_type") !== "client_credentials")
      return json(res, 400, { error: "unsupported_grant_type", error_description: "grant_type must be client_credentials" });
    if (id !== ws.config.client_id || secret !== ws.config.client_secret)
      return json(res, 401, { error: "invalid_client", error_description: "Client authentication failed" });
    if (form.get("scope") !== "all-apis") return json(res, 400, { error: "invalid_scope", error_description: "scope must be all-apis" });
    ws.tokenGrants++;
    const token = `oauth-${randomUUID()}`;
    ws.oauthTokens.set(token, Date.now() + ws.config.token_ttl_seconds * 1000);
    json(res, 200, { access_token: token, token_type: "Bearer", expires_in: ws.config.token_ttl_seconds, scope: "all-apis" });
  }

  /** The presigned download: S3's rules (no Authorization header, an expiry). */
  function storage(ws: Workspace, path: string, url: URL, req: IncomingMessage, res: ServerResponse) {
    const link = ws.links.get(url.searchParams.get("X-Amz-Signature") ?? "");
    const record = (status: number) =>
      ws.downloads.push({ chunk: link?.chunk ?? -1, status, authorization: req.headers.authorization !== undefined });
    const xml = (status: number, code: string, message: string) => {
      record(status);
      res.writeHead(status, { "content-type": "application/xml" });
      res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`);
    };
    if (req.headers.authorization !== undefined)
      return xml(
        400,
        "InvalidArgument",
        "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
      );
    if (!link || path !== `/storage/${link.statement}/${link.chunk}`)
      return xml(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.");
    if (link.expires < Date.now() || ws.config.expire_links > 0) {
      if (ws.config.expire_links > 0) ws.config.expire_links--;
      return xml(403, "AccessDenied", "Request has expired");
    }
    const statement = ws.statements.get(link.statement);
    if (!statement) return xml(404, "NoSuchKey", "The specified key does not exist.");
    record(200);
    const size = ws.config.chunk_rows;
    res.writeHead(200, { "content-type": "application/json" });
    // Sent in pieces of 777 bytes, cut anywhere (inside a string, an escape or a UTF-8 character), as a network delivers it.
    const bytes = Buffer.from(JSON.stringify(statement.rows.slice(link.chunk * size, (link.chunk + 1) * size)));
    for (let at = 0; at < bytes.length; at += 777) res.write(bytes.subarray(at, at + 777));
    res.end();
  }

  function chunkCount(ws: Workspace, s: Statement): number {
    return Math.ceil(s.rows.length / ws.config.chunk_rows);
  }

  function externalLink(ws: Workspace, s: Statement, index: number) {
    const signature = randomUUID().replaceAll("-", "");
    const expires = Date.now() + LINK_TTL_MS;
    ws.links.set(signature, { statement: s.id, chunk: index, expires });
    const size = ws.config.chunk_rows;
    const rowCount = Math.min(size, s.rows.length - index * size);
    const last = index + 1 >= chunkCount(ws, s);
    return {
      chunk_index: index,
      row_offset: index * size,
      row_count: rowCount,
      byte_count: JSON.stringify(s.rows.slice(index * size, index * size + rowCount)).length,
      external_link: `${origin}/t/${ws.name}/storage/${s.id}/${index}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=900&X-Amz-Signature=${signature}`,
      expiration: new Date(expires).toISOString(),
      ...(last
        ? {}
        : { next_chunk_index: index + 1, next_chunk_internal_link: `/api/2.0/sql/statements/${s.id}/result/chunks/${index + 1}` }),
    };
  }

  function statementResponse(ws: Workspace, s: Statement): Record<string, unknown> {
    const status: Record<string, unknown> = { state: s.state };
    if (s.error) {
      const { sql_state, ...error } = s.error;
      status.error = error;
      status.sql_state = sql_state;
    }
    if (s.state !== "SUCCEEDED") return { statement_id: s.id, status };
    const total = chunkCount(ws, s);
    const size = ws.config.chunk_rows;
    return {
      statement_id: s.id,
      status,
      manifest: {
        format: "JSON_ARRAY",
        schema: { column_count: s.columns.length, columns: s.columns },
        total_chunk_count: total,
        total_row_count: s.rows.length,
        chunks: Array.from({ length: total }, (_, i) => ({
          chunk_index: i,
          row_offset: i * size,
          row_count: Math.min(size, s.rows.length - i * size),
        })),
        truncated: s.truncated,
      },
      result: total === 0 ? { chunk_index: 0, row_offset: 0, row_count: 0 } : { external_links: [externalLink(ws, s, 0)] },
    };
  }

  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      const actual = typeof address === "object" && address ? address.port : port;
      origin = `http://127.0.0.1:${actual}`;
      resolve({ server, port: actual });
    });
  });
}

function isFinal(state: State): boolean {
  return state !== "PENDING" && state !== "RUNNING";
}

/** Starts a statement: PENDING for `pending_ms`, then RUNNING on its own Postgres connection. */
function start(ws: Workspace, sql: string, schema: string | undefined): Statement {
  const statement: Statement = {
    id: randomUUID(),
    sql,
    state: "PENDING",
    columns: [],
    rows: [],
    truncated: false,
    done: Promise.resolve(),
  };
  ws.statements.set(statement.id, statement);
  statement.done = (async () => {
    if (ws.config.pending_ms > 0) await new Promise((r) => setTimeout(r, ws.config.pending_ms));
    if (statement.state !== "PENDING") return;
    statement.state = "RUNNING";
    const client = new pg.Client({ connectionString: WAREHOUSE_URL, types: { getTypeParser: () => (v: string) => v } });
    try {
      await client.connect();
      statement.pid = (client as unknown as { processID: number }).processID;
      if (statement.state !== "RUNNING") return;
      await client.query("SET TimeZone = 'UTC'; SET extra_float_digits = 1");
      if (schema) await client.query(`SET search_path TO ${pgIdent(schema)}, public`);
      await client.query("START TRANSACTION READ ONLY");
      const result = await run(client, sql);
      await client.query("COMMIT");
      if (statement.state !== "RUNNING") return;
      statement.columns = result.columns;
      statement.truncated = result.rows.length > ws.config.max_rows;
      statement.rows = result.rows.slice(0, ws.config.max_rows);
      statement.state = "SUCCEEDED";
    } catch (err) {
      if (statement.state !== "RUNNING") return;
      const e = err as { code?: string; message?: string };
      if (e.code === "57014") statement.state = "CANCELED";
      else {
        statement.state = "FAILED";
        statement.error = databricksError(e.code ?? "", e.message ?? String(err));
      }
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return statement;
}

async function cancel(statement: Statement): Promise<void> {
  if (isFinal(statement.state)) return;
  statement.state = "CANCELED";
  if (statement.pid === undefined) return;
  const admin = new pg.Client({ connectionString: WAREHOUSE_URL });
  await admin.connect();
  try {
    await admin.query("SELECT pg_cancel_backend($1)", [statement.pid]);
  } finally {
    await admin.end();
  }
}

/**
 * A Postgres failure as Databricks reports it: `status.error.error_code` from the documented enum
 * (BAD_REQUEST for the SQL's faults), the error class in brackets at the start of the message, and
 * `status.sql_state`.
 */
function databricksError(sqlstate: string, message: string): { error_code: string; message: string; sql_state: string } {
  const classes: Record<string, string> = {
    "25006": "INSUFFICIENT_PERMISSIONS",
    "42501": "INSUFFICIENT_PERMISSIONS",
    "42601": "PARSE_SYNTAX_ERROR",
    "42P01": "TABLE_OR_VIEW_NOT_FOUND",
    "42703": "UNRESOLVED_COLUMN.WITHOUT_SUGGESTION",
  };
  const errorClass = classes[sqlstate];
  // A write refused by a read-only transaction stands for a principal without MODIFY: Databricks' SQLSTATE 42501.
  const state = sqlstate === "25006" ? "42501" : sqlstate || "XXKDA";
  return { error_code: "BAD_REQUEST", message: errorClass ? `[${errorClass}] ${message}` : message, sql_state: state };
}

/** Runs Databricks SQL on Postgres: back-quoted identifiers become double-quoted; EXPLAIN COST becomes Spark's plan text. */
async function run(client: pg.Client, sql: string): Promise<{ columns: Column[]; rows: (string | null)[][] }> {
  const translated = sql.replace(/`((?:[^`]|``)*)`/g, (_m, name: string) => pgIdent(name.replaceAll("``", "`")));
  const explain = /^\s*EXPLAIN\s+COST\s+([\s\S]*)$/i.exec(translated);
  if (explain) {
    const plan = await client.query(`EXPLAIN (FORMAT JSON) ${explain[1]}`);
    const rowsEstimate =
      (JSON.parse(String(plan.rows[0]?.["QUERY PLAN"] ?? "[{}]")) as { Plan?: { "Plan Rows"?: number } }[])[0]?.Plan?.["Plan Rows"] ?? 0;
    const text = `== Optimized Logical Plan ==\nProject [*], Statistics(sizeInBytes=${rowsEstimate * 64}.0 B, rowCount=${rowsEstimate})\n\n== Physical Plan ==\n*(1) Project [*]\n`;
    return { columns: [{ name: "plan", type_name: "STRING", type_text: "STRING", position: 0 }], rows: [[text]] };
  }
  const result = await client.query({ text: translated, rowMode: "array" });
  const fields = result.fields;
  const columns = fields.map((f, position) => ({ name: f.name, ...databricksType(f.dataTypeID, f.dataTypeModifier), position }));
  const rows = (result.rows as (string | null)[][]).map((row) =>
    row.map((v, k) => (v === null ? null : render(fields[k]?.dataTypeID ?? 25, v))),
  );
  return { columns, rows };
}

function pgIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

const ARRAY_ELEMENTS: Record<number, [string, "number" | "boolean" | "string"]> = {
  1000: ["BOOLEAN", "boolean"],
  1005: ["SMALLINT", "number"],
  1007: ["INT", "number"],
  1016: ["BIGINT", "number"],
  1021: ["FLOAT", "number"],
  1022: ["DOUBLE", "number"],
  1231: ["DECIMAL(38,18)", "number"],
  1009: ["STRING", "string"],
  1015: ["STRING", "string"],
};

/** Postgres type → Databricks' `type_name` (the ColumnInfoTypeName enum) and `type_text` (SQL). */
function databricksType(oid: number, typmod: number): { type_name: string; type_text: string } {
  const t = (type_name: string, type_text = type_name) => ({ type_name, type_text });
  switch (oid) {
    case 16:
      return t("BOOLEAN");
    case 21:
      return t("SHORT", "SMALLINT");
    case 23:
      return t("INT");
    case 20:
      return t("LONG", "BIGINT");
    case 700:
      return t("FLOAT");
    case 701:
      return t("DOUBLE");
    case 1700:
      return typmod >= 4
        ? t("DECIMAL", `DECIMAL(${((typmod - 4) >> 16) & 0xffff},${(typmod - 4) & 0xffff})`)
        : t("DECIMAL", "DECIMAL(38,18)");
    case 17:
      return t("BINARY");
    case 1082:
      return t("DATE");
    case 1184:
      return t("TIMESTAMP");
    case 1114:
      return t("TIMESTAMP_NTZ");
    case 114:
      return t("STRUCT", "STRUCT<…>");
    case 3802:
      return t("MAP", "MAP<STRING, STRING>");
    default: {
      const element = ARRAY_ELEMENTS[oid];
      return element ? t("ARRAY", `ARRAY<${element[0]}>`) : t("STRING");
    }
  }
}

/** A Postgres text value as Databricks' JSON_ARRAY renders its type. */
function render(oid: number, v: string): string {
  switch (oid) {
    case 16:
      return v === "t" ? "true" : "false";
    case 700:
    case 701:
      return javaDouble(Number(v));
    case 17:
      return Buffer.from(v.slice(2), "hex").toString("base64");
    case 1184:
    case 1114: {
      const m = /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d)(\.\d+)?/.exec(v);
      if (!m) return v;
      const fraction = (m[3] ?? ".").slice(1).padEnd(3, "0");
      return `${m[1]}T${m[2]}.${fraction}${oid === 1184 ? "Z" : ""}`;
    }
    case 114:
    case 3802:
      return JSON.stringify(JSON.parse(v));
    default: {
      const element = ARRAY_ELEMENTS[oid];
      if (!element) return v;
      const items = textArray(v) as (string | null)[];
      const kind = element[1];
      return `[${items.map((x) => (x === null ? "null" : kind === "number" ? x : kind === "boolean" ? String(x === "t") : JSON.stringify(x))).join(",")}]`;
    }
  }
}

/** Postgres' text[] literal as strings and nulls (pg's own parser for OID 1009). */
const textArray = (pg.types.getTypeParser as (oid: number) => (v: string) => unknown)(1009);

/** Java's Double.toString, as Spark renders a DOUBLE: `1.0`, `1.5E300`, `1.0E-4`, `NaN`, `Infinity`. */
function javaDouble(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (!Number.isFinite(n)) return n > 0 ? "Infinity" : "-Infinity";
  const abs = Math.abs(n);
  if (abs === 0 || (abs >= 1e-3 && abs < 1e7)) {
    const s = String(n);
    return s.includes(".") ? s : `${s}.0`;
  }
  const [mantissa = "", exponent = ""] = n.toExponential().split("e");
  return `${mantissa.includes(".") ? mantissa : `${mantissa}.0`}E${exponent.replace("+", "")}`;
}
