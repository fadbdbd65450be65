import { env } from "cloudflare:workers";
import { afterAll, beforeAll, expect } from "vitest";
import { WarehouseError } from "../../../src/sources/errors";
import { closePostgres, connectPostgres } from "../../../src/sources/postgres/connection";
import { streamQuery } from "../../../src/sources/postgres/cursor";
import type { WarehouseOptions } from "../../../src/sources/source";

/** Shared by the Postgres source's tests: the warehouse, its options and per-file tables. */

export const URL_ = env.TEST_WAREHOUSE_URL;
export const opts: WarehouseOptions = { statementTimeoutMs: 10_000, allowPrivate: true };

/** Runs statements with a read-write session of the module under test. */
export async function admin(sql: string): Promise<Record<string, unknown>[]> {
  const client = await connectPostgres(URL_, opts);
  try {
    return (await client.query(sql)).rows;
  } finally {
    await closePostgres(client);
  }
}

/** The WarehouseError a promise rejects with (fails the test if it resolves or throws anything else). */
export async function warehouseError(promise: Promise<unknown>): Promise<WarehouseError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "expected a WarehouseError").toBeInstanceOf(WarehouseError);
  return err as WarehouseError;
}

export async function drain(sql: string, o: WarehouseOptions = opts): Promise<void> {
  for await (const _page of streamQuery(URL_, sql, o)) {
    // consume
  }
}

/**
 * Names of this file's tables, created before its tests and dropped after: `table` (two rows of
 * awkward types), `big` (200,000 rows × 10 columns) and the sequence `seq`.
 */
export function useTables(): { suffix: string; table: string; big: string; seq: string } {
  const suffix = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
  const table = `wh_test_${suffix}`;
  const big = `wh_test_big_${suffix}`;
  const seq = `wh_test_seq_${suffix}`;
  beforeAll(async () => {
    await admin(`
      CREATE TABLE ${table} (
        id bigint PRIMARY KEY, name text, amount numeric(12,2), created_at timestamptz, day date, active boolean,
        ratio double precision, payload jsonb, tags text[], data bytea, local_ts timestamp, small int2);
      INSERT INTO ${table} VALUES
        (9007199254740993, 'Ada "the first"', 1234.50, '2024-03-01 12:34:56.789012+00', '2024-03-01', true, 0.25,
         '{"plan":"pro","seats":3,"nested":{"a":[1,2]}}', ARRAY['a','b,c',NULL], '\\x00ff10', '2024-03-01 01:02:03', 7),
        (2, NULL, NULL, NULL, NULL, NULL, 'NaN', NULL, NULL, NULL, NULL, NULL);
      CREATE TABLE ${big} AS
        SELECT g AS id, md5(g::text) AS c1, g * 2 AS c2, (g % 97)::numeric / 7 AS c3, now() - g * interval '1 minute' AS c4,
               g % 2 = 0 AS c5, 'customer-' || g AS c6, g::float8 / 3 AS c7, (date '2020-01-01' + g % 1000) AS c8, g % 13 AS c9
          FROM generate_series(1, 200000) g;
      ALTER TABLE ${big} ADD PRIMARY KEY (id);
      ANALYZE ${big};
      CREATE SEQUENCE ${seq};`);
  });

  afterAll(async () => {
    await admin(`DROP TABLE IF EXISTS ${table}; DROP TABLE IF EXISTS ${big}; DROP SEQUENCE IF EXISTS ${seq};`);
  });
  return { suffix, table, big, seq };
}
