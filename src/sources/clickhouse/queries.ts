import { decodeRow } from "../../engine/row";
import { WarehouseError } from "../errors";
import {
  type ConnectionTest,
  type ExtractHandler,
  type Extracted,
  forwardLines,
  forwardManyLines,
  type HandlerFailure,
  type JsonValue,
  pickColumns,
  type QueryPreview,
  type Source,
  type SourceField,
  type WarehouseOptions,
} from "../source";
import { type ClickhouseSettings, clickhouseRequest, executionSeconds } from "./http";
import { clickhouseModelSql, selectFrom } from "./sql-guard";
import { type ManyLines, readLines, TsvToCopy, unescapeTsv } from "./tsv";
import { clickhouseTypeId, isCompositeType, jsonValue } from "./types";

/** The ClickHouse {@link Source}: each method is one or two HTTP statements (see ./http.ts). */

const MAX_PREVIEW_ROWS = 10_000;
// Counting rows for an estimate may take this long before we answer "unknown" (0).
const COUNT_ESTIMATE_SECONDS = 5;

export function openClickhouse(settings: ClickhouseSettings, opts: WarehouseOptions): Source {
  return {
    test: () => testConnection(settings, opts),
    describe: async (sql) => (await describeFields(settings, clickhouseModelSql(sql), opts)).map(({ name, type }) => ({ name, type })),
    preview: (sql, limit) => previewQuery(settings, sql, limit, opts),
    estimateRows: (sql) => estimateRows(settings, sql, opts),
    extract: (sql, handler) => extractQuery(settings, sql, opts, handler),
  };
}

/** Runs a statement and returns its whole (small) text answer. */
async function queryText(settings: ClickhouseSettings, sql: string, opts: WarehouseOptions, maxSeconds?: number): Promise<string> {
  const { response, done } = await clickhouseRequest(settings, sql, opts, maxSeconds);
  const lines: string[] = [];
  const decoder = new TextDecoder();
  try {
    await readLines(response, (line) => void lines.push(decoder.decode(line.subarray(0, -1))));
  } finally {
    done();
  }
  return lines.join("\n");
}

async function testConnection(settings: ClickhouseSettings, opts: WarehouseOptions): Promise<ConnectionTest> {
  const started = Date.now();
  try {
    const version = await queryText(settings, "SELECT version() FORMAT TabSeparated", opts);
    return { ok: true, latency_ms: Date.now() - started, server_version: version.trim() || "unknown" };
  } catch (err) {
    const error = err instanceof WarehouseError ? err : new WarehouseError("unreachable", String(err));
    return { ok: false, error: { code: error.code, message: error.message } };
  }
}

/** Names and types from a `TSVWithNamesAndTypes` header; refuses a repeated name. */
function headerFields(names: string | undefined, types: string | undefined): SourceField[] {
  if (names === undefined || types === undefined) throw new WarehouseError("query_failed", "ClickHouse sent no column header");
  const nameList = names.split("\t").map(unescapeTsv);
  const typeList = types.split("\t").map(unescapeTsv);
  const seen = new Set<string>();
  return nameList.map((name, k) => {
    if (seen.has(name))
      throw new WarehouseError("query_failed", `column name "${name}" appears more than once; give each column a unique alias`);
    seen.add(name);
    const type = typeList[k] ?? "String";
    return { name, type, typeId: clickhouseTypeId(type) };
  });
}

/** The model's fields from `SELECT * FROM (<model>) LIMIT 0 FORMAT TSVWithNamesAndTypes` (no row is read). */
async function describeFields(settings: ClickhouseSettings, model: string, opts: WarehouseOptions): Promise<SourceField[]> {
  const text = await queryText(settings, `${selectFrom(model, "*")} LIMIT 0 FORMAT TSVWithNamesAndTypes`, opts);
  const [names, types] = text.split("\n");
  return headerFields(names, types);
}

