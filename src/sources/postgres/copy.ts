import type { Client } from "@neondatabase/serverless";
import { type ExtractHandler, type Extracted, type HandlerFailure, pickColumns, type SourceField } from "../source";
import { beginReadOnly, closeClient, openClient, type PostgresOptions, parseConnectionString } from "./connection";
import { copyDataSplitter, LineFeed } from "./copy-data";
import { type SqlSpan, toWarehouseError } from "./errors";
import { cursorLines } from "./cursor";
import { copySelect, modelSql } from "./sql-guard";
import { ReadControl } from "./tcp-websocket";
import { fieldTypes } from "./types";

/** The COPY route of extraction: `COPY (…) TO STDOUT` rows straight from the socket's bytes. */

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
  opts: PostgresOptions,
  handler: ExtractHandler,
  via: CopyVia = parseConnectionString(connectionString).neon || opts.webSocketProxy ? "cursor" : "copy",
): Promise<Extracted> {
  const model = modelSql(sql);
  const control = new ReadControl();
  let span: SqlSpan = { start: DESCRIBE_PREFIX.length, length: model.length };
  const handlerFailure: HandlerFailure = {};
  const client = await openClient(connectionString, opts, control);
  try {
    await beginReadOnly(client, opts);
    const { fields, select } = await describeForCopy(client, model, handler, handlerFailure);
    let rows: number;
    if (via === "copy") {
      const prefix = "COPY (";
      span = { start: prefix.length + select.modelAt, length: model.length };
      rows = await copyOut(client, `${prefix}${select.text}) TO STDOUT`, handler, control, handlerFailure);
    } else {
      // Redshift's DECLARE has no NO SCROLL, and a single-node cluster fetches at most 1000 rows at a time.
      const redshift = opts.flavor === "redshift";
      const prefix = redshift ? "DECLARE model_copy CURSOR FOR " : "DECLARE model_copy NO SCROLL CURSOR FOR ";
      span = { start: prefix.length + select.modelAt, length: model.length };
      rows = await cursorLines(client, `${prefix}${select.text}`, handler, handlerFailure, redshift ? 1000 : undefined, control);
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

// Where the model starts in the describing statement (for an error's position in the model).
export const DESCRIBE_PREFIX = "SELECT * FROM (\n";

/**
 * The opening of a read by COPY text lines, in the open read-only transaction: the model described
 * (`LIMIT 0`, extended protocol, so a second statement is refused), `handler.columns` picking the
 * columns (what it throws is remembered in `failure`), and the SELECT of those columns.
 */
export async function describeForCopy(
  client: Client,
  model: string,
  handler: ExtractHandler,
  failure: HandlerFailure,
): Promise<{ fields: SourceField[]; select: ReturnType<typeof copySelect> }> {
  const described = await client.query({
    name: "retl_copy_describe",
    text: `${DESCRIBE_PREFIX}${model}\n) AS model LIMIT 0`,
    rowMode: "array",
  });
  const fields = await fieldTypes(client, described.fields);
  return { fields, select: copySelect(model, pickColumns(handler, fields, failure)) };
}

/** The driver's hook for protocol flows it does not know (a "submittable", as pg-copy-streams uses). */
interface CopyConnection {
  parse(q: { text: string; name: string; types: number[] }): void;
  bind(b: { portal: string; statement: string; values: unknown[]; binary: boolean }): void;
  execute(e: { portal: string; rows: number }): void;
  sync(): void;
}

/**
 * Statements sent behind a COPY in the same round trip (one Sync): keyset pages ask the next page's
 * bound while the current page streams, so a page costs one round trip instead of four. They run
 * in order after the COPY; `completed` counts the statements that finished (the COPY first) and
 * `rows` gets their DataRows (text values). An error of one of them does not fail the COPY, whose
 * rows were all read: it is left in `error` for the caller.
 */
export interface CopyPipeline {
  statements: string[];
  completed: number;
  rows: (string | null)[][];
  error?: unknown;
}

/**
 * Runs a `COPY … TO STDOUT` statement, handing each row (a CopyData message) to the handler, then
 * `pipeline`'s statements if any. A {@link copyDataSplitter} takes the rows out of the socket's
 * bytes before the driver parses them (much cheaper per row) wherever the socket splits (TCP, and
 * the WebSocket of neon-websocket.ts), a read buffer's rows at once (`handler.lineRanges`);
 * elsewhere the driver hands them over one by one.
 */
export function copyOut(
  client: Client,
  text: string,
  handler: ExtractHandler,
  control: ReadControl,
  failure: HandlerFailure,
  pipeline?: CopyPipeline,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    // A handler failure ends the read at once: the caller closes the connection, which stops the COPY.
    const feed = new LineFeed(handler, control, failure, reject);
    // Rows count as read once the handler's pending work has settled.
    const settled = () => void feed.settled().then(() => ("error" in failure ? undefined : resolve(feed.rows)));
    const submittable = {
      submit(connection: CopyConnection) {
        // Unnamed statement and portal through Parse/Bind/Execute: exactly one statement or an error.
        connection.parse({ text, name: "", types: [] });
        connection.bind({ portal: "", statement: "", values: [], binary: false });
        connection.execute({ portal: "", rows: 0 });
        for (const statement of pipeline?.statements ?? []) {
          connection.parse({ text: statement, name: "", types: [] });
          connection.bind({ portal: "", statement: "", values: [], binary: false });
          connection.execute({ portal: "", rows: 0 });
        }
        connection.sync();
      },
      handleCopyData(msg: { chunk: Uint8Array }) {
        feed.line(msg.chunk);
      },
      handleCommandComplete() {
        if (pipeline) pipeline.completed++;
      },
      handleEmptyQuery() {},
      handleRowDescription() {},
      handleDataRow(msg: { fields: (string | null)[] }) {
        pipeline?.rows.push(msg.fields);
      },
      handlePortalSuspended() {},
      handleCopyInResponse() {},
      // The driver drops the query on an error, before the server's ReadyForQuery.
      handleError: (err: unknown) => {
        if (!pipeline || pipeline.completed === 0) return reject(err);
        pipeline.error = err;
        settled();
      },
      handleReadyForQuery: () => settled(),
    };
    // The connection is idle (the last query ended with ReadyForQuery): the next byte read starts a message.
    control.splitter = copyDataSplitter(feed.take);
    (client as unknown as { query(submittable: unknown): void }).query(submittable);
  });
}
