import { env } from "cloudflare:workers";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { DestinationConfig, DestinationCredentials } from "../../src/destinations/registry";
import type { ConnectorContext } from "../../src/destinations/destination";
import { postgresConnector } from "../../src/destinations/postgres/connector";
import { closePostgres, connectPostgres } from "../../src/sources/postgres/connection";
import { batchOf, expectKind, rowsOf, uniqueName } from "./helpers";

type Config = DestinationConfig<"postgres">;
type Credentials = DestinationCredentials<"postgres">;

const URL_ = env.TEST_WAREHOUSE_URL;
const table = uniqueName("dst_pg");
const plain = uniqueName("dst_pg_nokey");
const role = uniqueName("dst_pg_reader");

async function sql<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  const client = await connectPostgres(URL_, { statementTimeoutMs: 10_000, allowPrivate: true });
  try {
    return (await client.query(text, params)).rows as T[];
  } finally {
    await closePostgres(client);
  }
}

function ctx(config: Partial<Config> = {}, credentials: Partial<Credentials> = {}): ConnectorContext<Config, Credentials> {
  return {
    config: { schema: "public", table, key_column: "id", batch_size: 500, ...config },
    credentials: { connection_string: URL_, ...credentials },
    allowPrivate: true,
    fetch,
  };
}

/** The table's rows by id, values as Postgres' text (so types are visible). */
async function rows(): Promise<Record<string, Record<string, string | null>>> {
  const list = await sql<Record<string, string | null>>(
    `SELECT id::text, name, email, amount::text, active::text, signed_up AT TIME ZONE 'UTC' AS signed_up_utc, tags::text, meta::text, score::text
       FROM ${table} ORDER BY id`,
  );
  return Object.fromEntries(list.map((r) => [String(r.id), r]));
}

beforeAll(async () => {
  await sql(`
    CREATE TABLE ${table} (
      id bigint PRIMARY KEY, name text NOT NULL, email text, amount numeric(10,2), active boolean,
      signed_up timestamptz, tags text[], meta jsonb, score int CHECK (score >= 0));
    CREATE TABLE ${plain} (id bigint, name text);
    CREATE ROLE ${role} LOGIN;
    GRANT SELECT ON ${table} TO ${role};`);
});

afterAll(async () => {
  await sql(`DROP TABLE IF EXISTS ${table}; DROP TABLE IF EXISTS ${plain}; DROP ROLE IF EXISTS ${role};`);
});

beforeEach(async () => {
  await sql(`TRUNCATE ${table}`);
});

