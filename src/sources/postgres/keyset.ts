import type { Client } from "@neondatabase/serverless";
import type { ExtractHandler, Extracted, HandlerFailure, KeysetRead, PageCursor } from "../source";
import { beginReadOnly, closeClient, openClient, type PostgresOptions, withReadOnlyTransaction } from "./connection";
import { type CopyPipeline, type CopyVia, copyOut, DESCRIBE_PREFIX, describeForCopy } from "./copy";
import { cursorLines } from "./cursor";
import { type SqlSpan, toWarehouseError } from "./errors";
import { modelSql, quoteIdent } from "./sql-guard";
import { ReadControl } from "./tcp-websocket";
import { type RawRow, rawTextTypes } from "./types";

/**
 * The keyset route of extraction: the model in pages of its key's order, each page a key range
 * `key > <last key of the page before> AND key <= <its own last key>`, so a page holds every row
 * of its keys (a repeated key is never split across pages) and reading can start again after any
 * finished page. Each page's upper bound is asked of the warehouse first (the key `pageRows` rows
 * on, `ORDER BY key OFFSET n-1 LIMIT 1`); every comparison is the warehouse's own, in the key's
 * type and collation; the bounds travel as the key's text form. Rows with a null key come last,
 * as a page of their own. A page is read like the whole model is (COPY, or cursor pages).
 */

/** The page's WHERE clause and the cursor of the page after it. */
interface PageRange {
  where: string;
  next: PageCursor | null;
}

/** A text value as a string literal the warehouse reads back as the same text. */
export function textLiteral(value: string, flavor: PostgresOptions["flavor"]): string {
  const body = value.replaceAll("\\", "\\\\").replaceAll("'", "''");
  // E'…' reads backslashes as escapes whatever standard_conforming_strings says; Redshift has no
  // E'…' and reads a backslash in '…' as an escape.
  return flavor === "redshift" ? `'${body}'` : `E'${body}'`;
}

/** The query for the key `pageRows` rows on from `after` (none when fewer rows remain). */
function boundQuery(model: string, key: string, after: string | null, pageRows: number, flavor: PostgresOptions["flavor"]): string {
  const k = quoteIdent(key);
  const from = after === null ? `${k} IS NOT NULL` : `${k} > ${textLiteral(after, flavor)}`;
  return `SELECT ${k} FROM (\n${model}\n) AS model WHERE ${from} ORDER BY ${k} OFFSET ${Math.max(0, pageRows - 1)} LIMIT 1`;
}

/**
 * Whether the warehouse can serve the model's rows in key order without sorting them all: the plan
 * of a page bound has no sort when sorts are avoided wherever possible (e.g. an index on the key,
 * or a model already in key order). Postgres reads it from `EXPLAIN (FORMAT JSON)`, Redshift from
 * its text plan.
 */
export async function keysetCheap(
  connectionString: string,
  sql: string,
  key: string,
  pageRows: number,
  opts: PostgresOptions,
): Promise<boolean> {
  const model = modelSql(sql);
  const json = opts.flavor !== "redshift";
  const prefix = json ? "EXPLAIN (FORMAT JSON) " : "EXPLAIN ";
  const text = `${prefix}${boundQuery(model, key, null, pageRows, opts.flavor)}`;
  const span = { start: text.indexOf(model), length: model.length };
  return withReadOnlyTransaction(connectionString, opts, span, async (client) => {
    if (json) await client.query(SORT_OFF);
    const result = await client.query<RawRow>({ name: "retl_keyset_plan", text, rowMode: "array", types: rawTextTypes });
    if (!json) return !result.rows.some((row) => /\bSort\b/i.test(row[0] ?? ""));
    const plan: unknown = JSON.parse(result.rows[0]?.[0] ?? "null");
    return !hasSort(plan);
  });
}

/**
 * Bound queries plan without a sort wherever an index can serve the order: the planner may pick a
 * sort for one page (a top-N of the rows left looks cheap for a range it misjudges), but a sort per
 * page reads what is left of the model again and again. Postgres only (Redshift has no such setting).
 */
const SORT_OFF = "SET LOCAL enable_sort = off";
const SORT_ON = "SET LOCAL enable_sort = on";

/** Whether a JSON plan has a Sort (or Incremental Sort) node anywhere. */
function hasSort(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(hasSort);
  if (node === null || typeof node !== "object") return false;
  const n = node as { "Node Type"?: unknown; Plan?: unknown; Plans?: unknown };
  if (typeof n["Node Type"] === "string" && /Sort$/.test(n["Node Type"])) return true;
  return hasSort(n.Plan) || hasSort(n.Plans);
}

/**
 * Reads the model's pages from `read.from` on in one read-only REPEATABLE READ transaction (pages
 * read after a restart see the data of their own moment). Throws {@link WarehouseError}, or what
 * the handler threw.
 */
