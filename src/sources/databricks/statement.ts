import { isRecord, retryAfterSeconds, truncate } from "../../lib/http";
import { checkOutboundUrl } from "../../lib/ssrf";
import { WarehouseError } from "../errors";
import type { SourceField, WarehouseOptions } from "../source";
import { sleep } from "../statement-http";
import { type DatabricksSettings, databricksApi } from "./api";
import { JsonArrayRows } from "./json-array";
import { databricksTypeId } from "./types";

/**
 * One statement through the SQL Statement Execution API 2.0
 * (https://docs.databricks.com/api/workspace/statementexecution): `POST /api/2.0/sql/statements`
 * with `disposition: EXTERNAL_LINKS` and `format: JSON_ARRAY`, `GET …/{id}` while it is PENDING or
 * RUNNING, `POST …/{id}/cancel` when the statement timeout passes, then the result chunks: each
 * `external_links[].external_link` is a presigned cloud-storage URL fetched WITHOUT our
 * Authorization header (the docs forbid it: the URL carries its own credential), and
 * `next_chunk_internal_link` leads to the next chunk's link.
 *
 * JSON_ARRAY, not CSV or ARROW_STREAM: every value arrives as a string or null, so NULL and '' stay
 * apart (CSV loses that) and no Arrow decoder is needed in the Worker; its size cost is paid in
 * storage bandwidth, not in the warehouse.
 */

/** A row as JSON_ARRAY sends it: one string or null per column. */
type JsonArrayRow = (string | null)[];

/** A statement that SUCCEEDED: its columns and its result's chunks. */
export interface StatementResult {
  statementId: string;
  fields: SourceField[];
  /** The rows in order, a network read's worth at a time; the next chunk's download starts while the caller works. */
  chunks(): AsyncGenerator<JsonArrayRow[]>;
}

interface ExternalLink {
  url: string;
  chunkIndex: number;
  next?: string;
}

// How long to poll between GETs: starts short (most models finish within the first wait), then backs off.
const FIRST_POLL_MS = 100;
const MAX_POLL_MS = 2000;
const DOWNLOAD_ATTEMPTS = 3;
// Cloud storage that sends nothing for this long (headers, or the next piece of a body) is given up on.
const STORAGE_IDLE_MS = 60_000;

/** A chunk's download whose status was 200, its body unread; `abort` stops it. */
interface OpenedChunk {
  response: Response;
  abort: AbortController;
}

/**
 * The `wait_timeout` to ask for (the API takes 0 s, asynchronous, or 5–50 s): up to 10 s, and at
 * least 2 s short of the statement timeout, so that our deadline never cuts the POST itself (the
 * statement could not be cancelled without its id); 0 s when that leaves less than 5 s.
 */
export function waitTimeout(statementTimeoutMs: number): string {
  const seconds = Math.floor((statementTimeoutMs - 2000) / 1000);
  return seconds < 5 ? "0s" : `${Math.min(10, seconds)}s`;
}

/**
 * Runs `sql` and waits for it to succeed, within the statement timeout (then the statement is
 * cancelled and this throws `timeout`). Throws {@link WarehouseError}.
 */
export async function runStatement(settings: DatabricksSettings, opts: WarehouseOptions, sql: string): Promise<StatementResult> {
  const deadline = Date.now() + opts.statementTimeoutMs;
  const timer = new AbortController();
  const timeout = setTimeout(
    () => timer.abort(new WarehouseError("timeout", `Databricks did not finish the statement within ${opts.statementTimeoutMs} ms`)),
    opts.statementTimeoutMs,
  );
  let statementId: string | undefined;
  try {
    let response = await databricksApi(settings, opts, {
      method: "POST",
      path: "/api/2.0/sql/statements",
      body: {
        statement: sql,
        warehouse_id: settings.warehouse_id,
        ...(settings.catalog ? { catalog: settings.catalog } : {}),
        ...(settings.schema ? { schema: settings.schema } : {}),
        wait_timeout: waitTimeout(opts.statementTimeoutMs),
        on_wait_timeout: "CONTINUE",
        disposition: "EXTERNAL_LINKS",
        format: "JSON_ARRAY",
      },
      signal: timer.signal,
    });
    statementId = typeof response.statement_id === "string" ? response.statement_id : undefined;
    if (!statementId) throw new WarehouseError("unreachable", "Databricks answered without a statement_id", { retryable: false });
    let pollMs = FIRST_POLL_MS;
    while (isRunning(response)) {
      if (Date.now() + pollMs >= deadline) throw timer.signal.reason ?? deadlineError(opts);
      await sleep(pollMs);
      pollMs = Math.min(MAX_POLL_MS, pollMs * 2);
      response = await databricksApi(settings, opts, {
        method: "GET",
        path: `/api/2.0/sql/statements/${encodeURIComponent(statementId)}`,
        signal: timer.signal,
      });
    }
    return succeeded(settings, opts, statementId, response);
  } catch (err) {
    if (statementId && err instanceof WarehouseError && err.code === "timeout") await cancel(settings, opts, statementId);
    throw err;
  } finally {
    clearTimeout(timeout);
  }
}

