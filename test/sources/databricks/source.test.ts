import { describe, expect, it } from "vitest";
import { decodeRow } from "../../../src/engine/row";
import { sourcePlugin } from "../../../src/sources/registry";
import { runStatement } from "../../../src/sources/databricks/statement";
import { openSource } from "../../../src/sources/registry";
import { WAREHOUSE_URL } from "../../harness";
import { pg, uniqueName } from "../../harness/run";
import { configure, extractLines, oauthSettings, open, opts, patSettings, warehouseError, workspace, workspaceState } from "./helpers";

// Everything COPY text escapes, a quote and a vertical tab.
const AWKWARD = "tab\there\nnew line\\back slash 'quote' \v vt\r\b\f";

/** One row of every awkward type (Postgres SQL: the fake runs it there) and one of NULLs. */
const AWKWARD_MODEL = `SELECT * FROM (VALUES
  (1, NULL::text, ''::text, -2.5::float8, 1.5e300::float8, 0.1::float4, 12345678901234567890.1234::numeric(30,4), true,
   '1970-01-02'::date, '2024-01-02 03:04:05.5+02'::timestamptz, '2024-12-31 23:59:59.123456'::timestamp, '\\x00ff'::bytea,
   ARRAY[E'a\\tb', NULL, 'it''s']::text[], ARRAY[9007199254740993]::bigint[], '{"b":1,"a":{"d":2,"c":[1,2]}}'::json,
   '{"zz":1,"a":"x"}'::jsonb, 'NaN'::float8),
  (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
) AS t(id, s, e, f, big, f4, d, b, day, ts, ntz, bin, arr, bigarr, struct, map, nan)`;

