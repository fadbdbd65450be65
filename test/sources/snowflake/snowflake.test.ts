import { decodeJwt, decodeProtectedHeader } from "jose";
import { describe, expect, it } from "vitest";
import { decodeRow } from "../../../src/engine/row";
import { runStatement } from "../../../src/sources/snowflake/api";
import { keyPairAuth } from "../../../src/sources/snowflake/auth";
import { api, expectError, expectStatus } from "../../harness";
import { pg, uniqueName } from "../../harness/run";
import { type Account, extractLines, keyPair, openAccount, opts, snowflakeAccount, warehouseError } from "./helpers";

/** The Snowflake source against the fake SQL API (test/servers/snowflake.ts), which runs the SQL on the local Postgres. */

// A string with everything COPY text escapes.
const AWKWARD = "tab\there\nnew line\\back slash 'quote' \v vt\r\b\f";

/** A table of awkward values of every type the fake maps (see its module comment). */
async function awkwardTable(): Promise<string> {
  const table = uniqueName("snowflake_awk");
  await pg(
    `CREATE TABLE ${table} (id int, s text, n numeric(18,4), f float8, b boolean, d date, t time, ts timestamp, ` +
      `ltz timestamptz, at_tz timestamptz, v json, o jsonb, arr text[], bin bytea)`,
  );
  await pg(
    `INSERT INTO ${table} VALUES
      (1, NULL, -0.0001, -2.5, false, '1970-01-01', '00:00:00', '1969-12-31 23:59:59.5', '2024-01-02 03:04:05+00', '2024-01-02 03:04:05+02', '{"b": 1, "a": [1, 2.50]}', '{"z": null, "a": "x"}', '{}', '\\x'),
      (2, '', 0, 1.5e300, true, '2024-02-29', '23:59:59.123456', '2024-12-31 23:59:59', '2024-12-31 23:59:59.25+00', '2024-12-31 23:59:59-08', '"just text"', '{}', '{NULL,"a\tb"}', '\\x48656c6c6f'),
      (3, $1, 1.25, 'Infinity', NULL, NULL, NULL, NULL, NULL, NULL, 'null', NULL, NULL, NULL)`,
    [AWKWARD],
  );
  return table;
}

async function jwtOf(account: Account): Promise<string> {
  const headers = await keyPairAuth(account.config.account ?? "", account.config.user ?? "", account.privateKey).headers();
  expect(headers["x-snowflake-authorization-token-type"]).toBe("KEYPAIR_JWT");
  return (headers.authorization ?? "").replace(/^Bearer /, "");
}