function deadlineError(opts: WarehouseOptions): WarehouseError {
  return new WarehouseError("timeout", `Databricks did not finish the statement within ${opts.statementTimeoutMs} ms`);
}

function stateOf(response: Record<string, unknown>): string {
  const status = isRecord(response.status) ? response.status : {};
  return typeof status.state === "string" ? status.state : "";
}

function isRunning(response: Record<string, unknown>): boolean {
  const state = stateOf(response);
  return state === "PENDING" || state === "RUNNING";
}

/** Best effort: the statement stops spending the warehouse's time; a failure to cancel changes nothing for the caller. */
async function cancel(settings: DatabricksSettings, opts: WarehouseOptions, statementId: string): Promise<void> {
  await databricksApi(settings, opts, {
    method: "POST",
    path: `/api/2.0/sql/statements/${encodeURIComponent(statementId)}/cancel`,
    signal: AbortSignal.timeout(10_000),
  }).catch(() => undefined);
}

/** The result of a finished statement, or the failure it reported. */
function succeeded(
  settings: DatabricksSettings,
  opts: WarehouseOptions,
  statementId: string,
  response: Record<string, unknown>,
): StatementResult {
  const state = stateOf(response);
  if (state !== "SUCCEEDED") throw statementError(state, response);
  const manifest = isRecord(response.manifest) ? response.manifest : {};
  // EXTERNAL_LINKS results stop at a byte limit (100 GiB unless set): a cut result would lose rows.
  if (manifest.truncated === true)
    throw new WarehouseError("query_failed", "Databricks truncated the result at its byte limit; narrow the model (fewer columns or rows)");
  const schema = isRecord(manifest.schema) ? manifest.schema : {};
  const columns = Array.isArray(schema.columns) ? schema.columns.filter(isRecord) : [];
  const fields = columns.map((c): SourceField => {
    const name = String(c.name ?? "");
    const typeName = typeof c.type_name === "string" ? c.type_name : undefined;
    const typeText = typeof c.type_text === "string" ? c.type_text : (typeName ?? "STRING");
    return { name, type: typeText, typeId: databricksTypeId(typeName, typeText) };
  });
  const first = isRecord(response.result) ? response.result : {};
  return { statementId, fields, chunks: () => chunkRows(settings, opts, statementId, fields.length, first) };
}

/** The fields, refusing a repeated name (rows are mapped by name). */
export function uniqueFields(fields: SourceField[]): SourceField[] {
  const seen = new Set<string>();
  for (const { name } of fields) {
    if (seen.has(name))
      throw new WarehouseError("query_failed", `column name "${name}" appears more than once; give each column a unique alias`);
    seen.add(name);
  }
  return fields;
}

// FAILED statements' `status.error.error_code`s that are the warehouse's trouble, not the model's
// (https://docs.databricks.com/api/statement-execution/v1/statement-execution/object.md).
const TRANSIENT_CODES = new Set([
  "INTERNAL_ERROR",
  "TEMPORARILY_UNAVAILABLE",
  "IO_ERROR",
  "SERVICE_UNDER_MAINTENANCE",
  "WORKSPACE_TEMPORARILY_UNAVAILABLE",
  "RESOURCE_EXHAUSTED",
  "ABORTED",
]);