describe("Databricks source against the fake workspace", () => {
  it("connects with a personal access token and with OAuth M2M, whose token is asked once and reused", async () => {
    const host = await workspace();
    const pat = await open(patSettings(host)).test();
    expect(pat, JSON.stringify(pat)).toMatchObject({ ok: true });
    expect(pat.server_version).toMatch(/PostgreSQL/);
    const oauth = open(oauthSettings(host));
    expect(await oauth.test()).toMatchObject({ ok: true });
    await oauth.describe("SELECT 1 AS one");
    await extractLines(open(oauthSettings(host)), "SELECT 1 AS one");
    expect((await workspaceState(host)).token_grants).toBe(1);
    // A token revoked before its expiry is refused (401): the source asks for a new one once and goes on.
    expect((await fetch(`${host}/_revoke`, { method: "POST" })).status).toBe(200);
    expect(await extractLines(open(oauthSettings(host)), "SELECT 2 AS two")).toEqual(["2\n"]);
    const { token_grants, requests } = await workspaceState(host);
    expect([token_grants, requests.filter((r) => r.status === 401).length]).toEqual([2, 1]);
  });

  it("describes columns with Databricks' type names, and refuses a repeated name", async () => {
    const host = await workspace();
    const columns = await open(patSettings(host)).describe(AWKWARD_MODEL);
    expect(columns.map((c) => c.type)).toEqual([
      "INT",
      "STRING",
      "STRING",
      "DOUBLE",
      "DOUBLE",
      "FLOAT",
      "DECIMAL(38,18)", // VALUES drops Postgres' typmod: the fake then reports its default
      "BOOLEAN",
      "DATE",
      "TIMESTAMP",
      "TIMESTAMP_NTZ",
      "BINARY",
      "ARRAY<STRING>",
      "ARRAY<BIGINT>",
      "STRUCT<…>",
      "MAP<STRING, STRING>",
      "DOUBLE",
    ]);
    expect(await open(patSettings(host)).describe("SELECT 1.5::numeric(10,2) AS d")).toEqual([{ name: "d", type: "DECIMAL(10,2)" }]);
    // Describing reads no row: the statement the fake ran had LIMIT 0.
    expect((await workspaceState(host)).statements.at(-1)?.sql).toMatch(/\) AS retl_model LIMIT 0$/);
    const repeated = await warehouseError(open(patSettings(host)).describe("SELECT 1 AS a, 2 AS b, 3 AS a"));
    expect(repeated.code).toBe("query_failed");
  });

  it("extracts awkward values as canonical COPY text and previews them as JSON", async () => {
    const host = await workspace();
    const lines = await extractLines(open(patSettings(host)), AWKWARD_MODEL);
    expect(lines.map((l) => decodeRow(l.slice(0, -1), 17))).toEqual([
      [
        "1",
        null,
        "",
        "-2.5",
        "1.5e+300", // sent as Java's 1.5E300
        "0.1",
        "12345678901234567890.1234",
        "true",
        "1970-01-02",
        "2024-01-02T01:04:05.5Z", // sent as 2024-01-02T01:04:05.500Z
        "2024-12-31T23:59:59.123456",
        "AP8=",
        '["a\\tb",null,"it\'s"]',
        "[9007199254740993]", // no precision lost
        '{"a":{"c":[1,2],"d":2},"b":1}', // keys sorted at every level
        '{"a":"x","zz":1}',
        "NaN",
      ],
      ["2", ...new Array<null>(16).fill(null)],
    ]);
    const preview = await open(patSettings(host)).preview(AWKWARD_MODEL, 10);
    expect(preview.rows[0]).toEqual({
      id: 1,
      s: null,
      e: "",
      f: -2.5,
      big: 1.5e300,
      f4: 0.1,
      d: "12345678901234567890.1234",
      b: true,
      day: "1970-01-02",
      ts: "2024-01-02T01:04:05.5Z",
      ntz: "2024-12-31T23:59:59.123456",
      bin: "AP8=",
      arr: ["a\tb", null, "it's"],
      bigarr: [9007199254740992],
      struct: { a: { c: [1, 2], d: 2 }, b: 1 },
      map: { a: "x", zz: 1 },
      nan: "NaN",
    });
    expect(preview.rows[1]?.e).toBeNull();
    expect((await open(patSettings(host)).preview(AWKWARD_MODEL, 1)).rows).toHaveLength(1);
  });

  it("gives a string the bytes Postgres' COPY gives it (a long one arrives cut across network reads)", async () => {
    const host = await workspace();
    const sql = `SELECT * FROM (VALUES ('1', NULL::text), ('2', ''), ('3', ${pgLiteral(AWKWARD)}), ('4', repeat('é€𝄞"\\', 300))) AS t(id, s) ORDER BY id`;
    const fromDatabricks = await extractLines(open(patSettings(host)), sql);
    const fromPostgres = await extractLines(openSource("postgres", WAREHOUSE_URL, opts), sql);
    expect(fromDatabricks).toEqual(fromPostgres);
    expect(decodeRow((fromDatabricks[2] ?? "").slice(0, -1), 2)).toEqual(["3", AWKWARD]);
  });

  it("reads several chunks through presigned links without our Authorization header, one ahead, with a slow handler", async () => {
    const host = await workspace({ chunk_rows: 100 });
    const table = uniqueName("dbx_many");
    await pg(`CREATE TABLE ${table} (id int PRIMARY KEY, v text)`);
    await pg(`INSERT INTO ${table} SELECT g, 'v' || chr(9) || g FROM generate_series(1, 1050) g`);
    await pg(`ANALYZE ${table}`);
    const sql = `SELECT id, v FROM ${table} ORDER BY id`;
    let rows = 0;
    let pending = 0;
    let maxPending = 0;
    let aheadWhileOnChunk1: number[] = [];
    const extracted = await open(patSettings(host)).extract(sql, {
      columns: () => ["v", "id"],
      line: async (bytes) => {
        rows++;
        pending++;
        maxPending = Math.max(maxPending, pending);
        if (rows % 100 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
        // Halfway through chunk 1, chunk 2 is already requested (its body waits unread).
        if (rows === 150) {
          await new Promise((resolve) => setTimeout(resolve, 300));
          aheadWhileOnChunk1 = (await workspaceState(host)).downloads.map((d) => d.chunk);
        }
        pending--;
        expect(bytes[bytes.length - 1]).toBe(0x0a);
      },
    });
    expect([extracted.rows, rows, maxPending]).toEqual([1050, 1050, 1]);
    expect(aheadWhileOnChunk1).toEqual([0, 1, 2]);
    const { downloads, requests } = await workspaceState(host);
    expect(downloads.map((d) => d.chunk)).toEqual(Array.from({ length: 11 }, (_, i) => i));
    expect(downloads.every((d) => d.status === 200 && !d.authorization)).toBe(true);
    // Chunk 1 and later are reached through next_chunk_internal_link.
    expect(requests.filter((r) => /\/result\/chunks\/\d+$/.test(r.path))).toHaveLength(10);
    const lines = await extractLines(open(patSettings(host)), sql);
    expect(lines[6]).toBe("7\tv\\t7\n");
    expect(await extractLines(open(patSettings(host)), sql)).toEqual(lines);
    expect(await open(patSettings(host)).estimateRows(`SELECT * FROM ${table}`)).toBe(1050);
  });

  it("storage refuses a request carrying an Authorization header; an expired link is asked again", async () => {
    const host = await workspace({ expire_links: 1 });
    const settings = patSettings(host);
    const result = await runStatement(settings, opts, "SELECT 1 AS one");
    expect(result.fields).toEqual([{ name: "one", type: "INT", typeId: 1 }]);
    const linkRes = await fetch(`${host}/api/2.0/sql/statements/${result.statementId}/result/chunks/0`, {
      headers: { authorization: "Bearer dapi-test-token" },
    });
    const link = ((await linkRes.json()) as { external_links: { external_link: string }[] }).external_links[0]?.external_link ?? "";
    const withAuth = await fetch(link, { headers: { authorization: "Bearer dapi-test-token" } });
    expect(withAuth.status).toBe(400);
    expect(await withAuth.text()).toMatch(/Only one auth mechanism allowed/);
    // The first download is refused as expired (403): the source asks for a fresh link and reads on.
    expect(await extractLines(open(settings), "SELECT 2 AS two")).toEqual(["2\n"]);
    const downloads = (await workspaceState(host)).downloads.map((d) => d.status);
    expect(downloads).toEqual([400, 403, 200]);
  });

  it("polls a statement while the warehouse starts, and retries 429 after Retry-After", async () => {
    const host = await workspace({ pending_ms: 600, throttle: 3 });
    // Below 7 s of statement timeout the POST asks wait_timeout 0s: it answers PENDING and the source polls.
    const source = open(patSettings(host), { ...opts, statementTimeoutMs: 4000 });
    expect(await extractLines(source, "SELECT 'a' AS x")).toEqual(["a\n"]);
    const { requests } = await workspaceState(host);
    expect(requests.filter((r) => r.status === 429)).toHaveLength(3);
    const polls = requests.filter((r) => r.method === "GET" && /\/sql\/statements\/[^/]+$/.test(r.path) && r.status === 200);
    expect(polls.length).toBeGreaterThanOrEqual(2);
  });

  it("cancels a statement at the statement timeout", async () => {
    const host = await workspace();
    const slow = open(patSettings(host), { ...opts, statementTimeoutMs: 1500 });
    const started = Date.now();
    const err = await warehouseError(extractLines(slow, "SELECT 1 AS id FROM pg_sleep(5)"));
    expect([err.code, err.kind]).toEqual(["timeout", "retryable"]);
    expect(Date.now() - started).toBeLessThan(4000);
    const { statements, requests } = await workspaceState(host);
    expect(statements.at(-1)?.state).toBe("CANCELED");
    expect(requests.some((r) => r.method === "POST" && r.path.endsWith("/cancel"))).toBe(true);
  });

  it("refuses a model that writes: the guard, the subquery it runs in, and the principal's grants", async () => {
    const host = await workspace();
    const table = uniqueName("dbx_ro");
    await pg(`CREATE TABLE ${table} (id int)`);
    await pg(`INSERT INTO ${table} VALUES (1), (2)`);
    const guarded = await warehouseError(open(patSettings(host)).describe(`INSERT INTO ${table} VALUES (3)`));
    expect([guarded.code, guarded.kind]).toEqual(["read_only", "user"]);
    expect((await workspaceState(host)).statements).toHaveLength(0);
    // A write hidden in a query cannot run inside the subquery every statement wraps the model in.
    const hidden = await warehouseError(
      open(patSettings(host)).preview(`WITH gone AS (DELETE FROM ${table} RETURNING *) SELECT * FROM gone`, 5),
    );
    expect(hidden.code).toBe("query_failed");
    // Past the guard and the wrapping, a SELECT-only principal is refused by the warehouse.
    const server = await warehouseError(runStatement(patSettings(host), opts, `DELETE FROM ${table}`));
    expect([server.code, server.kind, server.sqlstate]).toEqual(["permission_denied", "user", "42501"]);
    expect((await open(patSettings(host)).preview(`SELECT count(*) AS n FROM ${table}`, 1)).rows).toEqual([{ n: "2" }]);
    const second = await warehouseError(open(patSettings(host)).describe("SELECT 1; DROP TABLE x"));
    expect(second.code).toBe("query_failed");
  });

  it("reports refused credentials as auth, an unknown warehouse as not found and a bad model as the model's fault", async () => {
    const host = await workspace();
    const wrong = open(patSettings(host, "dapi-wrong"));
    expect(await wrong.test()).toMatchObject({ ok: false, error: { code: "auth_failed" } });
    const err = await warehouseError(wrong.describe("SELECT 1"));
    expect([err.code, err.kind]).toEqual(["auth_failed", "auth"]);
    expect(err.message).toMatch(/UNAUTHENTICATED/);
    const badSecret = await warehouseError(open(oauthSettings(host, "wrong")).describe("SELECT 1"));
    expect([badSecret.code, badSecret.kind, badSecret.message]).toEqual(["auth_failed", "auth", expect.stringMatching(/invalid_client/)]);
    const noWarehouse = await warehouseError(open({ ...patSettings(host), warehouse_id: "wh-gone" }).describe("SELECT 1"));
    expect([noWarehouse.code, noWarehouse.kind]).toEqual(["database_not_found", "auth"]);
    const bad = await warehouseError(open(patSettings(host)).describe("SELECT no_such_column"));
    expect([bad.code, bad.kind, bad.message]).toEqual(["query_failed", "user", expect.stringMatching(/UNRESOLVED_COLUMN/)]);
    await configure(host, { max_rows: 2 });
    const cut = await warehouseError(extractLines(open(patSettings(host)), "SELECT g AS n FROM generate_series(1, 3) g"));
    expect([cut.code, cut.message]).toEqual(["query_failed", expect.stringMatching(/truncated/)]);
    await configure(host, { throttle: 10 });
    const throttled = await warehouseError(open(patSettings(host)).describe("SELECT 1"));
    expect([throttled.code, throttled.kind]).toEqual(["unreachable", "retryable"]);
  });

  it("maps type names to its own ids and JSON", () => {
    const plugin = sourcePlugin("databricks");
    expect(plugin.jsonValue(1, "255")).toBe(255);
    expect(plugin.jsonValue(2, "9007199254740993")).toBe("9007199254740993");
    expect(plugin.jsonValue(5, "false")).toBe(false);
    expect(plugin.jsonValue(12, '{"a":[1]}')).toEqual({ a: [1] });
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
