import { describe, expect, it } from "vitest";
import { decodeRow } from "../../../src/engine/row";
import { clickhouseRequest } from "../../../src/sources/clickhouse/http";
import { openSource, sourcePlugin } from "../../../src/sources/registry";
import type { Source, WarehouseOptions } from "../../../src/sources/source";
import { api, expectStatus, WAREHOUSE_URL } from "../../harness";
import { createDestination, createSync, runSync, uniqueName, WEBHOOK_FIELDS, webhookState, webhookUrl } from "../../harness/run";
import { CLICKHOUSE_URL, ch, clickhouseSource, clickhouseUp, warehouseError } from "./helpers";

const opts: WarehouseOptions = { statementTimeoutMs: 10_000, allowPrivate: true };
const open = (password = "", o: WarehouseOptions = opts): Source => {
  const s = clickhouseSource(password);
  return openSource("clickhouse", JSON.stringify({ ...s.config, ...s.credentials }), o);
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

// A string with everything COPY text escapes, a quote (which ClickHouse escapes and COPY does not) and a vertical tab (the reverse).
const AWKWARD = "tab\there\nnew line\\back slash 'quote' \v vt\r\b\f";

/** A fresh table of awkward values: NULL vs '', escapes, floats, decimals, dates, DateTime, arrays, UInt64. */
async function awkwardTable(): Promise<string> {
  const table = uniqueName("awk");
  await ch(
    `CREATE TABLE default.${table} (id String, s Nullable(String), f Float64, d Decimal(18, 4), day Date, ts DateTime, ` +
      `tsu DateTime('UTC'), arr Array(Nullable(String)), nums Array(Int32), big UInt64, flag UInt8) ENGINE = MergeTree ORDER BY id`,
  );
  await ch(
    `INSERT INTO default.${table} FORMAT JSONEachRow\n${[
      {
        id: "1",
        s: null,
        f: -2.5,
        d: -0.0001,
        day: "1970-01-02",
        ts: "2024-01-02 03:04:05",
        tsu: "2024-01-02 03:04:05",
        arr: [],
        nums: [],
        big: 0,
        flag: 0,
      },
      {
        id: "2",
        s: "",
        f: 1.5e300,
        d: 0,
        day: "2024-02-29",
        ts: "2024-12-31 23:59:59",
        tsu: "2024-12-31 23:59:59",
        arr: [null],
        nums: [-1],
        big: 1,
        flag: 1,
      },
      {
        id: "3",
        s: AWKWARD,
        f: 0.1,
        d: 1.25,
        day: "2024-02-29",
        ts: "2024-01-02 03:04:05",
        tsu: "2024-01-02 03:04:05",
        arr: ["a\tb", null, "it's", "back\\slash", "[x,y]"],
        nums: [1, 2],
        big: "18446744073709551615",
        flag: 1,
      },
    ]
      .map((row) => JSON.stringify(row))
      .join("\n")}`,
  );
  return table;
}

describe.skipIf(!clickhouseUp)("ClickHouse source (local clickhouse-server)", () => {
  it("tests the connection and reports the server version", async () => {
    const tested = await open().test();
    expect(tested, JSON.stringify(tested)).toMatchObject({ ok: true });
    expect(tested.server_version).toMatch(/^\d+\.\d+/);
  });

  it("describes a model's columns as ClickHouse names them, and refuses a repeated name", async () => {
    const table = await awkwardTable();
    expect(await open().describe(`SELECT id, s, tsu, arr FROM default.${table}`)).toEqual([
      { name: "id", type: "String" },
      { name: "s", type: "Nullable(String)" },
      { name: "tsu", type: "DateTime('UTC')" },
      { name: "arr", type: "Array(Nullable(String))" },
    ]);
    const repeated = await warehouseError(open().describe("SELECT 1 AS a, 2 AS b, 3 AS `a`"));
    expect(repeated.code).toBe("query_failed");
  });

  it("previews awkward values as JSON: NULL vs '', escapes, floats, decimals, dates, DateTime, arrays, UInt64", async () => {
    const table = await awkwardTable();
    const preview = await open().preview(`SELECT * FROM default.${table} ORDER BY id`, 10);
    expect(preview.rows).toEqual([
      {
        id: "1",
        s: null,
        f: -2.5,
        d: "-0.0001",
        day: "1970-01-02",
        ts: "2024-01-02T03:04:05",
        tsu: "2024-01-02T03:04:05Z",
        arr: [],
        nums: [],
        big: "0",
        flag: 0,
      },
      {
        id: "2",
        s: "",
        f: 1.5e300,
        d: "0.0000",
        day: "2024-02-29",
        ts: "2024-12-31T23:59:59",
        tsu: "2024-12-31T23:59:59Z",
        arr: [null],
        nums: [-1],
        big: "1",
        flag: 1,
      },
      {
        id: "3",
        s: AWKWARD,
        f: 0.1,
        d: "1.2500",
        day: "2024-02-29",
        ts: "2024-01-02T03:04:05",
        tsu: "2024-01-02T03:04:05Z",
        arr: ["a\tb", null, "it's", "back\\slash", "[x,y]"],
        nums: [1, 2],
        big: "18446744073709551615",
        flag: 1,
      },
    ]);
    expect((await open().preview(`SELECT * FROM default.${table}`, 1)).rows).toHaveLength(1);
  });

  it("extracts canonical COPY text: a string's line is byte for byte what Postgres' COPY sends for it", async () => {
    const table = await awkwardTable();
    const lines = await extractLines(open(), `SELECT id, s FROM default.${table} ORDER BY id`);
    expect(lines.map((l) => decodeRow(l.slice(0, -1), 2))).toEqual([
      ["1", null],
      ["2", ""],
      ["3", AWKWARD],
    ]);
    const postgres = openSource("postgres", WAREHOUSE_URL, opts);
    const fromPostgres = await extractLines(
      postgres,
      `SELECT * FROM (VALUES ('1', NULL::text), ('2', ''), ('3', ${pgLiteral(AWKWARD)})) AS t(id, s) ORDER BY id`,
    );
    expect(lines).toEqual(fromPostgres);

    // Arrays keep ClickHouse's literal text (escaped once more as COPY text); jsonValue reads it back.
    const [arrays] = await extractLines(open(), `SELECT arr FROM default.${table} WHERE id = '3'`);
    const [raw] = decodeRow((arrays ?? "").slice(0, -1), 1);
    expect(raw).toBe("['a\\tb',NULL,'it\\'s','back\\\\slash','[x,y]']");
    const arrType = (await open().describe(`SELECT arr FROM default.${table}`))[0];
    expect(arrType?.type).toBe("Array(Nullable(String))");
  });

  it("hands runs of plain lines to a handler's lines(), in row order with the converted ones, as line() gets them", async () => {
    const table = uniqueName("batch");
    await ch(`CREATE TABLE default.${table} (id UInt32, v String) ENGINE = MergeTree ORDER BY id`);
    // Every 1000th value needs converting (a quote ClickHouse escapes and COPY does not), and the next (a vertical
    // tab); the one after starts its line like ClickHouse's exception text; the rest pass as they are.
    await ch(
      `INSERT INTO default.${table} SELECT toUInt32(number), multiIf(number % 1000 = 0, concat('it\\'s ', toString(number)), number % 1000 = 1, concat('v\\x0B', toString(number)), number % 1000 = 2, concat('Code: ', toString(number)), concat('x', toString(number))) FROM system.numbers LIMIT 60000`,
    );
    const sql = `SELECT v, id FROM default.${table} ORDER BY id`;
    const byLine = await extractLines(open(), sql);
    const decoder = new TextDecoder();
    const got: string[] = [];
    let calls = 0;
    let many = 0;
    const extracted = await open().extract(sql, {
      columns: () => ["v", "id"],
      line: (bytes) => {
        calls++;
        got.push(decoder.decode(bytes));
      },
      lines: async (bytes) => {
        calls++;
        many++;
        const text = decoder.decode(bytes);
        expect(text.endsWith("\n")).toBe(true);
        const split = text
          .slice(0, -1)
          .split("\n")
          .map((l) => `${l}\n`);
        got.push(...split);
        if (many % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
        return split.length;
      },
    });
    expect(byLine).toHaveLength(60_000);
    expect(byLine.slice(999, 1003)).toEqual(["x999\t999\n", "it's 1000\t1000\n", "v\\v1001\t1001\n", "Code: 1002\t1002\n"]);
    expect(got).toEqual(byLine);
    expect(extracted.rows).toBe(60_000);
    // Mostly buffers of many lines: a call for each of the 180 lines that need care, and the runs between them.
    expect(many).toBeGreaterThan(10);
    expect(calls).toBeLessThan(1000);
  });

  it("gives the same lines on every run (stable hashes) and streams many rows with a slow handler", async () => {
    const table = uniqueName("many");
    await ch(`CREATE TABLE default.${table} (id UInt32, v String) ENGINE = MergeTree ORDER BY id`);
    await ch(`INSERT INTO default.${table} SELECT toUInt32(number), concat('v\\t', toString(number)) FROM system.numbers LIMIT 50000`);
    const sql = `SELECT id, v FROM default.${table} ORDER BY id`;
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
    expect(rows).toBe(50_000);
    expect(maxPending).toBe(1);
    const first = await extractLines(open(), sql);
    expect(first[7]).toBe("7\tv\\t7\n");
    expect(await extractLines(open(), sql)).toEqual(first);
    expect(await open().estimateRows(`SELECT * FROM default.${table}`)).toBe(50_000);
  });

  it("refuses a model that writes: the SQL guard first, and readonly=1 at the server", async () => {
    const table = await awkwardTable();
    const guarded = await warehouseError(open().describe(`INSERT INTO default.${table} (id) VALUES ('x')`));
    expect([guarded.code, guarded.kind]).toEqual(["read_only", "user"]);
    const dropped = await warehouseError(open().preview(`DROP TABLE default.${table}`, 1));
    expect(dropped.code).toBe("read_only");
    // Past the guard, the server refuses too (every statement carries readonly=1).
    const s = clickhouseSource();
    const server = await warehouseError(
      clickhouseRequest({ ...s.config, ...s.credentials }, `CREATE TABLE default.${table}_2 (x UInt8) ENGINE = Memory`, opts),
    );
    expect([server.code, server.kind]).toEqual(["read_only", "user"]);
    expect(await ch(`EXISTS TABLE default.${table}_2`)).toBe("0\n");
    const second = await warehouseError(open().describe("SELECT 1; DROP TABLE x"));
    expect(second.code).toBe("query_failed");
  });

  it("stops a statement at the timeout (max_execution_time)", async () => {
    const slow = open("", { ...opts, statementTimeoutMs: 1000 });
    const err = await warehouseError(slow.extract("SELECT count() FROM system.numbers", { columns: () => ["count()"], line: () => {} }));
    expect([err.code, err.kind]).toEqual(["timeout", "retryable"]);
    // An estimate that would take too long is "unknown", not a failure.
    expect(await slow.estimateRows("SELECT number FROM system.numbers")).toBe(0);
  });

  it("reports a wrong password as an auth failure, and a missing server as unreachable", async () => {
    const wrong = open("wrong-password");
    const tested = await wrong.test();
    expect([tested.ok, tested.error?.code]).toEqual([false, "auth_failed"]);
    const err = await warehouseError(wrong.describe("SELECT 1"));
    expect([err.code, err.kind]).toEqual(["auth_failed", "auth"]);
    const missing = JSON.stringify({ url: "http://127.0.0.1:1", database: "default", username: "default", password: "" });
    const closed = await warehouseError(openSource("clickhouse", missing, opts).describe("SELECT 1"));
    expect([closed.code, closed.kind]).toEqual(["unreachable", "retryable"]);
    const nodb = JSON.stringify({ url: CLICKHOUSE_URL, database: "no_such_db", username: "default", password: "" });
    expect((await openSource("clickhouse", nodb, opts).test()).error?.code).toBe("database_not_found");
    const bad = await warehouseError(open().describe("SELECT no_such_column"));
    expect([bad.code, bad.kind]).toEqual(["query_failed", "user"]);
  });

  it("is created through the API with config returned and the password never returned", async () => {
    const created = await api.post("/api/v1/sources", { body: { name: "ch", type: "clickhouse", ...clickhouseSource("s3cret-pw") } });
    expectStatus(created, 201);
    expect(created.body.config).toEqual({ url: CLICKHOUSE_URL, database: "default", username: "default" });
    expect(JSON.stringify(created.body)).not.toContain("s3cret-pw");
    const updated = await api.put(`/api/v1/sources/${created.body.id}`, { body: { credentials: { password: "" } } });
    expectStatus(updated, 200);
    expect(updated.body.config).toEqual(created.body.config);
    const tested = await api.post(`/api/v1/sources/${created.body.id}/test`);
    expect(tested.body).toMatchObject({ ok: true });
    const renamed = await api.put(`/api/v1/sources/${created.body.id}`, { body: { config: { database: "system" } } });
    expect(renamed.body.config).toEqual({ url: CLICKHOUSE_URL, database: "system", username: "default" });
    const postgres = await api.post("/api/v1/sources", { body: { name: "pg", type: "postgres", connection_string: WAREHOUSE_URL } });
    expectStatus(postgres, 201);
    expect(postgres.body.config).toEqual({});
  });

  it("syncs a ClickHouse model to the webhook end to end; a no-change run sends nothing", async () => {
    const table = uniqueName("chsync");
    await ch(
      `CREATE TABLE default.${table} (id String, email Nullable(String), name String, plan String, score Int32) ENGINE = MergeTree ORDER BY id`,
    );
    await ch(
      `INSERT INTO default.${table} SELECT toString(number), concat('user', toString(number), '@example.com'), ` +
        `concat('Name\\t', toString(number)), if(number % 3 = 0, 'pro', 'free'), toInt32(number) FROM system.numbers LIMIT 300`,
    );
    const source = await api.post("/api/v1/sources", { body: { name: "ch", type: "clickhouse", ...clickhouseSource() } });
    expectStatus(source, 201);
    const model = await api.post("/api/v1/models", {
      body: { name: table, source_id: source.body.id, sql: `SELECT id, email, name, plan, score FROM default.${table}`, primary_key: "id" },
    });
    expectStatus(model, 201);
    const destinationId = await createDestination({
      name: "receiver",
      type: "webhook",
      config: { url: webhookUrl(table), batch_size: 100 },
    });
    const syncId = await createSync(model.body.id, destinationId, "mirror", WEBHOOK_FIELDS);

    const first = await runSync(syncId);
    expect(first, JSON.stringify(first)).toMatchObject({ status: "succeeded", rows_processed: 300, rows_created: 300, rows_failed: 0 });
    const state = await webhookState(table);
    expect(Object.keys(state.rows)).toHaveLength(300);
    expect(state.rows["7"]).toEqual({ Email: "user7@example.com", Name: "Name\t7", Plan: "free", Score: 7 });

    const second = await runSync(syncId);
    expect(second).toMatchObject({ status: "succeeded", rows_created: 0, rows_updated: 0, rows_deleted: 0, rows_unchanged: 300 });
    expect((await webhookState(table)).operations).toBe(state.operations);

    await ch(`INSERT INTO default.${table} VALUES ('new', NULL, 'New', 'free', 1)`);
    const third = await runSync(syncId);
    expect(third).toMatchObject({ status: "succeeded", rows_created: 1, rows_updated: 0, rows_deleted: 0, rows_unchanged: 300 });
    expect((await webhookState(table)).rows.new).toEqual({ Email: null, Name: "New", Plan: "free", Score: 1 });
  });

  it("maps ClickHouse type names to its own type ids and JSON", () => {
    const plugin = sourcePlugin("clickhouse");
    expect(plugin.jsonValue(1, "255")).toBe(255);
    expect(plugin.jsonValue(1001, "[1,2]")).toEqual([1, 2]);
    expect(plugin.jsonValue(2002, "[['1'],[]]")).toEqual([["1"], []]);
  });
});

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