async function previewQuery(settings: ClickhouseSettings, sql: string, limit: number, opts: WarehouseOptions): Promise<QueryPreview> {
  const model = clickhouseModelSql(sql);
  const rowLimit = Math.max(0, Math.min(MAX_PREVIEW_ROWS, Math.floor(limit) || 0));
  const { response, done } = await clickhouseRequest(
    settings,
    `${selectFrom(model, "*")} LIMIT ${rowLimit} FORMAT TSVWithNamesAndTypes`,
    opts,
  );
  const decoder = new TextDecoder();
  const header: string[] = [];
  let fields: SourceField[] = [];
  let convert: TsvToCopy | undefined;
  const rows: Record<string, JsonValue>[] = [];
  try {
    await readLines(response, (line) => {
      if (header.length < 2) {
        header.push(decoder.decode(line.subarray(0, -1)));
        if (header.length === 2) {
          fields = headerFields(header[0], header[1]);
          convert = new TsvToCopy(fields.map((f) => isCompositeType(f.type)));
        }
        return;
      }
      if (!convert) return;
      // The same canonical text extraction hashes, decoded as delivery decodes it.
      const copy = decoder.decode(convert.line(line));
      const values = decodeRow(copy.slice(0, -1), fields.length);
      const row: Record<string, JsonValue> = {};
      for (const [k, f] of fields.entries()) row[f.name] = jsonValue(f.typeId, values[k] ?? null);
      rows.push(row);
    });
  } finally {
    done();
  }
  if (header.length < 2) throw new WarehouseError("query_failed", "ClickHouse sent no column header");
  return { columns: fields.map(({ name, type }) => ({ name, type })), rows };
}

/**
 * The row estimate: `EXPLAIN ESTIMATE` (ClickHouse 21.x and later: rows to read from MergeTree
 * parts, nothing run); where that is missing (18.16), `count()` bounded to 5 s; 0 when that
 * times out.
 */
async function estimateRows(settings: ClickhouseSettings, sql: string, opts: WarehouseOptions): Promise<number> {
  const model = clickhouseModelSql(sql);
  try {
    const text = await queryText(settings, `EXPLAIN ESTIMATE ${selectFrom(model, "*")} FORMAT TabSeparated`, opts);
    // Columns: database, table, parts, rows, marks; one line per table read.
    return text
      .split("\n")
      .filter((l) => l !== "")
      .reduce((sum, line) => sum + (Number(line.split("\t")[3]) || 0), 0);
  } catch (err) {
    if (!(err instanceof WarehouseError) || err.code !== "query_failed" || !/syntax error|EXPLAIN/i.test(err.message)) throw err;
  }
  try {
    const seconds = Math.min(COUNT_ESTIMATE_SECONDS, executionSeconds(opts));
    const text = await queryText(settings, `SELECT count() FROM (\n${model}\n) FORMAT TabSeparated`, opts, seconds);
    return Number(text.trim()) || 0;
  } catch (err) {
    if (err instanceof WarehouseError && err.code === "timeout") return 0;
    throw err;
  }
}

/**
 * Extraction: the model is described (`LIMIT 0`), `handler.columns` picks the columns, and
 * `SELECT <columns> FROM (<model>) FORMAT TabSeparated` streams every row, converted line by line
 * to COPY text (./tsv.ts). The body is read 64 KiB or more at a time and not read on while the handler's
 * promise is pending, so TCP backpressure holds the server. Throws {@link WarehouseError}, or what
 * the handler threw.
 */
async function extractQuery(
  settings: ClickhouseSettings,
  sql: string,
  opts: WarehouseOptions,
  handler: ExtractHandler,
): Promise<Extracted> {
  const model = clickhouseModelSql(sql);
  const fields = await describeFields(settings, model, opts);
  const failure: HandlerFailure = {};
  const columns = pickColumns(handler, fields, failure);
  const byName = new Map(fields.map((f) => [f.name, f]));
  const convert = new TsvToCopy(columns.map((c) => isCompositeType(byName.get(c)?.type ?? "String")));
  const line = forwardLines(handler, failure);
  const lines = forwardManyLines(handler, failure);
  const { response, done } = await clickhouseRequest(settings, `${selectFrom(model, columns)} FORMAT TabSeparated`, opts);
  let rows = 0;
  // Runs of lines with nothing to convert go to the handler together (a read buffer's worth).
  const many: ManyLines | undefined = lines && {
    plainEnd: (bytes, from, to) => convert.plainEnd(bytes, from, to),
    onLines: (bytes) => {
      const taken = lines(bytes);
      if (typeof taken === "number") rows += taken;
      else
        return taken.then((n) => {
          rows += n;
        });
    },
  };
  try {
    await readLines(
      response,
      (tsv) => {
        rows++;
        return line(convert.line(tsv));
      },
      many,
    );
  } catch (err) {
    if ("error" in failure) throw failure.error;
    if (err instanceof WarehouseError) throw err;
    throw new WarehouseError("connection_lost", `reading ClickHouse's answer failed: ${String(err)}`, { cause: err });
  } finally {
    done();
  }
  return { fields, rows };
}