/** A FAILED, CANCELED or CLOSED statement as a {@link WarehouseError}. */
function statementError(state: string, response: Record<string, unknown>): WarehouseError {
  const status = isRecord(response.status) ? response.status : {};
  const error = isRecord(status.error) ? status.error : {};
  const code = typeof error.error_code === "string" ? error.error_code : "";
  const message = typeof error.message === "string" ? error.message : "";
  const sqlstate = typeof status.sql_state === "string" ? status.sql_state : undefined;
  if (state === "FAILED") {
    const text = `Databricks: ${message || code || "the statement failed"}`;
    const extra = sqlstate ? { sqlstate } : {};
    if (sqlstate === "42501" || /\[(INSUFFICIENT_PERMISSIONS|PERMISSION_DENIED)/.test(message))
      return new WarehouseError("permission_denied", text, extra);
    if (code === "UNAUTHENTICATED") return new WarehouseError("auth_failed", text, extra);
    if (code === "DEADLINE_EXCEEDED") return new WarehouseError("timeout", text, extra);
    if (TRANSIENT_CODES.has(code)) return new WarehouseError("unreachable", text, extra);
    return new WarehouseError("query_failed", text, extra);
  }
  if (state === "CANCELED") return new WarehouseError("timeout", "Databricks: the statement was cancelled before it finished");
  return new WarehouseError("query_failed", `Databricks: the statement ended as ${state || "an unknown state"}; no result to read`);
}

/** The links of a chunk answer (`result`, or `GET …/result/chunks/{n}`). */
function externalLinks(result: Record<string, unknown>): ExternalLink[] {
  const links = Array.isArray(result.external_links) ? result.external_links.filter(isRecord) : [];
  return links.map((l) => ({
    url: String(l.external_link ?? ""),
    chunkIndex: Number(l.chunk_index ?? 0),
    next: typeof l.next_chunk_internal_link === "string" ? l.next_chunk_internal_link : undefined,
  }));
}

/**
 * The result's rows, a network read's worth at a time: each chunk's body is read as it streams
 * (./json-array.ts), and the next chunk's download starts (its link resolved, its request sent)
 * while the caller consumes the current one; its body waits unread until then.
 */
async function* chunkRows(
  settings: DatabricksSettings,
  opts: WarehouseOptions,
  statementId: string,
  width: number,
  first: Record<string, unknown>,
): AsyncGenerator<JsonArrayRow[]> {
  type Opened = { chunk: OpenedChunk; link: ExternalLink; queue: ExternalLink[] };
  const open = async (queue: ExternalLink[], next: string | undefined): Promise<Opened | undefined> => {
    let links = queue;
    if (links.length === 0) {
      if (!next) return undefined;
      // An internal link is a path on the workspace (joined with the host): anything else is not Databricks'.
      if (!next.startsWith("/api/")) throw new WarehouseError("unreachable", `unexpected next_chunk_internal_link ${truncate(next, 100)}`);
      links = externalLinks(await databricksApi(settings, opts, { method: "GET", path: next }));
      if (links.length === 0) return undefined;
    }
    const [link, ...rest] = links as [ExternalLink, ...ExternalLink[]];
    return { chunk: await openChunk(settings, opts, statementId, link), link, queue: rest };
  };
  let current = open(externalLinks(first), undefined);
  for (;;) {
    const opened = await current;
    if (!opened) return;
    const next = open(opened.queue, opened.link.next);
    // If the caller stops early, the prefetch's failure is nobody's to report, and its body is released.
    next.catch(() => undefined);
    let finished = false;
    try {
      yield* readChunk(opened.chunk, width, opened.link.chunkIndex);
      finished = true;
    } finally {
      if (!finished)
        void next.then(
          (o) => o?.chunk.response.body?.cancel(),
          () => undefined,
        );
    }
    current = next;
  }
}

/** A chunk's body as rows of `width` strings or nulls, a network read at a time. Throws {@link WarehouseError}. */
async function* readChunk({ response, abort }: OpenedChunk, width: number, chunkIndex: number): AsyncGenerator<JsonArrayRow[]> {
  const reader = response.body?.getReader();
  if (!reader) throw new WarehouseError("connection_lost", `result chunk ${chunkIndex} has no body`);
  const decoder = new TextDecoder();
  const splitter = new JsonArrayRows();
  const rowsOf = (text: string): JsonArrayRow[] => {
    let rows: unknown[][];
    try {
      rows = splitter.push(text);
    } catch (err) {
      throw new WarehouseError("connection_lost", `result chunk ${chunkIndex} is not a JSON array of rows: ${String(err)}`);
    }
    for (const row of rows) {
      if (row.length !== width || !row.every((v) => v === null || typeof v === "string"))
        throw new WarehouseError("connection_lost", `result chunk ${chunkIndex} has a row that is not ${width} strings or nulls`);
    }
    return rows as JsonArrayRow[];
  };
  let done = false;
  try {
    for (;;) {
      let read: ReadableStreamReadResult<Uint8Array>;
      // Storage that stops sending is given up on; the time the caller spends on rows does not count.
      const stalled = setTimeout(() => abort.abort(), STORAGE_IDLE_MS);
      try {
        read = await reader.read();
      } catch (err) {
        const why = abort.signal.aborted ? `no data for ${STORAGE_IDLE_MS} ms` : String(err);
        throw new WarehouseError("connection_lost", `reading result chunk ${chunkIndex} failed: ${why}`, { cause: err });
      } finally {
        clearTimeout(stalled);
      }
      if (read.done) break;
      const rows = rowsOf(decoder.decode(read.value, { stream: true }));
      if (rows.length > 0) yield rows;
    }
    const rows = rowsOf(decoder.decode());
    if (rows.length > 0) yield rows;
    try {
      splitter.end();
    } catch (err) {
      throw new WarehouseError("connection_lost", `result chunk ${chunkIndex} ended early: ${String(err)}`);
    }
    done = true;
  } finally {
    if (!done) await reader.cancel().catch(() => undefined);
  }
}

/** A presigned link's URL after the SSRF guard: the storage host is only known now, so it is judged now. */
export function guardedLinkUrl(url: string, allowPrivate: boolean): string {
  const verdict = checkOutboundUrl(url, { allowPrivate });
  if (!verdict.ok)
    throw new WarehouseError(
      "host_not_allowed",
      `a result link of Databricks was refused: ${verdict.reason}; private and local hosts are not allowed`,
    );
  return url;
}

/**
 * Requests one chunk and returns the response once it is 200, its body unread: no Authorization
 * header (the URL is its own credential), no redirects; 429/5xx retried after Retry-After; a
 * refused or expired link (403) is asked again from the API once (`GET …/result/chunks/{n}`,
 * links live ≤ 15 minutes). Throws {@link WarehouseError}.
 */
async function openChunk(
  settings: DatabricksSettings,
  opts: WarehouseOptions,
  statementId: string,
  link: ExternalLink,
): Promise<OpenedChunk> {
  let url = link.url;
  let renewed = false;
  for (let attempt = 1; ; attempt++) {
    let res: Response;
    const abort = new AbortController();
    const stalled = setTimeout(() => abort.abort(), STORAGE_IDLE_MS);
    try {
      res = await fetch(guardedLinkUrl(url, opts.allowPrivate), { method: "GET", redirect: "manual", signal: abort.signal });
    } catch (err) {
      if (err instanceof WarehouseError) throw err;
      if (attempt < DOWNLOAD_ATTEMPTS) continue;
      throw new WarehouseError("connection_lost", `downloading result chunk ${link.chunkIndex} failed: ${String(err)}`, { cause: err });
    } finally {
      clearTimeout(stalled);
    }
    if (res.status === 200) return { response: res, abort };
    const body = await res.text().catch(() => "");
    if ((res.status === 403 || res.status === 404) && !renewed) {
      renewed = true;
      const fresh = externalLinks(
        await databricksApi(settings, opts, {
          method: "GET",
          path: `/api/2.0/sql/statements/${encodeURIComponent(statementId)}/result/chunks/${link.chunkIndex}`,
        }),
      ).find((l) => l.chunkIndex === link.chunkIndex);
      if (fresh) url = fresh.url;
      continue;
    }
    if ((res.status === 429 || res.status >= 500) && attempt < DOWNLOAD_ATTEMPTS) {
      await sleep(Math.min(10_000, (retryAfterSeconds(res.headers) ?? 1) * 1000));
      continue;
    }
    const transient = res.status >= 500 || res.status === 429;
    throw new WarehouseError(
      transient ? "connection_lost" : "unreachable",
      `result chunk ${link.chunkIndex}: cloud storage answered HTTP ${res.status}: ${truncate(body, 200)}`,
      { retryable: transient },
    );
  }
}