describe("Snowflake source (fake SQL API on the local Postgres)", () => {
  it("signs a key-pair JWT whose issuer names the public key's fingerprint as OpenSSL computes it", async () => {
    const account = await snowflakeAccount();
    const jwt = await jwtOf(account);
    expect(decodeProtectedHeader(jwt)).toMatchObject({ alg: "RS256", typ: "JWT" });
    const claims = decodeJwt(jwt);
    // The fake computed the fingerprint with Node's OpenSSL from the registered public key.
    expect(account.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}=$/);
    expect(claims.iss).toBe(`XY12345.RETL.${account.fingerprint}`);
    expect(claims.sub).toBe("XY12345.RETL");
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(3600);
    expect(Math.abs((claims.iat ?? 0) - Date.now() / 1000)).toBeLessThan(60);

    // One JWT while it is fresh, a new one 5 minutes before it expires.
    let now = Date.now();
    const auth = keyPairAuth("xy12345.eu-central-1", "retl", account.privateKey, () => now);
    const first = await auth.headers();
    now += 54 * 60_000;
    expect(await auth.headers()).toEqual(first);
    now += 2 * 60_000;
    const renewed = (await auth.headers()).authorization?.replace(/^Bearer /, "") ?? "";
    expect(renewed).not.toBe(first.authorization?.replace(/^Bearer /, ""));
    expect(decodeJwt(renewed).iat).toBe(Math.floor(now / 1000));

    const tested = await openAccount(account).test();
    expect(tested, JSON.stringify(tested)).toMatchObject({ ok: true, server_version: expect.stringMatching(/^\d+\./) });
    const [request] = await account.requests();
    expect(request).toMatchObject({ method: "POST", token_type: "KEYPAIR_JWT", status: 200 });
  });

  it("authenticates with a token, and reports a refused key or token as auth_failed (kind auth)", async () => {
    const account = await snowflakeAccount({ tokens: ["pat-good"] });
    expect(await openAccount(account, { token: "pat-good" }).test()).toMatchObject({ ok: true });
    const badToken = await warehouseError(openAccount(account, { token: "pat-bad" }).describe("SELECT 1 AS x"));
    expect([badToken.code, badToken.kind]).toEqual(["auth_failed", "auth"]);
    expect(badToken.message).toContain("390303");

    const other = await keyPair();
    const wrongKey = await warehouseError(openAccount(account, { private_key: other.privateKey }).describe("SELECT 1 AS x"));
    expect([wrongKey.code, wrongKey.kind]).toEqual(["auth_failed", "auth"]);
    expect(wrongKey.message).toContain("390144");
    const wrongUser = await openAccount(account, { user: "SOMEONE" }).test();
    expect(wrongUser.error?.code).toBe("auth_failed");
    const notPem = await openAccount(account, {
      private_key: "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----",
    }).test();
    expect(notPem.error).toMatchObject({ code: "auth_failed", message: expect.stringMatching(/PKCS#8/) });
    const noWarehouse = await openAccount(account, { warehouse: "NO_SUCH_WH" }).test();
    expect(noWarehouse.error).toMatchObject({ code: "auth_failed", message: expect.stringMatching(/000606/) });
    const noDatabase = await openAccount(account, { database: "NO_SUCH_DB" }).test();
    expect(noDatabase.error?.code).toBe("database_not_found");
  });

  it("describes the model's columns as Snowflake names them (upper case), and refuses a repeated name", async () => {
    const account = await snowflakeAccount();
    const table = await awkwardTable();
    expect(await openAccount(account).describe(`SELECT id, s, n, f, at_tz, v FROM ${table}`)).toEqual([
      { name: "ID", type: "NUMBER(38,0)" },
      { name: "S", type: "VARCHAR" },
      { name: "N", type: "NUMBER(18,4)" },
      { name: "F", type: "FLOAT" },
      { name: "AT_TZ", type: "TIMESTAMP_TZ" },
      { name: "V", type: "VARIANT" },
    ]);
    const repeated = await warehouseError(openAccount(account).describe("SELECT 1 AS a, 2 AS b, 3 AS A"));
    expect(repeated.code).toBe("query_failed");
    const requests = await account.requests();
    expect(requests[0]?.path).toMatch(/^\/api\/v2\/statements\?requestId=[0-9a-f-]{36}&nullable=true$/);
  });

  it("round-trips awkward values: NULL vs '', escapes, decimals, floats, dates, times, timestamps with zones, JSON, arrays, binary", async () => {
    const account = await snowflakeAccount();
    const table = await awkwardTable();
    const sql = `SELECT * FROM ${table} ORDER BY id`;
    const preview = await openAccount(account).preview(sql, 10);
    expect(preview.rows).toEqual([
      {
        ID: 1,
        S: null,
        N: "-0.0001",
        F: -2.5,
        B: false,
        D: "1970-01-01",
        T: "00:00:00",
        TS: "1969-12-31T23:59:59.5",
        LTZ: "2024-01-02T03:04:05Z",
        AT_TZ: "2024-01-02T01:04:05+00:00",
        V: { a: [1, 2.5], b: 1 },
        O: { a: "x", z: null },
        ARR: [],
        BIN: "",
      },
      {
        ID: 2,
        S: "",
        N: "0.0000",
        F: 1.5e300,
        B: true,
        D: "2024-02-29",
        T: "23:59:59.123456",
        TS: "2024-12-31T23:59:59",
        LTZ: "2024-12-31T23:59:59.25Z",
        AT_TZ: "2025-01-01T07:59:59+00:00",
        V: "just text",
        O: {},
        ARR: [null, "a\tb"],
        BIN: "48656c6c6f",
      },
      {
        ID: 3,
        S: AWKWARD,
        N: "1.2500",
        F: "Infinity",
        B: null,
        D: null,
        T: null,
        TS: null,
        LTZ: null,
        AT_TZ: null,
        V: null,
        O: null,
        ARR: null,
        BIN: null,
      },
    ]);
    // The canonical lines: JSON with sorted keys and no whitespace; '' and NULL apart; escapes as COPY writes them.
    const lines = await extractLines(openAccount(account), `SELECT id, s, v, o, arr FROM ${table} ORDER BY id`);
    expect(lines.map((l) => decodeRow(l.slice(0, -1), 5))).toEqual([
      ["1", null, '{"a":[1,2.50],"b":1}', '{"a":"x","z":null}', "[]"],
      ["2", "", '"just text"', "{}", '[null,"a\\tb"]'],
      ["3", AWKWARD, "null", null, null],
    ]);
    expect(lines[2]).toBe(`3\t${"tab\\there\\nnew line\\\\back slash 'quote' \\v vt\\r\\b\\f"}\tnull\t\\N\t\\N\n`);
    // Same data, same bytes: the next extraction is identical (stable hashes).
    expect(await extractLines(openAccount(account), `SELECT id, s, v, o, arr FROM ${table} ORDER BY id`)).toEqual(lines);
  });

  it("reads every partition, the next one fetched while the current one is handled, gzip with or without Content-Encoding", async () => {
    const table = uniqueName("snowflake_many");
    await pg(`CREATE TABLE ${table} AS SELECT g AS id, 'v' || g AS v FROM generate_series(1, 2500) g`);
    for (const encoding of ["gzip", "gzip-bare", "identity"] as const) {
      const account = await snowflakeAccount({ partition_rows: 1000, partition_encoding: encoding });
      const seenAhead: boolean[] = [];
      let rows = 0;
      const extracted = await openAccount(account).extract(`SELECT id, v FROM ${table} ORDER BY id`, {
        columns: () => ["V", "ID"],
        line: async (bytes) => {
          rows++;
          expect(new TextDecoder().decode(bytes)).toBe(`v${rows}\t${rows}\n`);
          // Halfway through partition 0 and 1, the next partition has been asked for already.
          if (rows === 500 || rows === 1500) {
            await new Promise((resolve) => setTimeout(resolve, 50));
            const paths = (await account.requests()).map((r) => r.path);
            seenAhead.push(paths.some((p) => p.endsWith(`partition=${rows === 500 ? 1 : 2}`)));
          }
        },
      });
      expect(extracted.rows).toBe(2500);
      expect(seenAhead).toEqual([true, true]);
      const partitions = (await account.requests()).filter((r) => r.path.includes("partition="));
      expect(partitions.map((r) => [r.path.replace(/^.*partition=/, ""), r.status])).toEqual([
        ["1", 200],
        ["2", 200],
      ]);
    }
    const account = await snowflakeAccount();
    expect(await openAccount(account).estimateRows(`SELECT * FROM ${table}`)).toBe(2500);
  });

  it("polls a statement that outlasts the synchronous wait (202, then GET its status until 200)", async () => {
    const account = await snowflakeAccount({ sync_wait_ms: 50 });
    const lines = await extractLines(openAccount(account), "SELECT 'done' AS state FROM (SELECT pg_sleep(0.6)) AS slow");
    expect(lines).toEqual(["done\n"]);
    const requests = await account.requests();
    expect(requests[0]).toMatchObject({ method: "POST", status: 202 });
    expect(requests.length).toBeGreaterThan(2);
    expect(requests.slice(1).every((r) => r.method === "GET" && /^\/api\/v2\/statements\/[0-9a-f-]{36}$/.test(r.path))).toBe(true);
    expect(requests.at(-1)?.status).toBe(200);
  });

  it("stops a statement at the timeout, waiting or polling; an estimate that would take too long is 0", async () => {
    const account = await snowflakeAccount();
    const short = { ...opts, statementTimeoutMs: 1000 };
    const slow = "SELECT 1 AS x FROM (SELECT pg_sleep(4)) AS slow";
    const err = await warehouseError(openAccount(account, {}, short).extract(slow, { columns: () => ["X"], line: () => {} }));
    expect([err.code, err.kind]).toEqual(["timeout", "retryable"]);
    expect(err.message).toContain("000630");
    expect((await account.requests())[0]).toMatchObject({ status: 408 });
    expect(await openAccount(account, {}, short).estimateRows(slow)).toBe(0);

    // While polling, the statement's failure comes from its status.
    const polled = await snowflakeAccount({ sync_wait_ms: 20 });
    const late = await warehouseError(openAccount(polled, {}, short).extract(slow, { columns: () => ["X"], line: () => {} }));
    expect([late.code, late.message]).toEqual(["timeout", expect.stringContaining("000630")]);
    expect((await polled.requests()).at(-1)).toMatchObject({ method: "GET", status: 408 });

    // Queued time does not count towards Snowflake's timeout: past ours (timeout + connect timeout), the source cancels.
    const queued = await snowflakeAccount({ sync_wait_ms: 20, queued_ms: 20_000 });
    const stuck = await warehouseError(
      openAccount(queued, {}, { ...short, connectTimeoutMs: 500 }).extract("SELECT 1 AS x", { columns: () => ["X"], line: () => {} }),
    );
    expect([stuck.code, stuck.kind]).toEqual(["timeout", "retryable"]);
    const requests = await queued.requests();
    expect(requests.at(-1)).toMatchObject({ method: "POST", path: expect.stringMatching(/\/cancel$/), status: 200 });
    expect((requests.at(-1)?.at ?? 0) - (requests[0]?.at ?? 0)).toBeGreaterThanOrEqual(1400);
  });

  it("retries 429 and 503 after their Retry-After, on submissions and partitions", async () => {
    const table = uniqueName("snowflake_retry");
    await pg(`CREATE TABLE ${table} AS SELECT g AS id FROM generate_series(1, 30) g`);
    const account = await snowflakeAccount({
      partition_rows: 10,
      faults: [
        { on: "submit", status: 429, retry_after: "1", times: 2, body: { code: "000000", message: "Too many requests" } },
        { on: "partition", status: 503, retry_after: "0" },
      ],
    });
    expect(await extractLines(openAccount(account), `SELECT id FROM ${table} ORDER BY id`)).toHaveLength(30);
    const requests = await account.requests();
    expect(requests.slice(0, 3).map((r) => `${r.method} ${r.status}`)).toEqual(["POST 429", "POST 429", "POST 200"]);
    // Each retry came after the Retry-After second (the fake's arrival times).
    expect((requests[1]?.at ?? 0) - (requests[0]?.at ?? 0)).toBeGreaterThanOrEqual(950);
    expect((requests[2]?.at ?? 0) - (requests[1]?.at ?? 0)).toBeGreaterThanOrEqual(950);
    const statuses = requests.map((r) => `${r.method} ${r.status}`);
    expect(statuses.filter((s) => s === "GET 503")).toHaveLength(1);
    // When the limit lasts, the source says so (retryable) instead of waiting for ever.
    const limited = await snowflakeAccount({ faults: [{ on: "submit", status: 429, retry_after: "0", times: 10 }] });
    const err = await warehouseError(openAccount(limited).describe("SELECT 1 AS x"));
    expect([err.code, err.kind]).toEqual(["unreachable", "retryable"]);
  });

  it("refuses a model that writes: the SQL guard, the subquery, one statement, the role, and the reported statement type", async () => {
    const account = await snowflakeAccount();
    const table = await awkwardTable();
    const guarded = await warehouseError(openAccount(account).describe(`INSERT INTO ${table} (id) VALUES (9)`));
    expect([guarded.code, guarded.kind]).toEqual(["read_only", "user"]);
    expect((await warehouseError(openAccount(account).preview(`DELETE FROM ${table}`, 1))).code).toBe("read_only");
    expect(await account.requests()).toEqual([]);

    // A second statement after a query: Snowflake runs one statement per request (MULTI_STATEMENT_COUNT 1).
    const second = await warehouseError(openAccount(account).describe(`SELECT 1 AS x; DELETE FROM ${table}`));
    expect(second.code).toBe("query_failed");
    expect(second.message).toMatch(/statement count/);

    // Past the guard, a read-only role cannot write (the grants the README lists) ...
    const conn = {
      baseUrl: account.endpoint,
      auth: keyPairAuth("xy12345", "retl", account.privateKey),
      warehouse: "COMPUTE_WH",
      role: "RETL_READER",
      opts,
    };
    const denied = await warehouseError(runStatement(conn, `DELETE FROM ${table}`));
    expect([denied.code, denied.kind]).toEqual(["permission_denied", "user"]);
    // ... and when a role could, the answer reports rows changed: refused before any row is read.
    const wrote = await warehouseError(runStatement({ ...conn, role: "SYSADMIN" }, `UPDATE ${table} SET s = 'x' WHERE id = 99`));
    expect([wrote.code, wrote.kind]).toEqual(["read_only", "user"]);
    expect(wrote.message).toMatch(/numRowsUpdated/);
  });

  it("is created through the API with config returned and credentials never returned", async () => {
    const account = await snowflakeAccount();
    const body = { name: "sf", type: "snowflake", config: account.config, credentials: { private_key: account.privateKey } };
    const created = await api.post("/api/v1/sources", { body });
    expectStatus(created, 201);
    expect(created.body.config).toEqual(account.config);
    expect(JSON.stringify(created.body)).not.toContain("PRIVATE KEY");
    const tested = await api.post(`/api/v1/sources/${created.body.id}/test`);
    expect(tested.body).toMatchObject({ ok: true });
    const both = await api.put(`/api/v1/sources/${created.body.id}`, { body: { credentials: { token: "t-1" } } });
    expectError(both, 400, "validation_failed", "credentials.private_key");
    expect(JSON.stringify(both.body)).toMatch(/not both/);
    const switched = await api.put(`/api/v1/sources/${created.body.id}`, { body: { credentials: { private_key: "", token: "t-1" } } });
    expectStatus(switched, 200);
    await account.configure({ tokens: ["t-1"] });
    expect((await api.post(`/api/v1/sources/${created.body.id}/test`)).body).toMatchObject({ ok: true });
    const bad = await api.post("/api/v1/sources", {
      body: { ...body, config: { ...account.config, account: "not an account!" }, credentials: { private_key: "secret" } },
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toMatch(/account/);
    expect(JSON.stringify(bad.body)).toMatch(/private_key/);
    for (const credentials of [{}, { private_key: account.privateKey, token: "t-1" }, { private_key: "", token: "" }]) {
      const refused = await api.post("/api/v1/sources", { body: { ...body, credentials } });
      expectError(refused, 400, "validation_failed", "credentials.private_key");
    }
  });
});
