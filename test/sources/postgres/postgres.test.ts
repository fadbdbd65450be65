import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeRow } from "../../../src/engine/row";
import { WarehouseError } from "../../../src/sources/errors";
import { closePostgres, connectPostgres } from "../../../src/sources/postgres/connection";
import { type CopyVia, copyQuery } from "../../../src/sources/postgres/copy";
import { type StreamPage, streamQuery } from "../../../src/sources/postgres/cursor";
import { describeQuery, estimateRows, previewQuery, testConnection } from "../../../src/sources/postgres/queries";
import { jsonValue } from "../../../src/sources/postgres/types";
import type { ExtractHandler, WarehouseOptions } from "../../../src/sources/source";

const URL_ = env.TEST_WAREHOUSE_URL;
const opts: WarehouseOptions = { statementTimeoutMs: 10_000, allowPrivate: true };
const suffix = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
const table = `wh_test_${suffix}`;
const big = `wh_test_big_${suffix}`;
const seq = `wh_test_seq_${suffix}`;

/** Runs statements with a read-write session of the module under test. */
async function admin(sql: string): Promise<Record<string, unknown>[]> {
  const client = await connectPostgres(URL_, opts);
  try {
    return (await client.query(sql)).rows;
  } finally {
    await closePostgres(client);
  }
}

/** The WarehouseError a promise rejects with (fails the test if it resolves or throws anything else). */
async function warehouseError(promise: Promise<unknown>): Promise<WarehouseError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "expected a WarehouseError").toBeInstanceOf(WarehouseError);
  return err as WarehouseError;
}

async function drain(sql: string, o: WarehouseOptions = opts): Promise<void> {
  for await (const _page of streamQuery(URL_, sql, o)) {
    // consume
  }
}

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

describe("streamQuery", () => {
  it("streams 25,000 rows in pages of 1000, each row once and in order", async () => {
    const ids: number[] = [];
    let pages = 0;
    for await (const page of streamQuery(URL_, `SELECT id, c1 FROM ${big} WHERE id <= 25000 ORDER BY id`, opts, { pageSize: 1000 })) {
      pages++;
      expect(page.fields).toEqual([
        { name: "id", typeId: 23, type: "int4" },
        { name: "c1", typeId: 25, type: "text" },
      ]);
      expect(page.rows.length).toBeLessThanOrEqual(1000);
      for (const row of page.rows) {
        expect(typeof row[1]).toBe("string");
        ids.push(Number(row[0]));
      }
    }
    expect(pages).toBe(25);
    expect(ids.length).toBe(25_000);
    expect(ids.every((id, i) => id === i + 1)).toBe(true);
  });

  it("yields one empty page with the fields when there are no rows", async () => {
    const pages: StreamPage[] = [];
    for await (const page of streamQuery(URL_, `SELECT id FROM ${big} WHERE false`, opts)) pages.push(page);
    expect(pages).toEqual([{ fields: [{ name: "id", typeId: 23, type: "int4" }], rows: [] }]);
  });

  it("gives raw text values that jsonValue converts", async () => {
    const rows: (string | null)[][] = [];
    for await (const page of streamQuery(URL_, `SELECT id, created_at, data, payload FROM ${table} WHERE id > 2`, opts)) {
      rows.push(...page.rows);
      expect(page.fields.map((f, i) => jsonValue(f.typeId, page.rows[0]?.[i] ?? null))).toEqual([
        "9007199254740993",
        "2024-03-01T12:34:56.789012Z",
        "\\x00ff10",
        { plan: "pro", seats: 3, nested: { a: [1, 2] } },
      ]);
    }
    expect(rows).toEqual([
      ["9007199254740993", "2024-03-01 12:34:56.789012+00", "\\x00ff10", '{"plan": "pro", "seats": 3, "nested": {"a": [1, 2]}}'],
    ]);
  });

  it("fails with timeout, query_failed and read_only codes", async () => {
    expect((await warehouseError(drain("SELECT pg_sleep(5)", { ...opts, statementTimeoutMs: 200 }))).code).toBe("timeout");
    const bad = await warehouseError(drain("SELECT FROM FROM"));
    expect(bad.code).toBe("query_failed");
    expect(bad.position).toBe(13);
    expect((await warehouseError(drain(`SELECT 1/0 FROM ${big}`))).message).toContain("division by zero");
    expect((await warehouseError(drain(`DELETE FROM ${table}`))).code).toBe("read_only");
  });

  it("leaves no session or transaction behind when closed early", async () => {
    const applicationName = `wh_test_early_${suffix}`;
    const sessions = async () =>
      admin(`SELECT state, xact_start IS NOT NULL AS in_xact FROM pg_stat_activity WHERE application_name = '${applicationName}'`);
    const stream = streamQuery(URL_, `SELECT * FROM ${big} ORDER BY id`, { ...opts, applicationName }, { pageSize: 500 });
    const first = await stream.next();
    expect(first.done).toBe(false);
    // The session is open inside its transaction while the caller holds a page.
    const open = await sessions();
    expect(open).toHaveLength(1);
    expect(open[0]?.in_xact).toBe(true);

    await stream.return(undefined);
    await expect.poll(sessions, { timeout: 5_000 }).toEqual([]);
  });

  it("leaves nothing behind when the caller breaks out of for await", async () => {
    const applicationName = `wh_test_break_${suffix}`;
    let seen = 0;
    for await (const page of streamQuery(URL_, `SELECT * FROM ${big}`, { ...opts, applicationName }, { pageSize: 100 })) {
      seen += page.rows.length;
      if (seen >= 300) break;
    }
    expect(seen).toBe(300);
    await expect
      .poll(() => admin(`SELECT pid FROM pg_stat_activity WHERE application_name = '${applicationName}'`), { timeout: 5_000 })
      .toEqual([]);
  });

  it("passes an error thrown in by the caller through unchanged, and still cleans up", async () => {
    const applicationName = `wh_test_throw_${suffix}`;
    const stream = streamQuery(URL_, `SELECT id FROM ${big}`, { ...opts, applicationName }, { pageSize: 10 });
    await stream.next();
    const mine = new Error("caller gave up");
    await expect(stream.throw(mine)).rejects.toBe(mine);
    await expect
      .poll(() => admin(`SELECT pid FROM pg_stat_activity WHERE application_name = '${applicationName}'`), { timeout: 5_000 })
      .toEqual([]);
  });
});

