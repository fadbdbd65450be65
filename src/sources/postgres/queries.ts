import type { ConnectionTest, JsonValue, QueryPreview, SourceColumn } from "../source";
import { closeClient, openClient, type PostgresOptions, withReadOnlyTransaction } from "./connection";
import { toWarehouseError } from "./errors";
import { modelSql } from "./sql-guard";
import { fieldTypes, jsonValue, type RawRow, rawTextTypes } from "./types";

/**
 * The small model queries: connection test, describe, preview, estimate. Each wraps the model as
 * `SELECT * FROM (<sql>) AS model` in a read-only transaction and sends it with the extended query
 * protocol, which accepts exactly one statement: `SELECT 1) AS model; COMMIT; DROP …` fails.
 */

const MAX_PREVIEW_ROWS = 10_000;

/**
 * Connects, asks the server version, disconnects. Never throws: a failure comes back as
 * `{ ok: false, error: { code, message } }` with a {@link WarehouseErrorCode}.
 */
export async function testConnection(connectionString: string, opts: PostgresOptions): Promise<ConnectionTest> {
  const started = Date.now();
  try {
    const client = await openClient(connectionString, opts);
    try {
      // Redshift's server_version says 8.0.2; version() names Redshift and its build.
      const result = await client.query<{ version: string }>(
        opts.flavor === "redshift" ? "SELECT version() AS version" : "SELECT current_setting('server_version') AS version",
      );
      const version = result.rows[0]?.version ?? "unknown";
      return { ok: true, latency_ms: Date.now() - started, server_version: version };
    } finally {
      await closeClient(client);
    }
  } catch (err) {
    const error = toWarehouseError(err, "query");
    return { ok: false, error: { code: error.code, message: error.message } };
  }
}

/**
 * The columns of a model, from `SELECT * FROM (<sql>) AS model LIMIT 0` in a read-only
 * transaction. Throws {@link WarehouseError}.
 */
export async function describeQuery(connectionString: string, sql: string, opts: PostgresOptions): Promise<SourceColumn[]> {
  const model = modelSql(sql);
  const prefix = "SELECT * FROM (\n";
  return withReadOnlyTransaction(connectionString, opts, { start: prefix.length, length: model.length }, async (client) => {
    // Named, so it goes through the extended protocol, which refuses a second statement.
    const result = await client.query({ name: "retl_describe", text: `${prefix}${model}\n) AS model LIMIT 0`, rowMode: "array" });
    const fields = await fieldTypes(client, result.fields);
    return fields.map(({ name, type }) => ({ name, type }));
  });
}

/**
 * The first `limit` rows of a model (at most 10,000), with values made JSON-safe by
 * {@link jsonValue}. Same read-only transaction as {@link describeQuery}. Throws {@link WarehouseError}.
 */
export async function previewQuery(connectionString: string, sql: string, limit: number, opts: PostgresOptions): Promise<QueryPreview> {
  const model = modelSql(sql);
  const rowLimit = Math.max(0, Math.min(MAX_PREVIEW_ROWS, Math.floor(limit) || 0));
  const prefix = "SELECT * FROM (\n";
  return withReadOnlyTransaction(connectionString, opts, { start: prefix.length, length: model.length }, async (client) => {
    const result = await client.query<RawRow>({
      name: "retl_preview",
      text: `${prefix}${model}\n) AS model LIMIT ${rowLimit}`,
      rowMode: "array",
      types: rawTextTypes,
    });
    const fields = await fieldTypes(client, result.fields);
    const rows = result.rows.map((raw) => {
      const row: Record<string, JsonValue> = {};
      for (const [i, f] of fields.entries()) row[f.name] = jsonValue(f.typeId, raw[i] ?? null);
      return row;
    });
    return { columns: fields.map(({ name, type }) => ({ name, type })), rows };
  });
}

/**
 * The planner's row estimate for a model (`EXPLAIN` of `SELECT * FROM (<sql>) AS model`, nothing
 * is run), e.g. to size a run's partitions before the first row arrives: cheap, but only as good
 * as the warehouse's statistics. Same read-only transaction rules. Throws {@link WarehouseError}.
 */
export async function estimateRows(connectionString: string, sql: string, opts: PostgresOptions): Promise<number> {
  const model = modelSql(sql);
  if (opts.flavor === "redshift") return estimateFromTextPlan(connectionString, model, opts);
  const prefix = "EXPLAIN (FORMAT JSON) SELECT * FROM (\n";
  return withReadOnlyTransaction(connectionString, opts, { start: prefix.length, length: model.length }, async (client) => {
    const result = await client.query<[unknown]>({ name: "retl_estimate", text: `${prefix}${model}\n) AS model`, rowMode: "array" });
    const cell: unknown = result.rows[0]?.[0];
    const plan: unknown = typeof cell === "string" ? JSON.parse(cell) : cell;
    const top = Array.isArray(plan) ? (plan[0] as { Plan?: { "Plan Rows"?: unknown } } | undefined) : undefined;
    const rows = top?.Plan?.["Plan Rows"];
    return typeof rows === "number" ? rows : 0;
  });
}

/** Redshift's EXPLAIN has no JSON format: the top plan line's `rows=` (`XN Seq Scan on t  (cost=… rows=1000 width=8)`). */
async function estimateFromTextPlan(connectionString: string, model: string, opts: PostgresOptions): Promise<number> {
  const prefix = "EXPLAIN SELECT * FROM (\n";
  return withReadOnlyTransaction(connectionString, opts, { start: prefix.length, length: model.length }, async (client) => {
    const result = await client.query<[string]>({ name: "retl_estimate_text", text: `${prefix}${model}\n) AS model`, rowMode: "array" });
    const top = result.rows[0]?.[0] ?? "";
    return Number(/ rows=(\d+)/.exec(top)?.[1] ?? 0);
  });
}
