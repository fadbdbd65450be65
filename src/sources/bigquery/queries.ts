import { maxRowUtf8, type RawValue, writeRowUtf8 } from "../../engine/row";
import { WarehouseError } from "../errors";
import type { ConnectionTest, ExtractHandler, Extracted, JsonValue, QueryPreview, Source, SourceField, WarehouseOptions } from "../source";
import { type BigqueryClient, callApi, deadlineOf, type TableField } from "./api";
import { parseServiceAccountKey } from "./key-file";
import { bigqueryModelSql } from "./sql-guard";
import { cellConverter, jsonValue, typeId, typeName } from "./values";

/**
 * The BigQuery {@link Source}. Every model first goes through a dry run: `jobs.insert` with
 * `configuration.dryRun` (https://cloud.google.com/bigquery/docs/dry-run-queries), which runs
 * nothing and answers the statement's `statistics.query.statementType`, its result `schema` and the
 * tables it reads (and the bytes it would scan); anything but SELECT is refused (`jobs.query`
 * responses do not carry the statement type). Rows then come from `jobs.query`
 * (https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/query: `useLegacySql: false`,
 * `maxResults`, `timeoutMs`, `jobTimeoutMs`, `location`, int64 timestamps, a `requestId` so a
 * retried request does not start a second job), polled with `jobs.getQueryResults`
 * (https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/getQueryResults) while
 * `jobComplete` is false, and paged there by `pageToken`: the next page is requested while the
 * current one is handed over, so memory holds at most two pages.
 */

/** The settings of a BigQuery source (config and credentials together). */
export interface BigquerySettings {
  project_id: string;
  location?: string;
  endpoint?: string;
  service_account_json: string;
}

const DEFAULT_ENDPOINT = "https://bigquery.googleapis.com";
// Rows per page: pages are JSON parsed whole, and a Worker has 128 MB; the API also caps a page at about 10 MB.
const PAGE_ROWS = 5000;
const MAX_PREVIEW_ROWS = 10_000;
// How long one jobs.query / getQueryResults call may wait for the job (the API returns earlier when it is done).
const POLL_MS = 10_000;

export function openBigquery(settings: BigquerySettings, opts: WarehouseOptions): Source {
  const key = parseServiceAccountKey(settings.service_account_json);
  const client = (): BigqueryClient => {
    if ("problem" in key) throw new WarehouseError("invalid_connection_string", `credentials.service_account_json ${key.problem}`);
    return {
      base: (settings.endpoint ?? DEFAULT_ENDPOINT).replace(/\/+$/, ""),
      project: settings.project_id,
      location: settings.location,
      key,
      opts,
    };
  };
  return {
    test: () => testConnection(client, opts),
    describe: async (sql) => {
      const c = client();
      const { fields } = await dryRun(c, bigqueryModelSql(sql), deadlineOf(opts));
      return fields.map(({ name, type }) => ({ name, type }));
    },
    preview: (sql, limit) => previewQuery(client(), sql, limit),
    estimateRows: (sql) => estimateRows(client(), sql),
    extract: (sql, handler) => extractQuery(client(), sql, handler),
  };
}

async function testConnection(client: () => BigqueryClient, opts: WarehouseOptions): Promise<ConnectionTest> {
  const started = Date.now();
  try {
    await dryRun(client(), "SELECT 1", deadlineOf(opts));
    return { ok: true, latency_ms: Date.now() - started, server_version: "BigQuery API v2" };
  } catch (err) {
    const error = err instanceof WarehouseError ? err : new WarehouseError("unreachable", String(err));
    return { ok: false, error: { code: error.code, message: error.message } };
  }
}

const projectPath = (client: BigqueryClient) => `/projects/${encodeURIComponent(client.project)}`;

/** What a dry run tells about a model. */
interface DryRun {
  fields: SourceField[];
  referencedTables: { projectId: string; datasetId: string; tableId: string }[];
}

/** The dry run of `sql` (see the module comment); throws `read_only` unless it is a SELECT. */
async function dryRun(client: BigqueryClient, sql: string, deadline: number): Promise<DryRun> {
  const job = await callApi(client, "POST", `${projectPath(client)}/jobs`, deadline, {
    body: {
      jobReference: { projectId: client.project, ...(client.location ? { location: client.location } : {}) },
      configuration: { dryRun: true, query: { query: sql, useLegacySql: false } },
    },
  });
  const query = ((job.statistics as { query?: Record<string, unknown> } | undefined)?.query ?? {}) as Record<string, unknown>;
  const statementType = typeof query.statementType === "string" ? query.statementType : "UNKNOWN";
  if (statementType !== "SELECT")
    throw new WarehouseError(
      "read_only",
      `a model must be a read-only query; BigQuery's dry run reports this statement as ${statementType.replaceAll("_", " ")}`,
    );
  const schema = ((query.schema as { fields?: TableField[] } | undefined)?.fields ?? []) as TableField[];
  return {
    fields: sourceFields(schema),
    referencedTables: Array.isArray(query.referencedTables) ? (query.referencedTables as DryRun["referencedTables"]) : [],
  };
}

