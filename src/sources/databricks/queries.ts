import { maxRowUtf8, writeRowUtf8 } from "../../engine/row";
import { WarehouseError } from "../errors";
import type { ConnectionTest, ExtractHandler, Extracted, JsonValue, QueryPreview, Source, SourceField, WarehouseOptions } from "../source";
import type { DatabricksSettings } from "./api";
import { databricksModelSql, selectFrom } from "./sql-guard";
import { runStatement, type StatementResult, uniqueFields } from "./statement";
import { canonicalText, jsonValue } from "./types";

/** The Databricks {@link Source}: each method is one or two statements on the SQL warehouse (see ./statement.ts). */

const MAX_PREVIEW_ROWS = 10_000;
const NEWLINE = 0x0a;

export function openDatabricks(settings: DatabricksSettings, opts: WarehouseOptions): Source {
  return {
    test: () => testConnection(settings, opts),
    describe: async (sql) => (await describeFields(settings, databricksModelSql(sql), opts)).map(({ name, type }) => ({ name, type })),
    preview: (sql, limit) => previewQuery(settings, sql, limit, opts),
    estimateRows: (sql) => estimateRows(settings, sql, opts),
    extract: (sql, handler) => extractQuery(settings, sql, opts, handler),
  };
}

/** Every row of a (small) statement's result. */
async function allRows(result: StatementResult): Promise<(string | null)[][]> {
  const rows: (string | null)[][] = [];
  for await (const chunk of result.chunks()) rows.push(...chunk);
  return rows;
}

async function testConnection(settings: DatabricksSettings, opts: WarehouseOptions): Promise<ConnectionTest> {
  const started = Date.now();
  try {
    const [row] = await allRows(await runStatement(settings, opts, "SELECT version()"));
    return { ok: true, latency_ms: Date.now() - started, server_version: row?.[0] ?? "unknown" };
  } catch (err) {
    const error = err instanceof WarehouseError ? err : new WarehouseError("unreachable", String(err));
    return { ok: false, error: { code: error.code, message: error.message } };
  }
}

/** The model's fields from `SELECT * FROM (<model>) AS retl_model LIMIT 0` (the manifest's schema; no row is read). */
async function describeFields(settings: DatabricksSettings, model: string, opts: WarehouseOptions): Promise<SourceField[]> {
  return uniqueFields((await runStatement(settings, opts, `${selectFrom(model, "*")} LIMIT 0`)).fields);
}

async function previewQuery(settings: DatabricksSettings, sql: string, limit: number, opts: WarehouseOptions): Promise<QueryPreview> {
  const model = databricksModelSql(sql);
  const rowLimit = Math.max(0, Math.min(MAX_PREVIEW_ROWS, Math.floor(limit) || 0));
  const result = await runStatement(settings, opts, `${selectFrom(model, "*")} LIMIT ${rowLimit}`);
  uniqueFields(result.fields);
  const rows: Record<string, JsonValue>[] = [];
  for await (const chunk of result.chunks()) {
    for (const values of chunk) {
      // The same canonical text extraction hashes, as delivery reads it.
      const row: Record<string, JsonValue> = {};
      for (const [k, f] of result.fields.entries()) row[f.name] = jsonValue(f.typeId, canonicalText(f.typeId, values[k] ?? null));
      rows.push(row);
    }
  }
  return { columns: result.fields.map(({ name, type }) => ({ name, type })), rows };
}

/**
 * The optimizer's row estimate from `EXPLAIN COST` (the top plan node's `rowCount`, present when
 * the tables have statistics: `ANALYZE TABLE … COMPUTE STATISTICS`); 0 (unknown) without one.
 */
async function estimateRows(settings: DatabricksSettings, sql: string, opts: WarehouseOptions): Promise<number> {
  const model = databricksModelSql(sql);
  const rows = await allRows(await runStatement(settings, opts, `EXPLAIN COST ${selectFrom(model, "*")}`));
  const plan = rows.map((r) => r[0] ?? "").join("\n");
  const optimized = plan.split(/== Optimized Logical Plan ==/)[1] ?? plan;
  const count = /rowCount=([\d.E+]+)/i.exec(optimized)?.[1];
  return count ? Math.round(Number(count)) || 0 : 0;
}

/**
 * Extraction: the model is described (`LIMIT 0`), `handler.columns` picks the columns, and
 * `SELECT <columns> FROM (<model>) AS retl_model` runs; each chunk's rows become canonical COPY
 * lines (./types.ts), the next chunk downloading meanwhile. A row waits for the handler's promise
 * before the next. Throws {@link WarehouseError}, or what the handler threw.
 */
async function extractQuery(
  settings: DatabricksSettings,
  sql: string,
  opts: WarehouseOptions,
  handler: ExtractHandler,
): Promise<Extracted> {
  const model = databricksModelSql(sql);
  const fields = await describeFields(settings, model, opts);
  const columns = handler.columns(fields);
  const result = await runStatement(settings, opts, selectFrom(model, columns));
  const typeIds = result.fields.map((f) => f.typeId);
  let buffer = new Uint8Array(4096);
  let rows = 0;
  const values: (string | null)[] = new Array(typeIds.length).fill(null);
  for await (const chunk of result.chunks()) {
    for (const raw of chunk) {
      for (let k = 0; k < typeIds.length; k++) values[k] = canonicalText(typeIds[k] ?? 0, raw[k] ?? null);
      const need = maxRowUtf8(values) + 1;
      if (buffer.length < need) buffer = new Uint8Array(Math.max(need, buffer.length * 2));
      const end = writeRowUtf8(values, buffer, 0);
      buffer[end] = NEWLINE;
      rows++;
      const wait = handler.line(buffer.subarray(0, end + 1));
      if (wait) await wait;
    }
  }
  return { fields, rows };
}
