import type { Client, QueryArrayResult } from "@neondatabase/serverless";
import { maxRowUtf8, writeRowUtf8 } from "../../engine/row";
import { type ExtractHandler, forwardLines, type HandlerFailure, type SourceField, type WarehouseOptions } from "../source";
import { beginReadOnly, closeClient, openClient } from "./connection";
import { toWarehouseError } from "./errors";
import { dataRowSplitter, LineFeed } from "./copy-data";
import { modelSql } from "./sql-guard";
import type { ReadControl } from "./tcp-websocket";
import { fieldTypes, type RawRow, rawTextTypes } from "./types";

/** The cursor route: a server-side cursor's pages, as pages of text values or as COPY text lines. */

/**
 * One page of {@link streamQuery}. `rows` are arrays in `fields` order holding Postgres' text
 * output (DateStyle ISO, bytea hex), so they can be hashed as they are; {@link jsonValue} turns a
 * value into JSON for delivery. `fields` is the same array on every page.
 */
export interface StreamPage {
  fields: readonly SourceField[];
  rows: RawRow[];
}

/** Options of {@link streamQuery}. */
export interface StreamOptions {
  /** Rows per `FETCH`, and so per page; default 5000 (about 20% faster than 1000 in workerd). */
  pageSize?: number;
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
    let fields: SourceField[] | undefined;
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

/** Rows per page of {@link copyQuery}'s cursor route when the driver parses the rows. */
const CURSOR_PAGE_ROWS = 5000;
/**
 * Rows per page when they are taken off the socket's bytes: a page costs a round trip, and Neon's
 * WebSocket (a proxy in between) makes it dearer, so pages are bigger (about 6 MB of a 10-column
 * model's text, what a page holds at most over the WebSocket, which cannot be paused).
 */
const SPLIT_PAGE_ROWS = 50_000;

/**
 * The cursor route of {@link copyQuery}: pages of text values encoded as the same COPY lines. The
 * cursor is `model_copy`; a `declare` statement whose text changes on one connection needs a name of its own.
 * With a `control` whose socket splits (TCP, or the WebSocket of neon-websocket.ts) the rows are
 * taken off the raw bytes, DataRow by DataRow, instead of being parsed by the driver.
 */
export async function cursorLines(
  client: Client,
  declare: string | { name: string; text: string },
  handler: ExtractHandler,
  failure: HandlerFailure,
  pageRows?: number,
  control?: ReadControl,
): Promise<number> {
  if (control?.splits) return splitCursorLines(client, declare, handler, failure, pageRows ?? SPLIT_PAGE_ROWS, control);
  const forward = forwardLines(handler, failure);
  let rows = 0;
  let line = new Uint8Array(4096);
  for await (const page of cursorPages(
    client,
    typeof declare === "string" ? { name: "retl_copy_cursor", text: declare } : declare,
    "model_copy",
    pageRows ?? CURSOR_PAGE_ROWS,
  )) {
    for (const row of page.rows) {
      rows++;
      // One buffer for every line: the handler may use the bytes during the call only.
      const room = maxRowUtf8(row) + 1;
      if (room > line.length) line = new Uint8Array(Math.max(room, 2 * line.length));
      const end = writeRowUtf8(row, line, 0);
      line[end] = 0x0a;
      const wait = forward(line.subarray(0, end + 1));
      if (wait) await wait;
    }
  }
  return rows;
}

/**
 * {@link cursorLines} with each page's DataRow messages taken off the socket's bytes and written as
 * COPY lines (`dataRowSplitter`): the driver only sees the page's RowDescription, CommandComplete
 * and ReadyForQuery. A page's rows are handed to the handler as they arrive; the next page is
 * asked for once the handler's work on this one has settled (on TCP the socket also pauses while
 * it is pending), so at most one page is in flight.
 */
async function splitCursorLines(
  client: Client,
  declare: string | { name: string; text: string },
  handler: ExtractHandler,
  failure: HandlerFailure,
  pageRows: number,
  control: ReadControl,
): Promise<number> {
  await client.query(typeof declare === "string" ? { name: "retl_copy_cursor", text: declare } : declare);
  let rows = 0;
  for (;;) {
    const feed = new LineFeed(handler, control, failure);
    // The connection is idle (the last query ended with ReadyForQuery): the next byte read starts a message.
    control.splitter = dataRowSplitter(feed.take);
    try {
      await client.query(`FETCH FORWARD ${pageRows} FROM model_copy`);
    } finally {
      control.splitter = null;
    }
    await feed.settled();
    if ("error" in failure) throw failure.error;
    rows += feed.rows;
    if (feed.rows < pageRows) return rows;
  }
}