/** Every line of copyQuery as text, by route. */
async function copyLines(sql: string, columns: string[] | null, via: CopyVia, o: WarehouseOptions = opts) {
  const lines: string[] = [];
  const decoder = new TextDecoder();
  const result = await copyQuery(
    URL_,
    sql,
    o,
    { columns: (fields) => columns ?? fields.map((f) => f.name), line: (b) => void lines.push(decoder.decode(b)) },
    via,
  );
  return { ...result, lines };
}

describe("copyQuery", () => {
  const awkward = `SELECT id, name, amount, created_at, day, active, ratio, payload, tags, data, local_ts, small,
      E'tab\\there\\nnew line \\\\ back' AS odd, '' AS empty, 'zoë ✓ 😀' AS wide FROM ${table}`;

  it("reads the same lines through COPY and through the cursor, equal to the cursor stream's values encoded", async () => {
    const viaCopy = await copyLines(awkward, null, "copy");
    const viaCursor = await copyLines(awkward, null, "cursor");
    const encoded: string[] = [];
    for await (const page of streamQuery(URL_, awkward, opts)) for (const row of page.rows) encoded.push(`${encodeRow(row)}\n`);
    expect(viaCopy.rows).toBe(2);
    expect(viaCopy.lines.sort()).toEqual(encoded.sort());
    expect(viaCursor.lines.sort()).toEqual(encoded.sort());
    expect(viaCopy.fields.map((f) => f.type)).toEqual([
      "int8",
      "text",
      "numeric",
      "timestamptz",
      "date",
      "bool",
      "float8",
      "jsonb",
      "text[]",
      "bytea",
      "timestamp",
      "int2",
      "text",
      "text",
      "text",
    ]);
    expect(viaCopy.lines.join("")).toContain("tab\\there\\nnew line \\\\ back\t");
  });

  it("reads rows far larger than one socket read, among many small ones, intact on both routes", async () => {
    // Rows of ~1.3 MB span several reads of the reader's reused buffer; nothing in them repeats.
    const long = (i: number, k: number) => `${i}:${Array.from({ length: k }, (_, j) => j + 1).join(",")}`;
    const sql = `SELECT i AS id, i || ':' || (SELECT string_agg(j::text, ',') FROM generate_series(1, CASE WHEN i % 5000 = 0 THEN 200000 ELSE 1 + i % 7 END) j) AS v
      FROM generate_series(1, 20000) i`;
    const expected = Array.from({ length: 20000 }, (_, n) => n + 1).map((i) => `${i}\t${long(i, i % 5000 === 0 ? 200000 : 1 + (i % 7))}\n`);
    for (const via of ["copy", "cursor"] as const) {
      const { lines } = await copyLines(sql, null, via);
      expect(lines.length, via).toBe(20000);
      const wrong = lines.filter((line, n) => line !== expected[n]).length;
      expect(wrong, via).toBe(0);
    }
  });

  it("reads only the chosen columns, in the chosen order, a column twice if asked", async () => {
    for (const via of ["copy", "cursor"] as const) {
      const { lines } = await copyLines(`SELECT * FROM ${big} WHERE id <= 3`, ["c6", "id", "c6"], via);
      expect(lines.sort()).toEqual(["customer-1\t1\tcustomer-1\n", "customer-2\t2\tcustomer-2\n", "customer-3\t3\tcustomer-3\n"]);
    }
  });

  it("passes what the handler throws through unchanged, and closes the session", async () => {
    const applicationName = `wh_test_copy_throw_${suffix}`;
    const mine = new Error("missing column");
    await expect(
      copyQuery(
        URL_,
        `SELECT id FROM ${big}`,
        { ...opts, applicationName },
        {
          columns: () => {
            throw mine;
          },
          line: () => undefined,
        },
      ),
    ).rejects.toBe(mine);
    const late = new Error("R2 put failed");
    let seen = 0;
    const failing: ExtractHandler = {
      columns: () => ["id"],
      line: () => {
        if (++seen === 1000) return Promise.reject(late);
      },
    };
    await expect(copyQuery(URL_, `SELECT * FROM ${big}`, { ...opts, applicationName }, failing)).rejects.toBe(late);
    // Stopped at the failure rather than reading the other 199,000 rows.
    expect(seen).toBeLessThan(100_000);
    await expect
      .poll(() => admin(`SELECT pid FROM pg_stat_activity WHERE application_name = '${applicationName}'`), { timeout: 5_000 })
      .toEqual([]);
  });

  it("stops reading from the warehouse while the handler's promise is pending", async () => {
    let total = 0;
    let duringPause = 0;
    let paused = false;
    await copyQuery(URL_, `SELECT * FROM ${big}`, opts, {
      columns: (fields) => fields.map((f) => f.name),
      line: () => {
        total++;
        if (paused) duringPause++;
        if (total !== 10) return;
        paused = true;
        return new Promise<void>((resolve) =>
          setTimeout(() => {
            paused = false;
            resolve();
          }, 1_500),
        );
      },
    });
    expect(total).toBe(200_000);
    // Only rows already in the socket buffer at the pause arrive during it (a few kilobytes' worth).
    expect(duringPause).toBeLessThan(10_000);
  });

  it("fails with the warehouse's codes, on both routes", async () => {
    for (const via of ["copy", "cursor"] as const) {
      const timeout = await warehouseError(copyLines("SELECT pg_sleep(5) AS s", null, via, { ...opts, statementTimeoutMs: 300 }));
      expect(timeout.code).toBe("timeout");
      const bad = await warehouseError(copyLines("SELECT FROM FROM", null, via));
      expect(bad).toMatchObject({ code: "query_failed", position: 13 });
      const mid = await warehouseError(copyLines(`SELECT id, 1 / (id - 150000) AS x FROM ${big}`, null, via));
      expect(mid.message).toContain("division by zero");
      expect((await warehouseError(copyLines(`DELETE FROM ${table} RETURNING id`, null, via))).code).toBe("read_only");
      const writes = await warehouseError(copyLines(`WITH gone AS (DELETE FROM ${table} RETURNING id) SELECT id FROM gone`, null, via));
      expect(writes.code).toBe("read_only");
      const second = await warehouseError(copyLines(`SELECT 1 AS a) AS model; DROP TABLE ${table}; SELECT (1`, null, via));
      expect(second.code).toBe("query_failed");
    }
    expect(await admin(`SELECT count(*)::int AS n FROM ${table}`)).toEqual([{ n: 2 }]);
  });
});

describe("jsonValue", () => {
  it("normalises timestamps, arrays and special floats", () => {
    expect(jsonValue(1184, "2024-01-02 03:04:05+05:30")).toBe("2024-01-02T03:04:05+05:30");
    expect(jsonValue(1184, "2024-01-02 03:04:05-08")).toBe("2024-01-02T03:04:05-08:00");
    expect(jsonValue(1184, "infinity")).toBe("infinity");
    expect(jsonValue(1114, "0044-03-15 12:00:00 BC")).toBe("0044-03-15 12:00:00 BC");
    expect(jsonValue(1007, "{{1,2},{3,NULL}}")).toEqual([
      [1, 2],
      [3, null],
    ]);
    expect(jsonValue(1009, '[0:1]={"a \\"q\\"","NULL"}')).toEqual(['a "q"', "NULL"]);
    expect(jsonValue(1016, "{9007199254740993}")).toEqual(["9007199254740993"]);
    expect(jsonValue(701, "Infinity")).toBe("Infinity");
    expect(jsonValue(16, "f")).toBe(false);
    expect(jsonValue(2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")).toBe("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  });
});
