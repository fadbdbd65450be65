// Over 400 lines: one fake BigQuery (token grant, dry runs, query jobs, result pages, tables.get, faults), as documented.
import { generateKeyPairSync, type KeyObject, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { decodeProtectedHeader, jwtVerify } from "jose";
import pg from "pg";
import { json, readBody, tenants } from "./http";

/**
 * A fake BigQuery for the BigQuery source tests, executing the SQL on the local Postgres. It follows:
 * - the service account JWT grant ("Using OAuth 2.0 for Server to Server Applications",
 *   https://developers.google.com/identity/protocols/oauth2/service-account): `POST /token` with
 *   `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<RS256 JWT>`; the signature is
 *   verified against the key file's public key (header `kid` = `private_key_id`), `iss` must be
 *   the account's email, `aud` the token URI, `scope` a BigQuery scope, `exp` at most an hour
 *   after `iat`; refusals are `400 {"error": "invalid_grant", "error_description": …}`;
 * - `Authorization: Bearer` on every API call, else 401 `authError` (UNAUTHENTICATED);
 * - jobs.insert with `configuration.dryRun` (https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/insert,
 *   https://cloud.google.com/bigquery/docs/dry-run-queries): nothing runs; the Job carries
 *   `statistics.query.statementType` (SELECT, INSERT, DELETE, CREATE_TABLE, SCRIPT, …), the result
 *   `schema`, `totalBytesProcessed` and `referencedTables`;
 * - jobs.query (https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/query):
 *   `useLegacySql: false` required (the API defaults to legacy SQL), waits up to `timeoutMs`
 *   (default 10 s) and answers `jobComplete: false` with the `jobReference` when the job is still
 *   running; `jobTimeoutMs` stops the job (reason `timeout`); the same `requestId` is the same job;
 * - jobs.getQueryResults (https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/getQueryResults):
 *   polls (`timeoutMs`), pages of at most `maxResults` rows (and of the project's `page_rows`, this
 *   fake's stand-in for the API's ~10 MB page limit) with an opaque `pageToken`, `totalRows`;
 *   `formatOptions.useInt64Timestamp` gives TIMESTAMPs as int64 microseconds, else float seconds;
 * - rows as `{"f": [{"v": …}]}`: scalars as strings, ARRAY (mode REPEATED) as `[{"v": …}]`, NULL
 *   arrays empty, STRUCT (RECORD) as `{"f": […]}`, FLOAT64 `NaN`/`Infinity`, BYTES base64
 *   (https://cloud.google.com/bigquery/docs/reference/rest/v2/tabledata/list);
 * - jobs.cancel, and tables.get's `numRows`;
 * - errors as `{"error": {"code", "message", "errors": [{"reason", "message", "domain"}], "status"}}`
 *   with the reasons of https://cloud.google.com/bigquery/docs/error-messages (invalidQuery,
 *   notFound, accessDenied, timeout, rateLimitExceeded, backendError) and the back-off cases of
 *   https://cloud.google.com/bigquery/docs/troubleshoot-quotas (403 rateLimitExceeded, 429 with
 *   Retry-After, 5xx).
 *
 * Postgres types map to BigQuery's: int2/4/8 → INTEGER, float4/8 → FLOAT, numeric → NUMERIC,
 * bool → BOOLEAN, bytea → BYTES, date, time, timestamp → DATETIME, timestamptz → TIMESTAMP,
 * json/jsonb → JSON, arrays → REPEATED, composite types → RECORD, anything else → STRING. Datasets
 * are Postgres schemas. Each project (a test's namespace) has its own key, tokens, jobs, faults and
 * request log. Control endpoints: `GET /_fake/{project}/key` (the key file; `?rogue=1`: one with
 * the same email and key id but a key the fake does not know), `POST /_fake/{project}/config` (a
 * partial {@link ProjectConfig}), `GET /_fake/{project}/state` (grants, requests, cancelled jobs),
 * `POST /_fake/{project}/revoke` (the project's access tokens stop working, as a revoked or expired one).
 */

interface ProjectConfig {
  /** Rows per page at most, whatever maxResults says. */
  page_rows: number;
  /** Answers of jobs.query/getQueryResults that say `jobComplete: false` before the job is reported done. */
  pending_polls: number;
  /** Canned error answers for the next API requests, in order. */
  faults: Fault[];
  /** The account is disabled: grants fail with invalid_grant. */
  disabled: boolean;
}

interface Fault {
  status: number;
  reason: string;
  retry_after?: string;
  times?: number;
}

/** A column as the fake knows it: BigQuery's schema field plus the Postgres type it comes from. */
interface Shape {
  name: string;
  type: string;
  mode: "NULLABLE" | "REPEATED";
  fields?: Shape[];
  pgType: string;
  element?: Shape;
}

interface Job {
  id: string;
  schema: Shape[];
  rows?: unknown[][];
  error?: BigqueryFault;
  done: Promise<void>;
  polls: number;
}

interface Project {
  config: ProjectConfig;
  kid: string;
  grants: { header: Record<string, unknown>; claims: Record<string, unknown> }[];
  requests: { method: string; path: string; params: Record<string, string>; body?: unknown }[];
  jobs: Map<string, Job>;
  requestIds: Map<string, string>;
  cancelled: string[];
}

class BigqueryFault extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const STATUS_NAMES: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
};

