import type { z } from "@hono/zod-openapi";

/**
 * What every source type offers, whatever the warehouse: a connection test, a model's columns, a
 * preview, a row estimate, and extraction as a stream of rows in one canonical text form.
 *
 * Guarantees every implementation gives:
 * - **Read-only.** Model SQL runs in a read-only transaction (or the warehouse's equivalent) and
 *   only queries are accepted; a model that writes fails with code `read_only`.
 * - **A timeout.** Connecting and every statement are bounded ({@link WarehouseOptions}).
 * - **Classified errors.** Failures are {@link WarehouseError}s; `kind` says whether to retry, fix the
 *   source (`auth`) or fix the model (`user`).
 * - **Unique column names.** describe, preview and extract refuse a result that repeats a column
 *   name (rows are mapped by name), with code `query_failed`.
 * - **Bounded memory.** extract holds at most a page (or a socket read) of rows and waits for the
 *   handler's promise before reading on.
 */
export interface Source {
  /** Connects and asks the server's version. Never throws: a failure is `{ ok: false, error }`. */
  test(): Promise<ConnectionTest>;
  /** The model's columns, without reading a row. Throws {@link WarehouseError}. */
  describe(sql: string): Promise<SourceColumn[]>;
  /** The model's first `limit` rows (at most 10,000), JSON-safe. Throws {@link WarehouseError}. */
  preview(sql: string, limit: number): Promise<QueryPreview>;
  /** The planner's row estimate, nothing run; 0 when unknown. Throws {@link WarehouseError}. */
  estimateRows(sql: string): Promise<number>;
  /**
   * Reads every row of the model as a canonical line (see {@link ExtractHandler.line}) of the
   * columns `handler.columns` picks. Throws {@link WarehouseError}, or what the handler threw.
   */
  extract(sql: string, handler: ExtractHandler): Promise<Extracted>;
  /**
   * Optional: extraction in pages of the key's order, so an interrupted extraction continues after
   * its last finished page instead of starting over. A source without it always reads the model in
   * one go ({@link Source.extract}).
   */
  keyset?: KeysetReader;
}

/**
 * Extraction page by page in the order of the model's key, every key comparison made by the
 * warehouse (its types and collation), never by the caller. A page holds every row of its key
 * range, so rows sharing a key are never split across pages (duplicate keys stay visible to the
 * engine); rows whose key is null come in one last page of their own.
 */
export interface KeysetReader {
  /**
   * Whether pages are cheap for this model: the warehouse serves its rows in key order without
   * sorting the whole model (e.g. an index on the key). False: read it with {@link Source.extract}.
   * Throws {@link WarehouseError}.
   */
  cheap(sql: string, key: string, pageRows: number): Promise<boolean>;
  /**
   * Reads pages from `from` on, each of about `pageRows` rows (more when the last key of a page
   * repeats), through `handler` as {@link Source.extract} does, and calls `pageDone` after each
   * with where the next page starts (null after the last); reading waits for its promise. Stops
   * after the page for which `pageDone` returns false. Throws {@link WarehouseError}, or what the
   * handler threw.
   */
  extract(sql: string, read: KeysetRead, handler: ExtractHandler): Promise<Extracted>;
}

/** What {@link KeysetReader.extract} reads. */
export interface KeysetRead {
  /** The key column of the model's result. */
  key: string;
  /** Where to start: null for the first page. */
  from: PageCursor | null;
  pageRows: number;
  /** After each page: false stops the reading there. */
  pageDone(next: PageCursor | null, rows: number): boolean | Promise<boolean>;
}

/**
 * Where a page starts: after `after` (the key's text form as the warehouse writes it: the last key
 * of the page before), or at the rows whose key is null (`nulls`, the last page). JSON, for a checkpoint.
 */
export type PageCursor = { after: string } | { nulls: true };

/** What {@link Source.extract} does with a model's result. */
export interface ExtractHandler {
  /**
   * The result columns to read, in order, chosen once the model's fields are known (a column may
   * be named twice). What it throws (e.g. a missing mapped column) is rethrown as it is.
   */
  columns(fields: readonly SourceField[]): readonly string[];
  /**
   * One row as a line of COPY text, the canonical form of every source: the chosen columns' text
   * values separated by tabs, `\N` for null, escapes as Postgres' `COPY … TO STDOUT` writes them,
   * a newline at the end. The bytes are valid during the call only. While a returned promise is
   * pending, reading from the warehouse stops. What it throws or rejects with is rethrown as it
   * is, once the query has ended.
   */
  line(bytes: Uint8Array): void | Promise<void>;
  /**
   * Optional: many rows at once, `bytes` holding whole lines, each as {@link ExtractHandler.line}
   * takes it (newline-terminated); returns how many rows it took, or a promise of that while
   * reading should wait. Sources that read many rows per buffer (ClickHouse) use it where they can,
   * and `line` for the rest, in row order: a call per row costs more than the engine's work on a row.
   */
  lines?(bytes: Uint8Array): number | Promise<number>;
  /**
   * Optional: many rows at once, each where it lies in `bytes`: row i is `bytes[starts[i], ends[i])`,
   * as {@link ExtractHandler.line} takes it, for i below `count`, in order; all are taken. For
   * sources whose rows are not contiguous (Postgres sends each in a message of its own). The
   * arrays and bytes are valid during the call only; a promise pauses reading as `line`'s does.
   */
  lineRanges?(bytes: Uint8Array, starts: Int32Array, ends: Int32Array, count: number): void | Promise<void>;
}

/** What {@link Source.extract} read: the model's fields and the number of rows. */
export interface Extracted {
  fields: SourceField[];
  rows: number;
}

/**
 * What a handler threw or rejected with, once it did: a source reading rows rethrows that as it is
 * (not as a {@link WarehouseError} of the reading it interrupted).
 */