describe("postgres connector: writes", () => {
  it("upserts creates, updates and upserts and deletes by key, casting JSON values to the column types", async () => {
    const first = await postgresConnector.send(
      ctx(),
      batchOf([
        {
          op: "create",
          key: "1",
          fields: {
            name: "Ada",
            email: "ada@example.com",
            amount: "1234.5",
            active: true,
            signed_up: "2024-03-01T12:34:56.789Z",
            tags: ["a", "b,c"],
            meta: { plan: "pro", seats: 3 },
            score: 10,
          },
        },
        {
          op: "create",
          key: "2",
          fields: { name: "Bob", email: null, amount: 7, active: false, signed_up: null, tags: null, meta: null, score: "5" },
        },
        {
          op: "upsert",
          key: "3",
          fields: { name: "Cy", email: "cy@example.com", amount: null, active: null, signed_up: null, tags: [], meta: [1, 2], score: 0 },
        },
      ]),
    );
    expect([...rowsOf(first).values()]).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    let r = await rows();
    expect(r["1"]).toEqual({
      id: "1",
      name: "Ada",
      email: "ada@example.com",
      amount: "1234.50",
      active: "true",
      signed_up_utc: expect.anything(),
      tags: '{a,"b,c"}',
      meta: '{"plan": "pro", "seats": 3}',
      score: "10",
    });
    expect(r["2"]).toMatchObject({ name: "Bob", email: null, amount: "7.00", active: "false", score: "5" });
    expect(r["3"]).toMatchObject({ tags: "{}", meta: "[1, 2]" });
    const [ts] = await sql<{ ok: boolean }>(`SELECT signed_up = '2024-03-01T12:34:56.789Z'::timestamptz AS ok FROM ${table} WHERE id = 1`);
    expect(ts?.ok).toBe(true);

    const second = await postgresConnector.send(
      ctx(),
      batchOf([
        {
          op: "update",
          key: "1",
          fields: {
            name: "Ada L.",
            email: "ada@example.com",
            amount: "1",
            active: false,
            signed_up: null,
            tags: null,
            meta: null,
            score: 11,
          },
        },
        { op: "delete", key: "2", fields: {} },
        {
          op: "upsert",
          key: "3",
          fields: { name: "Cy 2", email: null, amount: null, active: null, signed_up: null, tags: null, meta: null, score: 1 },
        },
      ]),
    );
    expect([...rowsOf(second).values()].every((x) => x.ok)).toBe(true);
    r = await rows();
    expect(Object.keys(r)).toEqual(["1", "3"]);
    expect(r["1"]).toMatchObject({ name: "Ada L.", amount: "1.00", active: "false", score: "11" });
    expect(r["3"]).toMatchObject({ name: "Cy 2", score: "1" });
  });

  it("absorbs a redelivered create (INSERT … ON CONFLICT DO UPDATE) and an update of a missing row", async () => {
    const batch = batchOf([{ op: "create", key: "10", fields: { name: "Once" } }]);
    rowsOf(await postgresConnector.send(ctx(), batch));
    expect(rowsOf(await postgresConnector.send(ctx(), batch)).get("10")).toEqual({ ok: true });
    rowsOf(await postgresConnector.send(ctx(), batchOf([{ op: "update", key: "11", fields: { name: "Back" } }])));
    const r = await rows();
    expect(Object.keys(r)).toEqual(["10", "11"]);
  });

  it("counts a delete of a key that is not there as done", async () => {
    expect(rowsOf(await postgresConnector.send(ctx(), batchOf([{ op: "delete", key: "404", fields: {} }]))).get("404")).toEqual({
      ok: true,
    });
  });

  it("only sets the fields a row carries; an update may omit NOT NULL columns (rows with different fields go in separate statements)", async () => {
    await sql(`INSERT INTO ${table} (id, name, email, score) VALUES (20, 'Keep', 'keep@example.com', 3)`);
    const outcome = await postgresConnector.send(
      ctx(),
      batchOf([
        { op: "update", key: "20", fields: { score: 4 } },
        { op: "create", key: "21", fields: { name: "New", email: "new@example.com" } },
        // The same key twice in a batch: applied in order.
        { op: "update", key: "21", fields: { name: "Newer" } },
        // An update of a missing row inserts it, so it needs the NOT NULL columns.
        { op: "update", key: "22", fields: { score: 1 } },
      ]),
    );
    const results = rowsOf(outcome);
    expect(results.get("20")).toEqual({ ok: true });
    expect(results.get("21")).toEqual({ ok: true });
    expect(results.get("22")?.error).toMatch(/null value in column "name".*23502/);
    const r = await rows();
    expect(r["20"]).toMatchObject({ name: "Keep", email: "keep@example.com", score: "4" });
    expect(r["21"]).toMatchObject({ name: "Newer", email: "new@example.com" });
  });

  it("uses the operation key for the key column even when a field of that name differs", async () => {
    rowsOf(await postgresConnector.send(ctx(), batchOf([{ op: "upsert", key: "30", fields: { id: 999, name: "K" } }])));
    expect(Object.keys(await rows())).toEqual(["30"]);
  });

  it("quotes identifiers: a column named like SQL and a mixed-case table", async () => {
    const odd = `${uniqueName("Dst_Pg_Odd")}`;
    await sql(`CREATE TABLE "${odd}" ("Key" text PRIMARY KEY, "select" text, "Name With Space" text)`);
    try {
      const outcome = await postgresConnector.send(
        ctx({ table: odd, key_column: "Key" }),
        batchOf([{ op: "upsert", key: "k'1", fields: { select: "x); DROP TABLE x; --", "Name With Space": "ok" } }]),
      );
      expect(rowsOf(outcome).get("k'1")).toEqual({ ok: true });
      const [row] = await sql(`SELECT * FROM "${odd}"`);
      expect(row).toEqual({ Key: "k'1", select: "x); DROP TABLE x; --", "Name With Space": "ok" });
    } finally {
      await sql(`DROP TABLE "${odd}"`);
    }
  });

  it("honours the configured batch size", () => {
    expect(postgresConnector.maxBatchSize({ schema: "public", table, key_column: "id", batch_size: 250 })).toBe(250);
  });
});