/** A result schema's fields; refuses a repeated name. */
function sourceFields(schema: readonly TableField[]): SourceField[] {
  const seen = new Set<string>();
  return schema.map((field) => {
    if (seen.has(field.name))
      throw new WarehouseError("query_failed", `column name "${field.name}" appears more than once; give each column a unique alias`);
    seen.add(field.name);
    return { name: field.name, type: typeName(field), typeId: typeId(field) };
  });
}

/** A page of a query's result, as jobs.query and jobs.getQueryResults answer it. */
interface ResultPage {
  jobComplete?: boolean;
  jobReference?: { projectId?: string; jobId?: string; location?: string };
  schema?: { fields?: TableField[] };
  rows?: { f?: { v?: unknown }[] }[];
  pageToken?: string;
}

/** A job's id and where its pages are read. */
interface Job {
  jobId: string;
  location?: string;
}

const resultParams = (client: BigqueryClient, job: Job, maxResults: number, deadline: number) => ({
  location: job.location ?? client.location,
  maxResults,
  timeoutMs: Math.max(0, Math.min(POLL_MS, deadline - Date.now())),
  "formatOptions.useInt64Timestamp": true,
});

/**
 * Starts the query and returns its first page once the job is complete, polling
 * getQueryResults meanwhile. Past the deadline the job is cancelled and `timeout` thrown.
 */
async function startQuery(
  client: BigqueryClient,
  sql: string,
  maxResults: number,
  deadline: number,
): Promise<{ job: Job; page: ResultPage }> {
  let page = (await callApi(client, "POST", `${projectPath(client)}/queries`, deadline, {
    body: {
      query: sql,
      useLegacySql: false,
      maxResults,
      timeoutMs: Math.max(0, Math.min(POLL_MS, deadline - Date.now())),
      jobTimeoutMs: String(client.opts.statementTimeoutMs),
      ...(client.location ? { location: client.location } : {}),
      formatOptions: { useInt64Timestamp: true },
      requestId: crypto.randomUUID(),
    },
  })) as ResultPage;
  const jobId = page.jobReference?.jobId ?? "";
  const job: Job = { jobId, location: page.jobReference?.location };
  // Without a job (a short query's optional job creation) there is nothing to poll or page.
  if (!jobId && (page.jobComplete !== true || page.pageToken)) throw new WarehouseError("query_failed", "BigQuery's answer names no job");
  while (page.jobComplete !== true) {
    if (Date.now() >= deadline) {
      await cancelJob(client, job);
      throw new WarehouseError("timeout", `BigQuery job ${jobId} did not finish within the statement timeout`);
    }
    // getQueryResults waits up to timeoutMs itself; the pause only spaces out answers that come back at once.
    await new Promise((resolve) => setTimeout(resolve, 200));
    try {
      page = (await callApi(client, "GET", `${projectPath(client)}/queries/${encodeURIComponent(jobId)}`, deadline, {
        params: resultParams(client, job, maxResults, deadline),
      })) as ResultPage;
    } catch (err) {
      if (err instanceof WarehouseError && err.code === "timeout" && Date.now() >= deadline) await cancelJob(client, job);
      throw err;
    }
  }
  return { job, page };
}

/** Asks BigQuery to stop a job (best effort: the timeout is reported either way). */
async function cancelJob(client: BigqueryClient, job: Job): Promise<void> {
  await callApi(client, "POST", `${projectPath(client)}/jobs/${encodeURIComponent(job.jobId)}/cancel`, Date.now() + 5000, {
    params: { location: job.location ?? client.location },
  }).catch(() => undefined);
}

/** A page of a complete job: reading a finished result is bounded per page, not by the statement's deadline. */
function nextPage(client: BigqueryClient, job: Job, pageToken: string, maxResults: number): Promise<ResultPage> {
  const deadline = deadlineOf(client.opts);
  return callApi(client, "GET", `${projectPath(client)}/queries/${encodeURIComponent(job.jobId)}`, deadline, {
    params: { ...resultParams(client, job, maxResults, deadline), pageToken },
  }) as Promise<ResultPage>;
}

/**
 * Every page of the query's result, in order, handed to `onPage` (awaited); the next page is
 * already being fetched meanwhile; `onPage` returning false stops reading.
 */
