import { describe, expect, it } from "vitest";
import { closePostgres, connectPostgres } from "../../../src/sources/postgres/connection";
import { describeQuery, estimateRows, previewQuery, testConnection } from "../../../src/sources/postgres/queries";
import { admin, drain, opts, URL_, useTables, warehouseError } from "./helpers";

const { suffix, table, big, seq } = useTables();

describe("testConnection", () => {
  it("reports the server version and latency", async () => {
    const res = await testConnection(URL_, opts);
    expect(res.error, JSON.stringify(res)).toBeUndefined();
    expect(res.ok).toBe(true);
    expect(res.server_version).toMatch(/^\d+\.\d+/);
    expect(res.latency_ms).toBeGreaterThanOrEqual(0);
  });

  it("reports a closed port as unreachable without throwing", async () => {
    const res = await testConnection("postgres://postgres@127.0.0.1:1/test", opts);
    expect(res.ok).toBe(false);
    expect(res.error?.code, JSON.stringify(res)).toBe("unreachable");
  });

  it("names a missing database and an unknown role", async () => {
    const db = await testConnection(`postgres://postgres@127.0.0.1:5432/no_such_db_${suffix}`, opts);
    expect(db.error?.code, JSON.stringify(db)).toBe("database_not_found");
    expect(db.error?.message).toContain(`no_such_db_${suffix}`);
    const role = await testConnection(`postgres://no_such_role_${suffix}@127.0.0.1:5432/test`, opts);
    expect(role.error?.code, JSON.stringify(role)).toBe("auth_failed");
  });

  it("gives up after connectTimeoutMs when the server does not answer", async () => {
    // A backend connecting to a database blocks on the lock of an uncommitted ALTER DATABASE.
    const db = `wh_test_lock_${suffix}`;
    await admin(`CREATE DATABASE ${db}`);
    const holder = await connectPostgres(URL_, opts);
    try {
      await holder.query(`BEGIN; ALTER DATABASE ${db} RENAME TO ${db}_x`);
      const url = new URL(URL_);
      url.pathname = `/${db}`;
      const started = Date.now();
      const res = await testConnection(url.toString(), { ...opts, connectTimeoutMs: 300 });
      expect(res.error?.code, JSON.stringify(res)).toBe("unreachable");
      expect(res.error?.message).toContain("within 300 ms");
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await holder.query("ROLLBACK").catch(() => undefined);
      await closePostgres(holder);
      await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    }
  });

  it("refuses private hosts unless allowed, and TLS the server does not offer under sslmode=require", async () => {
    const priv = await testConnection(URL_, { ...opts, allowPrivate: false });
    expect(priv.error?.code, JSON.stringify(priv)).toBe("host_not_allowed");
    const ipv6 = await testConnection("postgres://u:p@[::1]:5432/db", { ...opts, allowPrivate: false });
    expect(ipv6.error?.code, JSON.stringify(ipv6)).toBe("host_not_allowed");

    const withTls = new URL(URL_);
    withTls.searchParams.set("sslmode", "require");
    const tls = await testConnection(withTls.toString(), opts);
    expect(tls.error?.code, JSON.stringify(tls)).toBe("tls_failed");
    // prefer (the default) falls back to plain TCP when the server declines
    withTls.searchParams.set("sslmode", "prefer");
    expect((await testConnection(withTls.toString(), opts)).ok).toBe(true);

    const bad = await testConnection("mysql://u@h/db", opts);
    expect(bad.error?.code).toBe("invalid_connection_string");
  });
});

describe("describeQuery", () => {
  it("returns the Postgres type name of each column", async () => {
    const columns = await describeQuery(URL_, `SELECT * FROM ${table} -- trailing comment\n;  `, opts);
    expect(columns).toEqual([
      { name: "id", type: "int8" },
      { name: "name", type: "text" },
      { name: "amount", type: "numeric" },
      { name: "created_at", type: "timestamptz" },
      { name: "day", type: "date" },
      { name: "active", type: "bool" },
      { name: "ratio", type: "float8" },
      { name: "payload", type: "jsonb" },
      { name: "tags", type: "text[]" },
      { name: "data", type: "bytea" },
      { name: "local_ts", type: "timestamp" },
      { name: "small", type: "int2" },
    ]);
  });

  it("looks up non-built-in types and refuses duplicate column names", async () => {
    const columns = await describeQuery(URL_, "SELECT 'pg_class'::regclass AS r, '[1,2)'::int4range AS rng", opts);
    expect(columns).toEqual([
      { name: "r", type: "regclass" },
      { name: "rng", type: "int4range" },
    ]);
    const dup = await warehouseError(describeQuery(URL_, "SELECT 1 AS a, 2 AS a", opts));
    expect(dup.code).toBe("query_failed");
    expect(dup.message).toContain('"a"');
  });

  it("names the problem and its position in bad SQL", async () => {
    const sql = `SELECT id,\n  name,\nFROM ${table}`;
    const err = await warehouseError(describeQuery(URL_, sql, opts));
    expect(err.code).toBe("query_failed");
    expect(err.sqlstate).toBe("42601");
    expect(err.message).toContain('syntax error at or near "FROM"');
    expect(err.position).toBe(sql.indexOf("FROM") + 1);
    expect(err.retryable).toBe(false);

    const missing = await warehouseError(describeQuery(URL_, `SELECT nope FROM ${table}`, opts));
    expect(missing.code).toBe("query_failed");
    expect(missing.message).toContain("nope");
    expect(missing.position).toBe(8);
  });
});