export async function keysetQuery(
  connectionString: string,
  sql: string,
  opts: PostgresOptions,
  read: KeysetRead,
  handler: ExtractHandler,
  via: CopyVia,
): Promise<Extracted> {
  const model = modelSql(sql);
  const control = new ReadControl();
  let span: SqlSpan = { start: DESCRIBE_PREFIX.length, length: model.length };
  const handlerFailure: HandlerFailure = {};
  const client = await openClient(connectionString, opts, control);
  try {
    await beginReadOnly(client, opts);
    const { fields, select } = await describeForCopy(client, model, handler, handlerFailure);
    const pageRows = Math.max(1, Math.floor(read.pageRows));
    let from = read.from;
    let rows = 0;
    // The next page's range when it came with the page before (see pipelinedBound).
    let known: PageRange | null = null;
    for (let page = 0; ; page++) {
      const bound: PageRange = known ?? (await pageRange(client, model, read.key, from, pageRows, opts.flavor, page, (s) => (span = s)));
      known = null;
      let ahead: PipelinedBound | null = null;
      const text = `${select.text} WHERE ${bound.where}`;
      if (via === "copy") {
        const prefix = "COPY (";
        span = { start: prefix.length + select.modelAt, length: model.length };
        ahead = opts.flavor === "redshift" ? null : pipelinedBound(model, read.key, bound.next, pageRows);
        rows += await copyOut(client, `${prefix}${text}) TO STDOUT`, handler, control, handlerFailure, ahead?.pipeline);
        if (ahead && !("error" in ahead.pipeline)) known = ahead.range();
      } else {
        const redshift = opts.flavor === "redshift";
        const prefix = redshift ? "DECLARE model_copy CURSOR FOR " : "DECLARE model_copy NO SCROLL CURSOR FOR ";
        span = { start: prefix.length + select.modelAt, length: model.length };
        const declare = { name: `retl_keyset_page_${page}`, text: `${prefix}${text}` };
        rows += await cursorLines(client, declare, handler, handlerFailure, redshift ? 1000 : undefined, control);
        await client.query("CLOSE model_copy");
      }
      let more: boolean;
      try {
        more = await read.pageDone(bound.next, rows);
      } catch (err) {
        handlerFailure.error = err;
        throw err;
      }
      if (bound.next === null || !more) break;
      if (ahead && "error" in ahead.pipeline) {
        // The next page's bound failed behind this page, which is done: as if asked after it.
        span = ahead.span;
        throw ahead.pipeline.error;
      }
      from = bound.next;
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

interface PipelinedBound {
  pipeline: CopyPipeline;
  /** Where the model is in the bound's text (for an error's position). */
  span: SqlSpan;
  /** The next page's range, once the COPY and the statements behind it have finished. */
  range(): PageRange;
}

/**
 * The next page's bound, asked behind the current page's COPY in the same round trip (Postgres
 * only): with the sort setting around it as {@link pageRange} does, so a page costs one round
 * trip, not four, and the warehouse works out the next bound as soon as the page's rows are sent.
 * Null when the next page needs no bound (the null keys, or no page after this one).
 */
function pipelinedBound(model: string, key: string, next: PageCursor | null, pageRows: number): PipelinedBound | null {
  if (next === null || "nulls" in next) return null;
  const text = boundQuery(model, key, next.after, pageRows, "postgres");
  const pipeline: CopyPipeline = { statements: [SORT_OFF, text, SORT_ON], completed: 0, rows: [] };
  return {
    pipeline,
    span: { start: text.indexOf(model), length: model.length },
    range: () => rangeAfter(key, next, pipeline.rows[0]?.[0] ?? null, "postgres"),
  };
}

/** The page after `from` whose last key is `upper` (null: no rows left with a key). */
function rangeAfter(key: string, from: PageCursor | null, upper: string | null, flavor: PostgresOptions["flavor"]): PageRange {
  const k = quoteIdent(key);
  const after = from !== null && "after" in from ? from.after : null;
  const lower = after === null ? `${k} IS NOT NULL` : `${k} > ${textLiteral(after, flavor)}`;
  if (upper === null) return { where: lower, next: { nulls: true } };
  return { where: `${lower} AND ${k} <= ${textLiteral(upper, flavor)}`, next: { after: upper } };
}

/** The range of the page starting at `from`: its upper bound asked of the warehouse. */
async function pageRange(
  client: Client,
  model: string,
  key: string,
  from: PageCursor | null,
  pageRows: number,
  flavor: PostgresOptions["flavor"],
  page: number,
  setSpan: (span: SqlSpan) => void,
): Promise<PageRange> {
  const k = quoteIdent(key);
  if (from !== null && "nulls" in from) return { where: `${k} IS NULL`, next: null };
  const after = from?.after ?? null;
  const text = boundQuery(model, key, after, pageRows, flavor);
  setSpan({ start: text.indexOf(model), length: model.length });
  const postgres = flavor !== "redshift";
  if (postgres) await client.query(SORT_OFF);
  // Named (extended protocol: one statement only), a name per page since each text differs.
  const result = await client.query<RawRow>({ name: `retl_keyset_bound_${page}`, text, rowMode: "array", types: rawTextTypes });
  // The page itself (and the model's own plan in it) plans as usual.
  if (postgres) await client.query(SORT_ON);
  return rangeAfter(key, from, result.rows[0]?.[0] ?? null, flavor);
}