async function readPages(
  client: BigqueryClient,
  sql: string,
  maxResults: number,
  deadline: number,
  onPage: (page: ResultPage, schema: TableField[]) => Promise<boolean> | boolean,
): Promise<void> {
  const first = await startQuery(client, sql, maxResults, deadline);
  const schema = first.page.schema?.fields ?? [];
  let page: ResultPage = first.page;
  for (;;) {
    const token = page.pageToken;
    const next = token ? nextPage(client, first.job, token, maxResults) : undefined;
    // Rejections are seen when the page is awaited; until then they must not count as unhandled.
    next?.catch(() => undefined);
    if (!(await onPage(page, schema)) || !next) return;
    page = await next;
  }
}

async function previewQuery(client: BigqueryClient, sql: string, limit: number): Promise<QueryPreview> {
  const model = bigqueryModelSql(sql);
  const deadline = deadlineOf(client.opts);
  const rowLimit = Math.max(0, Math.min(MAX_PREVIEW_ROWS, Math.floor(limit) || 0));
  const dry = await dryRun(client, model, deadline);
  const columns = dry.fields.map(({ name, type }) => ({ name, type }));
  const rows: Record<string, JsonValue>[] = [];
  if (rowLimit === 0) return { columns, rows };
  await readPages(client, model, Math.min(rowLimit, PAGE_ROWS), deadline, (page, schema) => {
    const fields = sourceFields(schema);
    const convert = schema.map(cellConverter);
    for (const r of page.rows ?? []) {
      if (rows.length >= rowLimit) return false;
      const row: Record<string, JsonValue> = {};
      for (const [k, f] of fields.entries()) row[f.name] = jsonValue(f.typeId, convert[k]?.(r.f?.[k]?.v) ?? null);
      rows.push(row);
    }
    return rows.length < rowLimit;
  });
  return { columns, rows };
}

/**
 * BigQuery's planner gives no row count: the dry run names the tables the model reads, and the
 * estimate is the largest one's `numRows` (tables.get, metadata only); 0 when it reads no table
 * (or only views, which have no row count).
 */
async function estimateRows(client: BigqueryClient, sql: string): Promise<number> {
  const deadline = deadlineOf(client.opts);
  const dry = await dryRun(client, bigqueryModelSql(sql), deadline);
  let estimate = 0;
  for (const t of dry.referencedTables) {
    const path = `/projects/${encodeURIComponent(t.projectId)}/datasets/${encodeURIComponent(t.datasetId)}/tables/${encodeURIComponent(t.tableId)}`;
    const table = await callApi(client, "GET", path, deadline, { params: { selectedFields: "numRows" } });
    estimate = Math.max(estimate, Number(table.numRows) || 0);
  }
  return estimate;
}

/**
 * Extraction: the dry run checks the model, the query's pages are read in order and each row's
 * chosen columns become a canonical COPY line (./values.ts). The model runs as it is (no
 * wrapping SELECT), so what runs is exactly what the dry run judged. Throws
 * {@link WarehouseError}, or what the handler threw.
 */
async function extractQuery(client: BigqueryClient, sql: string, handler: ExtractHandler): Promise<Extracted> {
  const model = bigqueryModelSql(sql);
  const deadline = deadlineOf(client.opts);
  await dryRun(client, model, deadline);
  let fields: SourceField[] = [];
  let indexes: number[] = [];
  let converters: ((v: unknown) => string | null)[] = [];
  let buffer = new Uint8Array(64 * 1024);
  const values: RawValue[] = [];
  let rows = 0;
  let first = true;
  await readPages(client, model, PAGE_ROWS, deadline, async (page, schema) => {
    if (first) {
      first = false;
      fields = sourceFields(schema);
      const columns = handler.columns(fields);
      indexes = columns.map((name) => {
        const k = fields.findIndex((f) => f.name === name);
        if (k < 0) throw new WarehouseError("query_failed", `the model has no column "${name}"`);
        return k;
      });
      converters = indexes.map((k) => cellConverter(schema[k] as TableField));
    }
    for (const r of page.rows ?? []) {
      const cells = r.f ?? [];
      values.length = 0;
      for (let c = 0; c < indexes.length; c++)
        values.push((converters[c] as (v: unknown) => string | null)(cells[indexes[c] as number]?.v));
      const room = maxRowUtf8(values) + 1;
      if (buffer.length < room) buffer = new Uint8Array(Math.max(room, buffer.length * 2));
      const end = writeRowUtf8(values, buffer, 0);
      buffer[end] = 0x0a;
      rows++;
      const wait = handler.line(buffer.subarray(0, end + 1));
      if (wait) await wait;
    }
    return true;
  });
  return { fields, rows };
}