describe("postgres connector: per-row errors", () => {
  it("isolates bad rows with Postgres' message and writes the rest", async () => {
    await sql(`INSERT INTO ${table} (id, name) VALUES (43, 'gone soon')`);
    const outcome = await postgresConnector.send(
      ctx(),
      batchOf([
        { op: "create", key: "40", fields: { name: "Good", score: 1 } },
        { op: "create", key: "41", fields: { name: "Bad type", score: "abc" } },
        { op: "create", key: "42", fields: { name: null, score: 2 } },
        { op: "create", key: "44", fields: { name: "Negative", score: -1 } },
        { op: "create", key: "45", fields: { name: "Also good", score: 3 } },
        { op: "delete", key: "43", fields: {} },
        { op: "delete", key: "not-a-number", fields: {} },
      ]),
    );
    const results = rowsOf(outcome);
    expect(results.get("40")).toEqual({ ok: true });
    expect(results.get("45")).toEqual({ ok: true });
    expect(results.get("43")).toEqual({ ok: true });
    expect(results.get("41")?.error).toMatch(/invalid input syntax for type integer: "abc" \[SQLSTATE 22P02\]/);
    expect(results.get("42")?.error).toMatch(/null value in column "name" .*violates not-null constraint \[SQLSTATE 23502\]/);
    expect(results.get("44")?.error).toMatch(/violates check constraint .*\[SQLSTATE 23514\]/);
    expect(results.get("not-a-number")?.error).toMatch(/invalid input syntax for type bigint: "not-a-number"/);
    // The message never copies row values from Postgres' DETAIL.
    expect(results.get("42")?.error).not.toMatch(/Failing row/);
    expect(Object.keys(await rows())).toEqual(["40", "45"]);
  });

  it("reports a single failing row without retrying it", async () => {
    const outcome = await postgresConnector.send(
      ctx(),
      batchOf([{ op: "upsert", key: "50", fields: { name: "x", amount: "12345678901" } }]),
    );
    expect(rowsOf(outcome).get("50")?.error).toMatch(/numeric field overflow \[SQLSTATE 22003\]/);
  });
});

describe("postgres connector: batch failures", () => {
  it("an unknown column → rejected (42703), nothing written", async () => {
    const outcome = await postgresConnector.send(ctx(), batchOf([{ op: "create", key: "60", fields: { name: "x", nope: 1 } }]));
    expect(expectKind(outcome, "rejected").error).toMatch(/column "nope" .*does not exist \[SQLSTATE 42703\]/);
    expect(await rows()).toEqual({});
  });

  it("an unknown table → rejected (42P01)", async () => {
    const outcome = await postgresConnector.send(
      ctx({ table: "no_such_table_xyz" }),
      batchOf([{ op: "create", key: "1", fields: { name: "x" } }]),
    );
    expect(expectKind(outcome, "rejected").error).toMatch(/42P01/);
  });

  it("a key column without a unique index → rejected (42P10)", async () => {
    const outcome = await postgresConnector.send(ctx({ table: plain }), batchOf([{ op: "create", key: "1", fields: { name: "x" } }]));
    expect(expectKind(outcome, "rejected").error).toMatch(/ON CONFLICT.*\[SQLSTATE 42P10\]/);
  });

  it("an unknown role → auth_failed (28000)", async () => {
    const url = new URL(URL_);
    url.username = "no_such_role_xyz";
    const outcome = await postgresConnector.send(
      ctx({}, { connection_string: url.toString() }),
      batchOf([{ op: "create", key: "1", fields: { name: "x" } }]),
    );
    expect(expectKind(outcome, "auth_failed").error).toMatch(/no_such_role_xyz/);
  });

  it("a role without write privilege → auth_failed (42501)", async () => {
    const url = new URL(URL_);
    url.username = role;
    const outcome = await postgresConnector.send(
      ctx({}, { connection_string: url.toString() }),
      batchOf([{ op: "create", key: "1", fields: { name: "x" } }]),
    );
    expect(expectKind(outcome, "auth_failed").error).toMatch(/permission denied.*42501/);
  });

  it("an unreachable server → retry", async () => {
    const outcome = await postgresConnector.send(
      ctx({}, { connection_string: "postgres://postgres@127.0.0.1:1/test" }),
      batchOf([{ op: "create", key: "1", fields: { name: "x" } }]),
    );
    expectKind(outcome, "retry");
  });

  it.each([
    "postgres://postgres@127.0.0.1:5432/test",
    "postgres://postgres@2130706433:5432/test",
    "postgres://postgres@[::1]:5432/test",
    "postgres://u@169.254.169.254/db",
  ])("refuses the private host of %s when private destinations are not allowed", async (connection_string) => {
    const outcome = await postgresConnector.send(
      { ...ctx({}, { connection_string }), allowPrivate: false },
      batchOf([{ op: "create", key: "1", fields: { name: "x" } }]),
    );
    expect(expectKind(outcome, "rejected").error).toMatch(/refused|not allowed/);
  });
});

describe("postgres connector: test()", () => {
  it("passes for a writable table with a unique key column", async () => {
    expect(await postgresConnector.test(ctx())).toEqual({ ok: true });
  });

  it.each([
    [{ table: "no_such_table_xyz" }, /does not exist/],
    [{ key_column: "nope" }, /has no column nope/],
    [{ key_column: "email" }, /needs a unique index/],
  ])("explains what is wrong with %j", async (config, message) => {
    const result = await postgresConnector.test(ctx(config));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(message);
  });

  it("reports a role that may not write", async () => {
    const url = new URL(URL_);
    url.username = role;
    const result = await postgresConnector.test(ctx({}, { connection_string: url.toString() }));
    expect(result).toEqual({ ok: false, error: expect.stringMatching(/may not INSERT, UPDATE and DELETE/) });
  });
});