export interface HandlerFailure {
  error?: unknown;
}

/** `handler.columns(fields)`, remembering in `failure` what it threw. */
export function pickColumns(handler: ExtractHandler, fields: readonly SourceField[], failure: HandlerFailure): readonly string[] {
  try {
    return handler.columns(fields);
  } catch (err) {
    failure.error = err;
    throw err;
  }
}

/** `handler.line` as a function of the line, remembering in `failure` what it threw or rejected with. */
export function forwardLines(handler: ExtractHandler, failure: HandlerFailure): (line: Uint8Array) => void | Promise<void> {
  const remember = (err: unknown): never => {
    failure.error = err;
    throw err;
  };
  return (line) => {
    let wait: void | Promise<void>;
    try {
      wait = handler.line(line);
    } catch (err) {
      failure.error = err;
      throw err;
    }
    return wait?.catch(remember);
  };
}

/** {@link forwardLines} for {@link ExtractHandler.lines}; undefined when the handler has none. */
export function forwardManyLines(
  handler: ExtractHandler,
  failure: HandlerFailure,
): ((lines: Uint8Array) => number | Promise<number>) | undefined {
  const lines = handler.lines?.bind(handler);
  if (!lines) return undefined;
  const remember = (err: unknown): never => {
    failure.error = err;
    throw err;
  };
  return (bytes) => {
    let taken: number | Promise<number>;
    try {
      taken = lines(bytes);
    } catch (err) {
      failure.error = err;
      throw err;
    }
    return typeof taken === "number" ? taken : taken.catch(remember);
  };
}

/**
 * One source type, as the registry (src/sources/registry.ts) lists it: its request fields as zod
 * schemas, how they are stored, the hosts it contacts and how to open it. Methods (not function
 * properties), so a plug-in with typed settings fits the registry's list.
 */
export interface SourcePlugin<
  Type extends string = string,
  Config extends z.ZodObject = z.ZodObject,
  Credentials extends z.ZodObject = z.ZodObject,
> {
  readonly type: Type;
  /** Request fields that are not secret. */
  readonly config: Config;
  /** Request fields that are secret: stored encrypted, never returned. */
  readonly credentials: Credentials;
  /**
   * The hosts the source will contact: the registry's `openSource` puts them through the SSRF
   * guard (src/lib/ssrf.ts) before {@link SourcePlugin.open}. Throws {@link WarehouseError}.
   */
  hosts(settings: SourceSettings<Config, Credentials>): string[];
  /**
   * Optional: what is wrong with the credentials taken together, beyond each field's own schema
   * (e.g. "give either private_key or token"): the field to name and the message, or `undefined`.
   * The API checks it on create and on an update's merged settings, and answers 400.
   */
  credentialsIssue?(credentials: Record<string, unknown>): { field: string; message: string } | undefined;
  /** The settings as the one string stored encrypted, and the display form the API returns. */
  seal(settings: SourceSettings<Config, Credentials>): { secret: string; masked: string };
  /** The settings back from the stored secret. */
  unseal(secret: string): SourceSettings<Config, Credentials>;
  /** A source on these settings; no I/O until a method is called. */
  open(settings: SourceSettings<Config, Credentials>, opts: WarehouseOptions): Source;
  /** One text value of a column of type `typeId` (a {@link SourceField.typeId}) as JSON. */
  jsonValue(typeId: number, raw: string | null): JsonValue;
}

/** A plug-in's settings: its config and credentials fields together. */
type SourceSettings<Config extends z.ZodObject, Credentials extends z.ZodObject> = z.infer<
  z.ZodObject<Config["shape"] & Credentials["shape"]>
>;

/** How the warehouse is reached and how long a statement may run. */
export interface WarehouseOptions {
  /** The statement timeout of every statement on the warehouse. */
  statementTimeoutMs: number;
  /** Allow loopback and private-network hosts (local development and tests only). */
  allowPrivate: boolean;
  /** TCP + TLS + authentication must finish within this; default 10 s. */
  connectTimeoutMs?: number;
  /** The session's application name (Postgres' `pg_stat_activity`); default "edge-reverse-etl". */
  applicationName?: string;
}

/** Warehouse options from the Worker's bindings. */
export function warehouseOptions(env: Env): WarehouseOptions {
  return {
    statementTimeoutMs: Number(env.WAREHOUSE_STATEMENT_TIMEOUT_MS) || 300_000,
    allowPrivate: env.ALLOW_PRIVATE_DESTINATIONS === "true",
  };
}

/** Result of {@link Source.test}: a failure is a value, not an exception. */
export interface ConnectionTest {
  ok: boolean;
  latency_ms?: number;
  server_version?: string;
  error?: { code: string; message: string };
}

/** A JSON value, as {@link SourcePlugin.jsonValue} produces. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A model column as stored on the model: its name and the warehouse's type name. */
export interface SourceColumn {
  name: string;
  type: string;
}

/** A result column: its name, the warehouse's type id and type name ("int4", "text", "int4[]"). */
export interface SourceField extends SourceColumn {
  typeId: number;
}

/** Result of {@link Source.preview}: JSON-safe rows keyed by column name. */
export interface QueryPreview {
  columns: SourceColumn[];
  rows: Record<string, JsonValue>[];
}

/**
 * OpenAPI metadata of a multi-line value (a PEM key, a JSON key file): the console draws a text
 * area for it, where a password input would drop the line breaks. OpenAPI 3.1's `contentMediaType`,
 * which zod-to-openapi's 3.0 metadata type does not list.
 */
export function multiLine(mediaType: "application/json" | "application/x-pem-file"): Record<string, string> {
  return { contentMediaType: mediaType };
}
