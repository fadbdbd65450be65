import { describe, expect, it } from "vitest";
import { WarehouseError } from "../../../src/sources/errors";
import { closePostgres, connectPostgres } from "../../../src/sources/postgres/connection";
import { openSource } from "../../../src/sources/registry";
import type { Source, WarehouseOptions } from "../../../src/sources/source";
import { api, expectStatus, WAREHOUSE_URL } from "../../harness";
import {
  createDestination,
  createSync,
  customersTable,
  modelRows,
  pg,
  runSync,
  uniqueName,
  WEBHOOK_FIELDS,
  webhookState,
  webhookUrl,
} from "../../harness/run";

/** The Redshift route (the Postgres client, cursor pages) against the local Postgres. */

const opts: WarehouseOptions = { statementTimeoutMs: 10_000, allowPrivate: true };

async function warehouseError(promise: Promise<unknown>): Promise<WarehouseError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "expected a WarehouseError").toBeInstanceOf(WarehouseError);
  return err as WarehouseError;
}

async function extractLines(source: Source, sql: string, onFirst?: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const decoder = new TextDecoder();
  await source.extract(sql, {
    columns: (fields) => fields.map((f) => f.name),
    line: async (bytes) => {
      lines.push(decoder.decode(bytes));
      if (lines.length === 1 && onFirst) await onFirst();
    },
  });
  return lines;
}

const AWKWARD_MODEL = `SELECT * FROM (VALUES
  (1, NULL::text, 0.1::float8, 1.2500::numeric(10,4), DATE '2024-02-29', TIMESTAMPTZ '2024-01-02 03:04:05+05:30', ARRAY['a	b', NULL, 'it''s', E'back\\\\slash']),
  (2, '', 'NaN'::float8, -0.0001, DATE '1970-01-01', TIMESTAMPTZ '1999-12-31 23:59:59.5Z', ARRAY[]::text[]),
  (3, E'tab\\there\\nnew line\\\\ \\x0b', 1e300, 0, DATE '2000-01-01', NULL, NULL)
) AS t(id, s, f, d, day, ts, arr) ORDER BY id`;

describe("Redshift source (the Postgres client's cursor route, on the local Postgres)", () => {
  it("tests the connection and describes a model", async () => {
    const source = openSource("redshift", WAREHOUSE_URL, opts);
    const tested = await source.test();
    expect(tested).toMatchObject({ ok: true });
    // version(), which on Redshift names Redshift's build.
    expect(tested.server_version).toMatch(/^PostgreSQL \d+/);
    expect((await source.describe("SELECT 1::int4 AS id, 'a'::text AS name")).map((c) => c.type)).toEqual(["int4", "text"]);
  });

  it("extracts through a cursor, never COPY, with the same lines the Postgres source's COPY route gives", async () => {
    const applicationName = uniqueName("redshift");
    const source = openSource("redshift", WAREHOUSE_URL, { ...opts, applicationName });
    let running = "";
    const lines = await extractLines(source, AWKWARD_MODEL, async () => {
      const client = await connectPostgres(WAREHOUSE_URL, opts);
      try {
        const result = await client.query<{ query: string }>("SELECT query FROM pg_stat_activity WHERE application_name = $1", [
          applicationName,
        ]);
        running = result.rows[0]?.query ?? "";
      } finally {
        await closePostgres(client);
      }
    });
    // Pages of 1000 rows: a single-node Redshift cluster fetches no more at a time.
    expect(running).toMatch(/^FETCH FORWARD 1000 FROM model_copy/);
    const viaCopy = await extractLines(openSource("postgres", WAREHOUSE_URL, opts), AWKWARD_MODEL);
    expect(lines).toEqual(viaCopy);
    expect(lines[2]).toBe("3\ttab\\there\\nnew line\\\\ \\v\t1e+300\t0\t2000-01-01\t\\N\t\\N\n");
  });

  it("estimates rows from the text plan (Redshift's EXPLAIN has no JSON format)", async () => {
    const table = await customersTable(300);
    await pg(`ANALYZE ${table}`);
    expect(await openSource("redshift", WAREHOUSE_URL, opts).estimateRows(`SELECT * FROM ${table}`)).toBe(300);
  });

  it("previews awkward values as JSON", async () => {
    const preview = await openSource("redshift", WAREHOUSE_URL, opts).preview(AWKWARD_MODEL, 10);
    expect(preview.rows[0]).toEqual({
      id: 1,
      s: null,
      f: 0.1,
      d: "1.2500",
      day: "2024-02-29",
      ts: expect.stringMatching(/^2024-01-01T21:34:05/),
      arr: ["a\tb", null, "it's", "back\\slash"],
    });
    expect(preview.rows[1]).toMatchObject({ s: "", f: "NaN", arr: [] });
  });

  it("refuses a model that writes, stops at the timeout and reports a wrong password as auth", async () => {
    const source = openSource("redshift", WAREHOUSE_URL, opts);
    const writes = await warehouseError(source.describe("DELETE FROM anything"));
    expect([writes.code, writes.kind]).toEqual(["read_only", "user"]);
    const table = await customersTable(3);
    const sneaky = await warehouseError(
      source.extract(`WITH gone AS (DELETE FROM ${table} RETURNING *) SELECT * FROM gone`, { columns: () => ["id"], line: () => {} }),
    );
    expect(sneaky.code).toBe("read_only");

    const slow = openSource("redshift", WAREHOUSE_URL, { ...opts, statementTimeoutMs: 300 });
    const timedOut = await warehouseError(slow.extract("SELECT pg_sleep(2) AS slept", { columns: () => ["slept"], line: () => {} }));
    expect([timedOut.code, timedOut.kind]).toEqual(["timeout", "retryable"]);

    const wrong = new URL(WAREHOUSE_URL);
    wrong.username = "no_such_redshift_user";
    wrong.password = "wrong";
    const refused = await warehouseError(openSource("redshift", wrong.toString(), opts).describe("SELECT 1"));
    expect([refused.code, refused.kind]).toEqual(["auth_failed", "auth"]);
  });

  it("syncs a Redshift-typed source to the webhook end to end; a no-change run sends nothing", async () => {
    const table = await customersTable(200);
    const created = await api.post("/api/v1/sources", {
      body: { name: "redshift", type: "redshift", connection_string: WAREHOUSE_URL },
    });
    expectStatus(created, 201);
    expect(created.body).toMatchObject({ type: "redshift", config: {} });
    const model = await api.post("/api/v1/models", {
      body: { name: table, source_id: created.body.id, sql: `SELECT id, email, name, plan, score FROM ${table}`, primary_key: "id" },
    });
    expectStatus(model, 201);
    const destinationId = await createDestination({
      name: "receiver",
      type: "webhook",
      config: { url: webhookUrl(table), batch_size: 100 },
    });
    const syncId = await createSync(model.body.id, destinationId, "mirror", WEBHOOK_FIELDS);
    const first = await runSync(syncId);
    expect(first, JSON.stringify(first)).toMatchObject({ status: "succeeded", rows_created: 200, rows_failed: 0 });
    const state = await webhookState(table);
    expect(state.rows).toEqual(await modelRows(table));
    const second = await runSync(syncId);
    expect(second).toMatchObject({ status: "succeeded", rows_created: 0, rows_updated: 0, rows_deleted: 0, rows_unchanged: 200 });
    expect((await webhookState(table)).operations).toBe(state.operations);
    await pg(`UPDATE ${table} SET plan = 'enterprise' WHERE id = '5'`);
    expect(await runSync(syncId)).toMatchObject({ status: "succeeded", rows_updated: 1, rows_unchanged: 199 });
  });
});