const defaults = (): ProjectConfig => ({ page_rows: 100_000, pending_polls: 0, faults: [], disabled: false });
const SCOPES = ["https://www.googleapis.com/auth/bigquery", "https://www.googleapis.com/auth/cloud-platform"];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const keyPair = () => generateKeyPairSync("rsa", { modulusLength: 2048 });

export async function startFakeBigquery(): Promise<{ server: Server; port: number }> {
  const pool = new pg.Pool({
    connectionString: process.env.TEST_WAREHOUSE_URL ?? "postgres://postgres@127.0.0.1:5432/test",
    max: 6,
    idleTimeoutMillis: 1000,
    allowExitOnIdle: true,
  });
  const keys = new Map<string, { publicKey: KeyObject; privatePem: string; project: string }>();
  const rogue = keyPair();
  const tokens = new Map<string, { project: string; expiresAt: number }>();
  let port = 0;
  const tokenUri = () => `http://127.0.0.1:${port}/token`;

  // A project's service account key is made with it.
  const projectOf = tenants<Project>((name) => {
    const kid = randomUUID().replaceAll("-", "");
    const pair = keyPair();
    keys.set(kid, {
      publicKey: pair.publicKey,
      privatePem: pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      project: name,
    });
    return { config: defaults(), kid, grants: [], requests: [], jobs: new Map(), requestIds: new Map(), cancelled: [] };
  }).of;
  const emailOf = (project: string) => `retl@${project}.iam.gserviceaccount.com`;

  const sendError = (res: ServerResponse, status: number, reason: string, message: string, headers: Record<string, string> = {}) =>
    json(
      res,
      status,
      { error: { code: status, message, errors: [{ message, domain: "global", reason }], status: STATUS_NAMES[status] ?? "UNKNOWN" } },
      headers,
    );

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(await readBody(req));
    const refuse = (description: string, error = "invalid_grant") => json(res, 400, { error, error_description: description });
    if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer")
      return refuse("Invalid grant_type", "unsupported_grant_type");
    const assertion = form.get("assertion") ?? "";
    let header: Record<string, unknown>;
    try {
      header = decodeProtectedHeader(assertion) as Record<string, unknown>;
    } catch {
      return refuse("Invalid JWT: the assertion is not a JWT");
    }
    const key = keys.get(String(header.kid));
    if (!key || header.alg !== "RS256") return refuse("Invalid JWT Signature.");
    const project = projectOf(key.project);
    let claims: Record<string, unknown>;
    try {
      ({ payload: claims } = await jwtVerify(assertion, key.publicKey, {
        algorithms: ["RS256"],
        issuer: emailOf(key.project),
        audience: tokenUri(),
        clockTolerance: 60,
      }));
    } catch (err) {
      return refuse(/signature/i.test(String(err)) ? "Invalid JWT Signature." : `Invalid JWT: ${(err as Error).message}`);
    }
    const iat = Number(claims.iat);
    const exp = Number(claims.exp);
    if (!Number.isFinite(iat) || Math.abs(iat - Date.now() / 1000) > 300 || !(exp > iat) || exp - iat > 3600)
      return refuse("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.");
    if (
      !String(claims.scope ?? "")
        .split(" ")
        .some((s) => SCOPES.includes(s))
    )
      return refuse("Invalid OAuth scope", "invalid_scope");
    if (project.config.disabled) return refuse("Invalid grant: account not found");
    project.grants.push({ header, claims });
    const accessToken = `ya29.${randomUUID()}`;
    tokens.set(accessToken, { project: key.project, expiresAt: Date.now() + 3599_000 });
    json(res, 200, { access_token: accessToken, expires_in: 3599, token_type: "Bearer" });
  }

  async function api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const m = /^\/bigquery\/v2\/projects\/([^/]+)(\/.*)$/.exec(url.pathname);
    if (!m) return sendError(res, 404, "notFound", `Not found: ${url.pathname}`);
    const name = decodeURIComponent(m[1] ?? "");
    const rest = m[2] ?? "";
    const project = projectOf(name);
    const text = req.method === "POST" ? await readBody(req) : "";
    const body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    project.requests.push({ method: req.method ?? "GET", path: rest, params: Object.fromEntries(url.searchParams), body });
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    const grant = bearer ? tokens.get(bearer) : undefined;
    if (!grant || grant.expiresAt < Date.now())
      return sendError(res, 401, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token.");
    if (grant.project !== name)
      return sendError(
        res,
        403,
        "accessDenied",
        `Access Denied: Project ${name}: User does not have bigquery.jobs.create permission in project ${name}.`,
      );
    const fault = project.config.faults[0];
    if (fault) {
      if ((fault.times ?? 1) <= 1) project.config.faults.shift();
      else fault.times = (fault.times ?? 1) - 1;
      const message =
        fault.reason === "rateLimitExceeded"
          ? "Exceeded rate limits: too many api requests per user per method for this user_method. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas"
          : `fault ${fault.reason}`;
      return sendError(res, fault.status, fault.reason, message, fault.retry_after ? { "retry-after": fault.retry_after } : {});
    }
    try {
      if (req.method === "POST" && rest === "/jobs") return json(res, 200, await dryRun(name, body ?? {}));
      const cancel = /^\/jobs\/([^/]+)\/cancel$/.exec(rest);
      if (req.method === "POST" && cancel) {
        project.cancelled.push(decodeURIComponent(cancel[1] ?? ""));
        return json(res, 200, { kind: "bigquery#jobCancelResponse", job: { status: { state: "DONE" } } });
      }
      if (req.method === "POST" && rest === "/queries") return json(res, 200, await query(name, project, body ?? {}));
      const results = /^\/queries\/([^/]+)$/.exec(rest);
      if (req.method === "GET" && results)
        return json(res, 200, await queryResults(name, project, decodeURIComponent(results[1] ?? ""), url.searchParams));
      const table = /^\/datasets\/([^/]+)\/tables\/([^/]+)$/.exec(rest);
      if (req.method === "GET" && table)
        return json(res, 200, await getTable(name, decodeURIComponent(table[1] ?? ""), decodeURIComponent(table[2] ?? "")));
      sendError(res, 404, "notFound", `Not found: ${rest}`);
    } catch (err) {
      if (err instanceof BigqueryFault) return sendError(res, err.status, err.reason, err.message);
      sendError(res, 500, "backendError", String(err));
    }
  }

  async function dryRun(name: string, job: Record<string, unknown>) {
    const configuration = (job.configuration ?? {}) as { dryRun?: boolean; query?: { query?: string; useLegacySql?: boolean } };
    if (configuration.dryRun !== true) throw new BigqueryFault(400, "invalid", "this fake runs dry-run jobs only");
    const sql = configuration.query?.query ?? "";
    if (configuration.query?.useLegacySql !== false)
      throw new BigqueryFault(400, "invalidQuery", "legacy SQL: this fake runs GoogleSQL only");
    const statementType = statementTypeOf(sql);
    const query: Record<string, unknown> = { statementType, totalBytesProcessed: "0", totalBytesBilled: "0", cacheHit: false };
    if (statementType === "SELECT") {
      const schema = await describe(sql);
      const tables = await referencedTables(name, sql);
      query.schema = { fields: schema.map(publicField) };
      query.referencedTables = tables.map((t) => t.ref);
      query.totalBytesProcessed = String(tables.reduce((sum, t) => sum + t.bytes, 0));
    }
    return {
      kind: "bigquery#job",
      jobReference: { projectId: name, location: "US" },
      configuration: { dryRun: true, query: configuration.query, jobType: "QUERY" },
      status: { state: "DONE" },
      statistics: { creationTime: String(Date.now()), totalBytesProcessed: query.totalBytesProcessed, query },
    };
  }

  async function query(name: string, project: Project, body: Record<string, unknown>) {
    if (body.useLegacySql !== false) throw new BigqueryFault(400, "invalidQuery", "legacy SQL: this fake runs GoogleSQL only");
    const requestId = typeof body.requestId === "string" ? body.requestId : undefined;
    let jobId = requestId ? project.requestIds.get(requestId) : undefined;
    if (!jobId) {
      jobId = `job_${randomUUID().replaceAll("-", "")}`;
      if (requestId) project.requestIds.set(requestId, jobId);
      project.jobs.set(jobId, startJob(jobId, String(body.query ?? ""), Number(body.jobTimeoutMs) || 0));
    }
    const params = new URLSearchParams();
    for (const k of ["maxResults", "timeoutMs"]) if (body[k] !== undefined) params.set(k, String(body[k]));
    if ((body.formatOptions as { useInt64Timestamp?: boolean } | undefined)?.useInt64Timestamp)
      params.set("formatOptions.useInt64Timestamp", "true");
    return queryResults(name, project, jobId, params, "bigquery#queryResponse");
  }

  function startJob(id: string, sql: string, timeoutMs: number): Job {
    const job: Job = { id, schema: [], polls: 0, done: Promise.resolve() };
    job.done = (async () => {
      try {
        job.schema = await describe(sql);
        const cols = job.schema.map((s, k) => jsonExpr(`q.c${k}`, s, 0));
        const list = job.schema.map((_, k) => `c${k}`).join(", ");
        const select = `SELECT ${rowJson(cols)} AS r FROM (\n${sql}\n) AS q${list ? `(${list})` : ""}`;
        const rows = await readOnly(select, timeoutMs);
        job.rows = rows.map((r) => JSON.parse(String(r.r)) as unknown[]);
      } catch (err) {
        job.error = err instanceof BigqueryFault ? err : new BigqueryFault(500, "backendError", String(err));
      }
    })();
    return job;
  }

  async function queryResults(
    name: string,
    project: Project,
    jobId: string,
    params: URLSearchParams,
    kind = "bigquery#getQueryResultsResponse",
  ) {
    const job = project.jobs.get(jobId);
    if (!job) throw new BigqueryFault(404, "notFound", `Not found: Job ${name}:US.${jobId}`);
    const jobReference = { projectId: name, jobId, location: "US" };
    if (job.polls++ < project.config.pending_polls) {
      await sleep(20);
      return { kind, jobReference, jobComplete: false };
    }
    const wait = Math.min(Number(params.get("timeoutMs") ?? 10_000), 10_000);
    const finished = await Promise.race([job.done.then(() => true), sleep(wait).then(() => false)]);
    if (!finished) return { kind, jobReference, jobComplete: false };
    if (job.error) throw job.error;
    const rows = job.rows ?? [];
    const offset = Number(params.get("pageToken")?.split(":")[1] ?? params.get("startIndex") ?? 0);
    const count = Math.min(Number(params.get("maxResults") ?? Infinity) || Infinity, project.config.page_rows);
    const end = Math.min(rows.length, offset + count);
    const int64 = params.get("formatOptions.useInt64Timestamp") === "true";
    return {
      kind,
      jobReference,
      jobComplete: true,
      schema: { fields: job.schema.map(publicField) },
      totalRows: String(rows.length),
      // An empty page has no `rows` field at all.
      ...(end > offset
        ? { rows: rows.slice(offset, end).map((r) => ({ f: job.schema.map((s, k) => ({ v: cell(s, r[k], int64) })) })) }
        : {}),
      ...(end < rows.length ? { pageToken: `${randomUUID().slice(0, 8)}:${end}` } : {}),
    };
  }

  async function getTable(name: string, dataset: string, table: string) {
    const rows = await readOnly(`SELECT count(*)::text AS n FROM ${ident(dataset)}.${ident(table)}`, 10_000);
    return {
      kind: "bigquery#table",
      tableReference: { projectId: name, datasetId: dataset, tableId: table },
      type: "TABLE",
      numRows: String(rows[0]?.n ?? "0"),
    };
  }

  /** Runs SQL in a read-only transaction with a statement timeout; Postgres errors become BigQuery's. */
  async function readOnly(sql: string, timeoutMs: number): Promise<Record<string, unknown>[]> {
    const client = await pool.connect();
    try {
      await client.query("BEGIN READ ONLY");
      await client.query(`SET LOCAL statement_timeout = ${Math.max(0, Math.floor(timeoutMs))}`);
      const result = await client.query(sql);
      await client.query("COMMIT");
      return result.rows as Record<string, unknown>[];
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw pgFault(err, timeoutMs);
    } finally {
      client.release();
    }
  }

  /** The result schema of a query, from its Postgres result columns (LIMIT 0: nothing is read). */
  async function describe(sql: string): Promise<Shape[]> {
    const client = await pool.connect();
    try {
      await client.query("BEGIN READ ONLY");
      const result = await client.query(`SELECT * FROM (\n${sql}\n) AS q LIMIT 0`);
      const names = result.fields.map((f, k) => (f.name === "?column?" ? `f${k}_` : f.name));
      const duplicate = names.find((n, k) => names.indexOf(n) !== k);
      if (duplicate)
        throw new BigqueryFault(
          400,
          "invalidQuery",
          `Duplicate column names in the result are not supported. Found duplicate(s): ${duplicate}`,
        );
      const shapes: Shape[] = [];
      for (const [k, f] of result.fields.entries()) shapes.push(await shapeOf(client, names[k] ?? f.name, f.dataTypeID));
      await client.query("COMMIT");
      return shapes;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err instanceof BigqueryFault ? err : pgFault(err, 0);
    } finally {
      client.release();
    }
  }

  async function referencedTables(name: string, sql: string) {
    const rows = await readOnly(`EXPLAIN (FORMAT JSON, VERBOSE) SELECT * FROM (\n${sql}\n) AS q`, 10_000);
    const found = new Map<string, { schema: string; table: string }>();
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === "object") {
        const n = node as Record<string, unknown>;
        if (typeof n["Relation Name"] === "string")
          found.set(`${n.Schema}.${n["Relation Name"]}`, { schema: String(n.Schema), table: n["Relation Name"] });
        Object.values(n).forEach(walk);
      }
    };
    walk(rows[0]?.["QUERY PLAN"]);
    const out: { ref: { projectId: string; datasetId: string; tableId: string }; bytes: number }[] = [];
    for (const t of found.values()) {
      const size = await readOnly(`SELECT pg_relation_size('${ident(t.schema)}.${ident(t.table)}')::text AS b`, 10_000);
      out.push({ ref: { projectId: name, datasetId: t.schema, tableId: t.table }, bytes: Number(size[0]?.b ?? 0) });
    }
    return out;
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const handle = async () => {
      if (req.method === "POST" && url.pathname === "/token") return token(req, res);
      const control = /^\/_fake\/([^/]+)\/(key|config|state|revoke)$/.exec(url.pathname);
      if (control) {
        const project = projectOf(decodeURIComponent(control[1] ?? ""));
        const name = decodeURIComponent(control[1] ?? "");
        if (control[2] === "key") {
          const privateKey = url.searchParams.get("rogue")
            ? rogue.privateKey.export({ type: "pkcs8", format: "pem" }).toString()
            : (keys.get(project.kid)?.privatePem ?? "");
          return json(res, 200, {
            type: "service_account",
            project_id: name,
            private_key_id: project.kid,
            private_key: privateKey,
            client_email: emailOf(name),
            client_id: "100000000000000000001",
            auth_uri: "https://accounts.google.com/o/oauth2/auth",
            token_uri: tokenUri(),
          });
        }
        if (control[2] === "revoke") {
          for (const [t, grant] of tokens) if (grant.project === name) tokens.delete(t);
          return json(res, 200, {});
        }
        if (control[2] === "config") {
          project.config = { ...defaults(), ...(JSON.parse(await readBody(req)) as Partial<ProjectConfig>) };
          return json(res, 200, project.config);
        }
        return json(res, 200, { grants: project.grants, requests: project.requests, cancelled: project.cancelled });
      }
      return api(req, res, url);
    };
    handle().catch((err: unknown) => {
      if (!res.headersSent) sendError(res, 500, "backendError", String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  port = typeof address === "object" && address ? address.port : 0;
  server.on("close", () => void pool.end().catch(() => undefined));
  return { server, port };
}

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

const PG_TO_BIGQUERY: Record<string, string> = {
  int2: "INTEGER",
  int4: "INTEGER",
  int8: "INTEGER",
  float4: "FLOAT",
  float8: "FLOAT",
  numeric: "NUMERIC",
  bool: "BOOLEAN",
  bytea: "BYTES",
  date: "DATE",
  time: "TIME",
  timestamp: "DATETIME",
  timestamptz: "TIMESTAMP",
  json: "JSON",
  jsonb: "JSON",
};

async function shapeOf(client: pg.PoolClient, name: string, oid: number): Promise<Shape> {
  const { rows } = await client.query<{ typname: string; typtype: string; typcategory: string; typelem: number; typrelid: number }>(
    "SELECT typname, typtype, typcategory, typelem::int, typrelid::int FROM pg_type WHERE oid = $1",
    [oid],
  );
  const t = rows[0];
  if (!t) return { name, type: "STRING", mode: "NULLABLE", pgType: "text" };
  if (t.typcategory === "A" && t.typelem) {
    const element = await shapeOf(client, name, t.typelem);
    return { ...element, name, mode: "REPEATED", element, pgType: t.typname };
  }
  if (t.typtype === "c") {
    const attrs = await client.query<{ attname: string; atttypid: number }>(
      "SELECT attname, atttypid::int FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
      [t.typrelid],
    );
    const fields: Shape[] = [];
    for (const a of attrs.rows) fields.push(await shapeOf(client, a.attname, a.atttypid));
    return { name, type: "RECORD", mode: "NULLABLE", fields, pgType: t.typname };
  }
  return { name, type: PG_TO_BIGQUERY[t.typname] ?? "STRING", mode: "NULLABLE", pgType: t.typname };
}

/** The schema field the API shows (no Postgres details). */
function publicField(s: Shape): Record<string, unknown> {
  return { name: s.name, type: s.type, mode: s.mode, ...(s.fields ? { fields: s.fields.map(publicField) } : {}) };
}

/** SQL giving the value `x` of shape `s` as JSON: scalars as text (see {@link cell}), arrays as JSON arrays, records as arrays of their fields. */
function jsonExpr(x: string, s: Shape, depth: number): string {
  if (s.mode === "REPEATED" && s.element) {
    // Subscripts rather than unnest, which would spread a composite element into its columns.
    const i = `i${depth}`;
    const element = { ...s.element, mode: "NULLABLE" as const };
    return `COALESCE((SELECT json_agg(${jsonExpr(`(${x})[${i}]`, element, depth + 1)} ORDER BY ${i}) FROM generate_subscripts(${x}, 1) AS ${i}), '[]'::json)`;
  }
  if (s.fields)
    return `CASE WHEN ${x} IS NULL THEN NULL ELSE json_build_array(${s.fields.map((f) => jsonExpr(`(${x}).${ident(f.name)}`, f, depth + 1)).join(", ")}) END`;
  return `to_json(${textExpr(x, s.pgType)})`;
}

function textExpr(x: string, pgType: string): string {
  switch (pgType) {
    case "bool":
      return `CASE WHEN ${x} THEN 'true' WHEN NOT ${x} THEN 'false' END`;
    case "bytea":
      return `translate(encode(${x}, 'base64'), E'\\n', '')`;
    case "timestamptz":
      return `(extract(epoch from ${x}) * 1000000)::numeric(30, 0)::text`;
    case "timestamp":
      return `to_char(${x}, 'YYYY-MM-DD"T"HH24:MI:SS.US')`;
    case "numeric":
      return `trim_scale(${x})::text`;
    case "float4":
    case "float8":
      return `${x}::float8::text`;
    default:
      return `${x}::text`;
  }
}

/** One JSON array per row; json_build_array takes at most 100 arguments, so wide rows are joined in chunks. */
function rowJson(cols: string[]): string {
  if (cols.length <= 90) return `json_build_array(${cols.join(", ")})::text`;
  const chunks: string[] = [];
  for (let i = 0; i < cols.length; i += 90) chunks.push(`jsonb_build_array(${cols.slice(i, i + 90).join(", ")})`);
  return `(${chunks.join(" || ")})::text`;
}

/** A value (as {@link jsonExpr} gave it) as the API's `v`. */
function cell(s: Shape, value: unknown, int64Timestamps: boolean): unknown {
  if (s.mode === "REPEATED" && s.element) {
    const element = { ...s.element, mode: "NULLABLE" as const };
    return ((value as unknown[] | null) ?? []).map((e) => ({ v: cell(element, e, int64Timestamps) }));
  }
  if (value === null || value === undefined) return null;
  if (s.fields) return { f: s.fields.map((f, k) => ({ v: cell(f, (value as unknown[])[k], int64Timestamps) })) };
  const text = String(value);
  switch (s.type) {
    case "FLOAT":
      return /^-?\d/.test(text) ? String(Number(text)).toUpperCase().replace("E+", "E") : text;
    case "DATETIME":
      return text.replace(/\.?0+$/, "");
    case "TIMESTAMP":
      return int64Timestamps ? text : floatSeconds(text);
    case "JSON":
      return JSON.stringify(JSON.parse(text));
    default:
      return text;
  }
}

/** Microseconds as the API's default float seconds (`1.7041646451234E9`). */
function floatSeconds(micros: string): string {
  const negative = micros.startsWith("-");
  const digits = (negative ? micros.slice(1) : micros).replace(/^0+/, "") || "0";
  if (digits === "0") return "0.0";
  const exponent = digits.length - 7;
  const mantissa = `${digits[0]}.${digits.slice(1).replace(/0+$/, "") || "0"}`;
  return `${negative ? "-" : ""}${mantissa}E${exponent}`;
}

/** The statement type a dry run reports, from the leading keywords; several statements are a SCRIPT. */
function statementTypeOf(sql: string): string {
  const bare = sql
    .replace(/--[^\n]*|#[^\n]*|\/\*[\s\S]*?\*\//g, " ")
    .trim()
    .replace(/;\s*$/, "");
  if (bare.includes(";")) return "SCRIPT";
  const words = bare
    .replace(/^\(+/, "")
    .split(/\s+/)
    .map((w) => w.toUpperCase());
  const [first = "", second = "", third = ""] = words;
  if (["SELECT", "WITH", "FROM", "VALUES"].includes(first)) return "SELECT";
  if (first === "CREATE" || first === "DROP" || first === "ALTER") {
    const object = second === "OR" ? (words[3] ?? "") : ["TEMP", "TEMPORARY"].includes(second) ? third : second;
    return `${first}_${object === "SCHEMA" ? "SCHEMA" : object || "TABLE"}`;
  }
  if (first === "TRUNCATE") return "TRUNCATE_TABLE";
  return first || "UNKNOWN";
}

/** A Postgres error as BigQuery reports a failed query. */
function pgFault(err: unknown, timeoutMs: number): BigqueryFault {
  const e = err as { code?: string; message?: string };
  const message = e.message ?? String(err);
  if (e.code === "57014") return new BigqueryFault(400, "timeout", `Job exceeded the maximum execution time (jobTimeoutMs ${timeoutMs}).`);
  if (e.code === "42P01" || e.code === "3F000") return new BigqueryFault(404, "notFound", `Not found: Table ${message}`);
  if (e.code === "42501") return new BigqueryFault(403, "accessDenied", `Access Denied: Table: ${message}`);
  return new BigqueryFault(400, "invalidQuery", message);
}