describe("estimateRows", () => {
  it("returns the planner's estimate without running the query", async () => {
    const estimate = await estimateRows(URL_, `SELECT * FROM ${big} WHERE pg_sleep(1) IS NOT NULL`, { ...opts, statementTimeoutMs: 500 });
    expect(estimate).toBeGreaterThan(500);
    expect(await estimateRows(URL_, `SELECT * FROM ${big}`, opts)).toBe(200_000);
    const smuggled = `SELECT 1) AS model; COMMIT; CREATE TABLE wh_test_evil_${suffix} (id int); SELECT * FROM (SELECT 1`;
    expect((await warehouseError(estimateRows(URL_, smuggled, opts))).code).toBe("query_failed");
  });
});

describe("previewQuery", () => {
  it("returns JSON-safe values", async () => {
    const { columns, rows } = await previewQuery(URL_, `SELECT * FROM ${table} ORDER BY id DESC`, 10, opts);
    expect(columns.map((c) => c.name)).toContain("payload");
    expect(rows[0]).toEqual({
      id: "9007199254740993",
      name: 'Ada "the first"',
      amount: "1234.50",
      created_at: "2024-03-01T12:34:56.789012Z",
      day: "2024-03-01",
      active: true,
      ratio: 0.25,
      payload: { plan: "pro", seats: 3, nested: { a: [1, 2] } },
      tags: ["a", "b,c", null],
      data: "\\x00ff10",
      local_ts: "2024-03-01T01:02:03",
      small: 7,
    });
    expect(rows[1]).toMatchObject({ id: "2", name: null, ratio: "NaN", payload: null, tags: null });
    expect(JSON.parse(JSON.stringify(rows))).toEqual(rows);
  });

  it("runs in a read-only repeatable-read transaction with the session settings asked for", async () => {
    const url = new URL(URL_);
    url.searchParams.set("options", "-c search_path=wh_custom,public");
    const settings = ["transaction_read_only", "transaction_isolation", "statement_timeout", "idle_in_transaction_session_timeout"]
      .concat(["application_name", "DateStyle", "bytea_output", "search_path"])
      .map((name) => `current_setting('${name}') AS "${name}"`);
    const { rows } = await previewQuery(url.toString(), `SELECT ${settings.join(", ")}`, 1, { ...opts, applicationName: "wh_test_app" });
    expect(rows).toEqual([
      {
        transaction_read_only: "on",
        transaction_isolation: "repeatable read",
        statement_timeout: "10s",
        idle_in_transaction_session_timeout: "10min",
        application_name: "wh_test_app",
        DateStyle: expect.stringMatching(/^ISO,/),
        bytea_output: "hex",
        search_path: "wh_custom,public",
      },
    ]);
  });

  it("returns at most `limit` rows", async () => {
    const { rows } = await previewQuery(URL_, `SELECT id FROM ${big} ORDER BY id`, 3, opts);
    expect(rows).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
  });

  it("fails with code timeout when statement_timeout passes", async () => {
    const err = await warehouseError(previewQuery(URL_, "SELECT pg_sleep(5)", 1, { ...opts, statementTimeoutMs: 200 }));
    expect(err.code).toBe("timeout");
    expect(err.sqlstate).toBe("57014");
    expect(err.retryable).toBe(true);
  });
});

describe("read-only models", () => {
  it.each([
    `INSERT INTO ${table} (id) VALUES (3)`,
    `UPDATE ${table} SET name = 'x'`,
    `CREATE TABLE wh_test_evil_${suffix} (id int)`,
    `  /* hi */ (DELETE FROM ${table})`,
  ])("refuses %s with code read_only", async (sql) => {
    const err = await warehouseError(describeQuery(URL_, sql, opts));
    expect(err.code).toBe("read_only");
  });

  it("stops writes the server sees, and a second statement smuggled past the wrapper", async () => {
    const nextval = await warehouseError(previewQuery(URL_, `SELECT nextval('${seq}')`, 1, opts));
    expect(nextval.code).toBe("read_only");
    expect(nextval.sqlstate).toBe("25006");

    const cte = await warehouseError(describeQuery(URL_, `WITH d AS (DELETE FROM ${table} RETURNING id) SELECT * FROM d`, opts));
    expect(cte.code).toBe("read_only");

    const smuggled = `SELECT 1) AS model; COMMIT; CREATE TABLE wh_test_evil_${suffix} (id int); SELECT * FROM (SELECT 1`;
    expect((await warehouseError(describeQuery(URL_, smuggled, opts))).code).toBe("query_failed");
    expect((await warehouseError(drain(smuggled))).code).toBe("query_failed");

    const left = await admin(`SELECT (SELECT count(*) FROM ${table})::int AS n, to_regclass('wh_test_evil_${suffix}') IS NULL AS no_evil`);
    expect(left).toEqual([{ n: 2, no_evil: true }]);
  });
});
