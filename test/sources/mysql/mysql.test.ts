import { describe, expect, it } from "vitest";
import { decodeRow } from "../../../src/engine/row";
import { MysqlConnection } from "../../../src/sources/mysql/connection";
import { parseConnectionString } from "../../../src/sources/mysql/connection-string";
import { openSource, sourcePlugin } from "../../../src/sources/registry";
import type { Source, WarehouseOptions } from "../../../src/sources/source";
import { api, expectStatus, WAREHOUSE_URL } from "../../harness";
import {
  createDestination,
  createSync,
  expectedRows,
  type Mode,
  type Rows,
  runSync,
  uniqueName,
  WEBHOOK_FIELDS,
  webhookRows,
  webhookState,
  webhookUrl,
} from "../../harness/run";
import { MYSQL_ADMIN_URL, MYSQL_URL, my, mysqlUp, warehouseError } from "./helpers";

const opts: WarehouseOptions = { statementTimeoutMs: 10_000, allowPrivate: true };
const DB = "retl_mysql_test";
const open = (url = MYSQL_URL, o: WarehouseOptions = opts): Source => openSource("mysql", url, o);
const withUrl = (change: (url: URL) => void): string => {
  const url = new URL(MYSQL_URL);
  change(url);
  return url.toString();
};

/** Every line a model extracts, as the bytes the handler saw (decoded as UTF-8). */
async function extractLines(source: Source, sql: string): Promise<string[]> {
  const lines: string[] = [];
  const decoder = new TextDecoder();
  await source.extract(sql, {
    columns: (fields) => fields.map((f) => f.name),
    line: (bytes) => void lines.push(decoder.decode(bytes)),
  });
  return lines;
}

// Everything COPY text escapes, a quote, a NUL (MySQL strings may hold one) and 4-byte UTF-8.
const AWKWARD = "tab\there\nnew line\\back slash 'quote' \v vt\r\b\f nul:\0 😀";

/** A MySQL string literal of `s` (the admin session's default sql_mode: backslash escapes). */
function literal(s: string): string {
  const escapes: Record<string, string> = { "\\": "\\\\", "'": "\\'", "\0": "\\0", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b" };
  return `'${s.replace(/[\\'\0\n\r\t\b]/g, (c) => escapes[c] ?? c)}'`;
}

/** A fresh table of awkward values, row 1 mostly NULL, row 2 empty or zero, row 3 awkward. */
async function awkwardTable(): Promise<string> {
  const table = uniqueName("myawk");
  await my(
    `CREATE TABLE ${DB}.${table} (id INT PRIMARY KEY, s VARCHAR(200), tiny TINYINT, big BIGINT UNSIGNED, f FLOAT, d DOUBLE,
      dec1 DECIMAL(30, 10), day DATE, dt DATETIME(6), ts TIMESTAMP(3) NULL, flag BOOLEAN, j JSON, bin VARBINARY(8), bl BLOB,
      bits BIT(12), e ENUM('red', 'green'), st SET('a', 'b', 'c'), tm TIME, yr YEAR)`,
    // The TIMESTAMP is written in a +02:00 session: the source reads it back in UTC.
    "SET time_zone = '+02:00'",
    `INSERT INTO ${DB}.${table} VALUES
      (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
      (2, '', 0, 0, 0, -0.5, 0, '1970-01-01', '1970-01-01 00:00:00', '1970-01-02 02:00:00', FALSE, '{}', '', '', b'0', 'red', '', '00:00:00', 1901),
      (3, ${literal(AWKWARD)}, -128, 18446744073709551615, 0.1, 1.5e300, -12345678901234567890.0123456789, '2024-02-29',
       '2024-12-31 23:59:59.999999', '2024-01-02 05:04:05.678', TRUE, '{"b": [1, 2.50, "x\\\\ty"], "a": {"z": null, "y": 12345678901234567890}}',
       X'00FF0A5C', X'DEADBEEF', b'101010101010', 'green', 'a,c', '-838:59:59', 2155)`,
  );
  return table;
}

describe.skipIf(!mysqlUp)("MySQL source (local MariaDB)", () => {
  it("tests the connection as the least-privilege user and reports the server version", async () => {
    const tested = await open().test();
    expect(tested, JSON.stringify(tested)).toMatchObject({ ok: true });
    expect(tested.server_version).toMatch(/^\d+\.\d+\.\d+-MariaDB/);
    // ssl-mode=PREFERRED (the default) stays plain when the server offers no TLS; REQUIRED refuses.
    const required = await open(withUrl((u) => u.searchParams.set("ssl-mode", "REQUIRED"))).test();
    expect([required.ok, required.error?.code]).toEqual([false, "tls_failed"]);
  });

  it("describes a model's columns with their SQL type names, and refuses a repeated name", async () => {
    const table = await awkwardTable();
    expect(await open().describe(`SELECT id, s, big, dec1, dt, ts, flag, j, bin, bits, e, st FROM ${table}`)).toEqual([
      { name: "id", type: "int" },
      { name: "s", type: "varchar" },
      { name: "big", type: "bigint unsigned" },
      { name: "dec1", type: "decimal" },
      { name: "dt", type: "datetime(6)" },
      { name: "ts", type: "timestamp(3)" },
      { name: "flag", type: "tinyint(1)" },
      { name: "j", type: "json" },
      { name: "bin", type: "varbinary" },
      { name: "bits", type: "bit(12)" },
      { name: "e", type: "enum" },
      { name: "st", type: "set" },
    ]);
    const repeated = await warehouseError(open().describe("SELECT 1 AS a, 2 AS b, 3 AS `a`"));
    expect(repeated.code).toBe("query_failed");
  });

  it("previews awkward values as JSON: NULL vs '', exact decimals, zones, booleans, JSON, binary, bit, enum, set", async () => {
    const table = await awkwardTable();
    const preview = await open().preview(`SELECT * FROM ${table} ORDER BY id`, 10);
    expect(preview.rows).toEqual([
      {
        id: 1,
        ...Object.fromEntries(
          ["s", "tiny", "big", "f", "d", "dec1", "day", "dt", "ts", "flag", "j", "bin", "bl", "bits", "e", "tm", "yr"].map((c) => [
            c,
            null,
          ]),
        ),
        st: null,
      },
      {
        id: 2,
        s: "",
        tiny: 0,
        big: "0",
        f: 0,
        d: -0.5,
        dec1: "0.0000000000",
        day: "1970-01-01",
        dt: "1970-01-01T00:00:00.000000",
        ts: "1970-01-02T00:00:00.000Z",
        flag: false,
        j: {},
        bin: "\\x",
        bl: "\\x",
        bits: 0,
        e: "red",
        st: [],
        tm: "00:00:00",
        yr: 1901,
      },
      {
        id: 3,
        s: AWKWARD,
        tiny: -128,
        big: "18446744073709551615",
        f: 0.1,
        d: 1.5e300,
        dec1: "-12345678901234567890.0123456789",
        day: "2024-02-29",
        dt: "2024-12-31T23:59:59.999999",
        ts: "2024-01-02T03:04:05.678Z",
        flag: true,
        j: { a: { y: 12345678901234567000, z: null }, b: [1, 2.5, "x\ty"] },
        bin: "\\x00ff0a5c",
        bl: "\\xdeadbeef",
        bits: 0b101010101010,
        e: "green",
        st: ["a", "c"],
        tm: "-838:59:59",
        yr: 2155,
      },
    ]);
    expect((await open().preview(`SELECT * FROM ${table}`, 1)).rows).toHaveLength(1);
  });

  it("extracts canonical COPY text: strings byte for byte as Postgres' COPY, JSON with sorted keys and numbers as written", async () => {
    const table = await awkwardTable();
    const lines = await extractLines(open(), `SELECT id, s FROM ${table} ORDER BY id`);
    expect(lines.map((l) => decodeRow(l.slice(0, -1), 2))).toEqual([
      ["1", null],
      ["2", ""],
      ["3", AWKWARD],
    ]);
    // Postgres text holds no NUL: compare the rest with what COPY sends.
    const withoutNul = await extractLines(open(), `SELECT id, REPLACE(s, CHAR(0), '') AS s FROM ${table} ORDER BY id`);
    const fromPostgres = await extractLines(
      openSource("postgres", WAREHOUSE_URL, opts),
      `SELECT * FROM (VALUES (1, NULL::text), (2, ''), (3, ${pgLiteral(AWKWARD.replace("\0", ""))})) AS t(id, s) ORDER BY id`,
    );
    expect(withoutNul).toEqual(fromPostgres);

    const [json] = await extractLines(open(), `SELECT j, bin, bits, ts, flag FROM ${table} WHERE id = 3`);
    expect(json).toBe(
      '{"a":{"y":12345678901234567890,"z":null},"b":[1,2.50,"x\\\\ty"]}\t\\\\x00ff0a5c\t2730\t2024-01-02 03:04:05.678\t1\n',
    );
  });

  it("hashes JSON alike whatever its key order and spacing (MariaDB keeps JSON as written)", async () => {
    const table = uniqueName("myjson");
    await my(
      `CREATE TABLE ${DB}.${table} (id INT PRIMARY KEY, j JSON)`,
      `INSERT INTO ${DB}.${table} VALUES (1, '{"b":1,"a":[{"d":2,"c":"\\\\u00e9"}]}'), (2, '{ "a" : [ { "c" : "é", "d" : 2 } ], "b" : 1 }')`,
    );
    const lines = await extractLines(open(), `SELECT j FROM ${table} ORDER BY id`);
    expect(lines[0]).toBe('{"a":[{"c":"é","d":2}],"b":1}\n');
    expect(lines[1]).toBe(lines[0]);
  });

  it("streams many rows with bounded reads and a slow handler, the same lines every run", async () => {
    const table = uniqueName("mymany");
    await my(
      `CREATE TABLE ${DB}.${table} (id INT PRIMARY KEY, v VARCHAR(40))`,
      `INSERT INTO ${DB}.${table} SELECT seq, CONCAT('v\\t', seq) FROM seq_1_to_50000`,
    );
    const sql = `SELECT id, v FROM ${table} ORDER BY id`;
    let rows = 0;
    let pending = 0;
    let maxPending = 0;
    const extracted = await open().extract(sql, {
      columns: () => ["v", "id"],
      line: async (bytes) => {
        rows++;
        pending++;
        maxPending = Math.max(maxPending, pending);
        if (rows % 10_000 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
        pending--;
        expect(bytes[bytes.length - 1]).toBe(0x0a);
      },
    });
    expect(extracted.rows).toBe(50_000);
    expect(extracted.fields.map((f) => f.name)).toEqual(["id", "v"]);
    expect(rows).toBe(50_000);
    expect(maxPending).toBe(1);
    const first = await extractLines(open(), sql);
    expect(first[6]).toBe("7\tv\\t7\n");
    expect(await extractLines(open(), sql)).toEqual(first);
    // InnoDB's estimate is a sample, not a count.
    const estimate = await open().estimateRows(`SELECT * FROM ${table}`);
    expect(estimate).toBeGreaterThan(25_000);
    expect(estimate).toBeLessThan(100_000);
  });

  it("refuses a model that writes: the SQL guard first, then the server's read-only transaction", async () => {
    const table = await awkwardTable();
    const guarded = await warehouseError(open().describe(`INSERT INTO ${table} (id) VALUES (9)`));
    expect([guarded.code, guarded.kind]).toEqual(["read_only", "user"]);
    expect((await warehouseError(open().preview(`DROP TABLE ${table}`, 1))).code).toBe("read_only");
    // An executable comment is SQL to the server, so the guard reads it as SQL.
    expect((await warehouseError(open().describe(`/*! DELETE FROM ${table} */`))).code).toBe("read_only");
    // One statement per query: a second is a syntax error, not run.
    expect((await warehouseError(open().describe(`SELECT 1; DELETE FROM ${table}`))).code).toBe("query_failed");
    expect((await warehouseError(open().describe(`SELECT * FROM ${table} INTO OUTFILE '/tmp/${table}'`))).code).toBe("query_failed");
    // Past the guard, a query whose function writes is stopped by START TRANSACTION READ ONLY.
    const fn = uniqueName("mywrite");
    await my(`CREATE FUNCTION ${DB}.${fn}() RETURNS INT MODIFIES SQL DATA BEGIN DELETE FROM ${DB}.${table}; RETURN 1; END`);
    const admin = await warehouseError(open(MYSQL_ADMIN_URL).preview(`SELECT ${fn}() AS x`, 1));
    expect([admin.code, admin.kind]).toEqual(["read_only", "user"]);
    expect((await open().preview(`SELECT COUNT(*) AS n FROM ${table}`, 1)).rows).toEqual([{ n: "3" }]);
  });

  it("stops a statement at the timeout (max_statement_time on MariaDB)", async () => {
    const slow = open(MYSQL_URL, { ...opts, statementTimeoutMs: 1000 });
    const started = Date.now();
    const err = await warehouseError(
      slow.extract("SELECT COUNT(*) AS n FROM seq_1_to_100000 a, seq_1_to_100000 b", { columns: () => ["n"], line: () => {} }),
    );
    expect([err.code, err.kind]).toEqual(["timeout", "retryable"]);
    expect(Date.now() - started).toBeLessThan(8000);
  });

  it("classifies failures: wrong password, unknown database, no privilege, connection limit, unreachable, bad SQL", async () => {
    const wrong = open(withUrl((u) => (u.password = "wrong-password")));
    const tested = await wrong.test();
    expect([tested.ok, tested.error?.code]).toEqual([false, "auth_failed"]);
    const err = await warehouseError(wrong.describe("SELECT 1"));
    expect([err.code, err.kind]).toEqual(["auth_failed", "auth"]);
    const nodb = await open(withUrl((u) => (u.pathname = "/retl_no_such_db"))).test();
    // The reader may not see a database it has no grant on: MariaDB answers "access denied" then.
    expect(["database_not_found", "auth_failed"]).toContain(nodb.error?.code);
    const adminNodb = await open(MYSQL_ADMIN_URL.replace(/\/[^/]*$/, "/retl_no_such_db")).test();
    expect(adminNodb.error?.code).toBe("database_not_found");
    const denied = await warehouseError(open().describe("SELECT user FROM mysql.user"));
    expect([denied.code, denied.kind]).toEqual(["permission_denied", "user"]);
    // A user's connection limit reached (as "too many connections"): try again later.
    await my("CREATE USER IF NOT EXISTS 'retl_mysql_one'@'127.0.0.1' IDENTIFIED BY 'one-pw' WITH MAX_USER_CONNECTIONS 1");
    const one = "mysql://retl_mysql_one:one-pw@127.0.0.1:3306";
    const holder = await MysqlConnection.open(parseConnectionString(one), 10_000);
    try {
      const full = await warehouseError(open(one).describe("SELECT 1"));
      expect([full.code, full.kind, full.message]).toEqual(["unreachable", "retryable", expect.stringMatching(/max_user_connections/)]);
    } finally {
      await holder.close();
    }
    // MariaDB counts the closed connection out a moment later (more so on a loaded machine).
    let freed = await open(one).test();
    for (let i = 0; i < 50 && !freed.ok; i++) {
      await new Promise((r) => setTimeout(r, 100));
      freed = await open(one).test();
    }
    expect(freed, JSON.stringify(freed)).toMatchObject({ ok: true });
    const closed = await warehouseError(open(withUrl((u) => (u.port = "1"))).describe("SELECT 1"));
    expect([closed.code, closed.kind]).toEqual(["unreachable", "retryable"]);
    const bad = await warehouseError(open().describe("SELECT no_such_column"));
    expect([bad.code, bad.kind]).toEqual(["query_failed", "user"]);
    const badUrl = await open("mysql://retl@127.0.0.1/db?sslmode=sometimes").test();
    expect(badUrl.error?.code).toBe("invalid_connection_string");
    // Without ALLOW_PRIVATE_DESTINATIONS the SSRF guard refuses a loopback host before connecting.
    const guarded = await open(MYSQL_URL, { ...opts, allowPrivate: false }).test();
    expect(guarded.error?.code).toBe("host_not_allowed");
  });

  it("is created through the API with the connection string masked; a bad URL is a 400 naming the field", async () => {
    const created = await api.post("/api/v1/sources", { body: { name: "my", type: "mysql", connection_string: MYSQL_URL } });
    expectStatus(created, 201);
    expect(JSON.stringify(created.body)).not.toContain("reader-pw");
    const tested = await api.post(`/api/v1/sources/${created.body.id}/test`);
    expect(tested.body).toMatchObject({ ok: true });
    const bad = await api.post("/api/v1/sources", { body: { name: "my", type: "mysql", connection_string: "postgres://x@y/z" } });
    expectStatus(bad, 400);
    expect(JSON.stringify(bad.body)).toContain("connection_string");
  });

  for (const mode of ["upsert", "mirror", "append"] as const) {
    it(`syncs a MySQL model to the webhook in ${mode} mode; a no-change run sends nothing`, async () => {
      const { table, syncId, endpoint } = await mysqlSync(mode);
      const first = await runSync(syncId);
      expect(first, JSON.stringify(first)).toMatchObject({ status: "succeeded", rows_processed: 200, rows_created: 200, rows_failed: 0 });
      const before = await mysqlRows(table);
      expect(webhookRows(await webhookState(endpoint))).toEqual(before);

      const state = await webhookState(endpoint);
      const unchanged = await runSync(syncId);
      expect(unchanged).toMatchObject({ status: "succeeded", rows_created: 0, rows_updated: 0, rows_deleted: 0, rows_unchanged: 200 });
      expect((await webhookState(endpoint)).operations).toBe(state.operations);

      await my(
        `INSERT INTO ${DB}.${table} VALUES ('new1', 'n1@example.com', 'New\\tone', 'free', 1), ('new2', NULL, 'New two', 'pro', 2)`,
        `UPDATE ${DB}.${table} SET plan = 'enterprise', score = score + 1000 WHERE id IN ('11', '12', '13')`,
        `DELETE FROM ${DB}.${table} WHERE id IN ('31', '32')`,
      );
      const after = await mysqlRows(table);
      const changed = await runSync(syncId);
      expect(changed.status).toBe("succeeded");
      expect(changed.rows_created).toBe(2);
      expect(changed.rows_updated).toBe(mode === "append" ? 0 : 3);
      expect(changed.rows_deleted).toBe(mode === "mirror" ? 2 : 0);
      expect(webhookRows(await webhookState(endpoint))).toEqual(expectedRows(mode, before, after));
    });
  }

  it("puts the sync in error at once when MySQL refuses the credentials", async () => {
    const { syncId } = await mysqlSync("upsert", { schedule: { type: "interval", interval_minutes: 30 } });
    const sync = await api.get(`/api/v1/syncs/${syncId}`);
    const model = await api.get(`/api/v1/models/${sync.body.model_id}`);
    const badPassword = withUrl((u) => (u.password = "not-the-password"));
    expectStatus(await api.put(`/api/v1/sources/${model.body.source_id}`, { body: { connection_string: badPassword } }), 200);
    const run = await runSync(syncId);
    expect(run.status).toBe("failed");
    expect(run.error?.code).toBe("auth_failed");
    const after = await api.get(`/api/v1/syncs/${syncId}`);
    expect(after.body).toMatchObject({ status: "error", next_run_at: null });
    expect(after.body.status_reason).toMatch(/Access denied/);
  });

  it("maps type ids to JSON", () => {
    const plugin = sourcePlugin("mysql");
    expect(plugin.jsonValue(1, "255")).toBe(255);
    expect(plugin.jsonValue(2, "9007199254740993")).toBe("9007199254740993");
    expect(plugin.jsonValue(8, "1")).toBe(true);
    expect(plugin.jsonValue(12, "a,b")).toEqual(["a", "b"]);
  });
});

/** A customers table in MySQL (200 rows), a source and model on it as the reader, a webhook destination and a manual sync. */
async function mysqlSync(mode: Mode, sync: Record<string, unknown> = {}) {
  const table = uniqueName("mysync");
  await my(
    `CREATE TABLE ${DB}.${table} (id VARCHAR(20) PRIMARY KEY, email VARCHAR(100), name VARCHAR(100), plan VARCHAR(20), score INT)`,
    `INSERT INTO ${DB}.${table} SELECT seq, IF(seq % 7 = 0, NULL, CONCAT('user', seq, '@example.com')), CONCAT('Name\\t', seq),
      IF(seq % 3 = 0, 'pro', 'free'), seq FROM seq_1_to_200`,
  );
  const source = await api.post("/api/v1/sources", { body: { name: "my", type: "mysql", connection_string: MYSQL_URL } });
  expectStatus(source, 201);
  const model = await api.post("/api/v1/models", {
    body: { name: table, source_id: source.body.id, sql: `SELECT id, email, name, plan, score FROM ${table}`, primary_key: "id" },
  });
  expectStatus(model, 201);
  const destinationId = await createDestination({ name: "receiver", type: "webhook", config: { url: webhookUrl(table), batch_size: 50 } });
  const syncId = await createSync(model.body.id, destinationId, mode, WEBHOOK_FIELDS, sync);
  return { table, syncId, endpoint: table };
}

/** The table's rows as text values keyed by id (the harness' {@link Rows}), read through the source itself. */
async function mysqlRows(table: string): Promise<Rows> {
  const preview = await openSource("mysql", MYSQL_URL, opts).preview(`SELECT id, email, name, plan, score FROM ${table}`, 10_000);
  const text = (v: unknown) => (v === null || v === "" ? null : String(v));
  return Object.fromEntries(
    preview.rows.map((r) => [String(r.id), { email: text(r.email), name: text(r.name), plan: text(r.plan), score: text(r.score) }]),
  );
}

/** A Postgres E'' literal of a string. */
function pgLiteral(s: string): string {
  const escapes: Record<string, string> = {
    "\\": "\\\\",
    "'": "\\'",
    "\t": "\\t",
    "\n": "\\n",
    "\r": "\\r",
    "\b": "\\b",
    "\f": "\\f",
    "\v": "\\x0b",
  };
  return `E'${s.replace(/[\\'\t\n\r\b\f\v]/g, (c) => escapes[c] ?? c)}'`;
}
