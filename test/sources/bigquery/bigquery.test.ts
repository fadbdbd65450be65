import { describe, expect, it } from "vitest";
import { decodeRow } from "../../../src/engine/row";
import { openSource } from "../../../src/sources/registry";
import { api, expectStatus } from "../../harness";
import { pg, uniqueName } from "../../harness/run";
import {
  BIGQUERY_URL,
  configure,
  extractLines,
  newProject,
  OPTS,
  openBigquery,
  projectState,
  type SeenRequest,
  warehouseError,
} from "./helpers";

/** The BigQuery source against the fake BigQuery (test/servers/bigquery.ts), which runs the SQL on the local Postgres. */

// Everything COPY text escapes, and a quote.
const AWKWARD = "tab\there\nnew line\\back slash 'quote' \v vt\r\b\f";

/** A table of awkward values: NULL vs '', NaN/Infinity, decimals, bytes, dates and times, JSON, arrays, structs, big INT64. */
async function awkwardTable(): Promise<string> {
  const table = uniqueName("bqawk");
  await pg(`CREATE TYPE ${table}_addr AS (street text, zip int8)`);
  await pg(
    `CREATE TABLE ${table} (id int8, s text, f float8, n numeric(20, 4), b bool, raw bytea, d date, dt timestamp, t time, ` +
      `ts timestamptz, j json, tags text[], addr ${table}_addr, addrs ${table}_addr[], big int8)`,
  );
  await pg(
    `INSERT INTO ${table} VALUES
      (1, NULL, 'NaN', -0.0001, false, '\\x00ff', '1970-01-02', '2024-01-02 03:04:05', '03:04:05', '2024-01-02 03:04:05.123456+00',
       '{"b": 1, "a": [true, null]}', '{}', NULL, '{}', 9007199254740993),
      (2, '', 'Infinity', 0, true, '', '2024-02-29', '2024-12-31 23:59:59.5', '23:59:59.999999', '1969-12-31 23:59:59.9+00',
       '{}', ARRAY['a', E'b\\tc'], ROW('Main St', 12345), ARRAY[ROW(E'a\\tb', 1), ROW('c', 2)]::${table}_addr[], 0),
      (3, $1, 0.1, 1.25, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, ROW(NULL, 7), NULL, -1)`,
    [AWKWARD],
  );
  return table;
}

const COLUMNS = "id, s, f, n, b, raw, d, dt, t, ts, j, tags, addr, addrs, big";

const requestsTo = (requests: SeenRequest[], method: string, path: RegExp) =>
  requests.filter((r) => r.method === method && path.test(r.path));

describe("BigQuery source (fake BigQuery on the local Postgres)", () => {
  it("exchanges an RS256 JWT signed with the key file's key for a token, once, and sends it on every call", async () => {
    const { project, keyFile } = await newProject();
    const key = JSON.parse(keyFile) as { client_email: string; private_key_id: string };
    const source = openBigquery(project, keyFile);
    const tested = await source.test();
    expect(tested, JSON.stringify(tested)).toMatchObject({ ok: true, server_version: "BigQuery API v2" });
    await source.describe("SELECT 1 AS one");
    await openBigquery(project, keyFile).describe("SELECT 2 AS two");
    const state = await projectState(project);
    // One grant for three calls (the token is cached); the fake verified the signature against the key's public half.
    expect(state.grants).toHaveLength(1);
    const [grant] = state.grants;
    expect(grant?.header).toMatchObject({ alg: "RS256", typ: "JWT", kid: key.private_key_id });
    expect(grant?.claims).toMatchObject({
      iss: key.client_email,
      aud: `${BIGQUERY_URL}/token`,
      scope: "https://www.googleapis.com/auth/bigquery",
    });
    const claims = grant?.claims as { iat: number; exp: number };
    expect(claims.exp - claims.iat).toBe(3600);
    expect(Math.abs(claims.iat - Date.now() / 1000)).toBeLessThan(60);
    expect(requestsTo(state.requests, "POST", /^\/jobs$/)).toHaveLength(3);

    // A token the API stops accepting (revoked, expired early) is replaced once, without failing the call.
    expect((await fetch(`${BIGQUERY_URL}/_fake/${project}/revoke`, { method: "POST" })).status).toBe(200);
    expect(await source.describe("SELECT 3 AS three")).toEqual([{ name: "three", type: "INT64" }]);
    expect((await projectState(project)).grants).toHaveLength(2);
  });

  it("describes a model's columns with GoogleSQL type names, from the dry run alone", async () => {
    const { project, keyFile } = await newProject();
    const table = await awkwardTable();
    expect(await openBigquery(project, keyFile).describe(`SELECT ${COLUMNS} FROM ${table}`)).toEqual([
      { name: "id", type: "INT64" },
      { name: "s", type: "STRING" },
      { name: "f", type: "FLOAT64" },
      { name: "n", type: "NUMERIC" },
      { name: "b", type: "BOOL" },
      { name: "raw", type: "BYTES" },
      { name: "d", type: "DATE" },
      { name: "dt", type: "DATETIME" },
      { name: "t", type: "TIME" },
      { name: "ts", type: "TIMESTAMP" },
      { name: "j", type: "JSON" },
      { name: "tags", type: "ARRAY<STRING>" },
      { name: "addr", type: "STRUCT<street STRING, zip INT64>" },
      { name: "addrs", type: "ARRAY<STRUCT<street STRING, zip INT64>>" },
      { name: "big", type: "INT64" },
    ]);
    const state = await projectState(project);
    expect(requestsTo(state.requests, "POST", /^\/queries$/)).toHaveLength(0);
    const dryRun = requestsTo(state.requests, "POST", /^\/jobs$/)[0];
    expect(dryRun?.body).toMatchObject({
      jobReference: { projectId: project, location: "US" },
      configuration: { dryRun: true, query: { query: `SELECT ${COLUMNS} FROM ${table}`, useLegacySql: false } },
    });
  });

  it("extracts each type's canonical text: NULL vs '', floats, decimals, bytes, timestamps, JSON key order, arrays, structs", async () => {
    const { project, keyFile } = await newProject();
    const table = await awkwardTable();
    const source = openBigquery(project, keyFile);
    const lines = await extractLines(source, `SELECT ${COLUMNS} FROM ${table} ORDER BY id`);
    expect(lines.map((l) => decodeRow(l.slice(0, -1), 15))).toEqual([
      [
        "1",
        null,
        "NaN",
        "-0.0001",
        "false",
        "\\x00ff",
        "1970-01-02",
        "2024-01-02T03:04:05",
        "03:04:05",
        "2024-01-02T03:04:05.123456Z",
        '{"a":[true,null],"b":1}',
        "[]",
        null,
        "[]",
        "9007199254740993",
      ],
      [
        "2",
        "",
        "Infinity",
        "0",
        "true",
        "\\x",
        "2024-02-29",
        "2024-12-31T23:59:59.5",
        "23:59:59.999999",
        "1969-12-31T23:59:59.9Z",
        "{}",
        '["a","b\\tc"]',
        '{"street":"Main St","zip":12345}',
        '[{"street":"a\\tb","zip":1},{"street":"c","zip":2}]',
        "0",
      ],
      ["3", AWKWARD, "0.1", "1.25", null, null, null, null, null, null, null, "[]", '{"street":null,"zip":7}', "[]", "-1"],
    ]);
    // The same bytes on every run: hashes change only when data does.
    expect(await extractLines(source, `SELECT ${COLUMNS} FROM ${table} ORDER BY id`)).toEqual(lines);

    const preview = await source.preview(`SELECT ${COLUMNS} FROM ${table} ORDER BY id`, 10);
    expect(preview.rows[0]).toEqual({
      id: 1,
      s: null,
      f: "NaN",
      n: "-0.0001",
      b: false,
      raw: "\\x00ff",
      d: "1970-01-02",
      dt: "2024-01-02T03:04:05",
      t: "03:04:05",
      ts: "2024-01-02T03:04:05.123456Z",
      j: { a: [true, null], b: 1 },
      tags: [],
      addr: null,
      addrs: [],
      big: "9007199254740993",
    });
    expect(preview.rows[1]).toMatchObject({ s: "", f: "Infinity", tags: ["a", "b\tc"], addr: { street: "Main St", zip: 12345 } });
    expect(preview.rows[2]).toMatchObject({ s: AWKWARD, f: 0.1, n: "1.25", b: null, addrs: [], big: -1 });
    expect((await source.preview(`SELECT ${COLUMNS} FROM ${table}`, 1)).rows).toHaveLength(1);
    // No rows: the answer has a schema and no `rows` at all.
    const empty = await source.extract(`SELECT ${COLUMNS} FROM ${table} WHERE false`, {
      columns: (f) => f.map((x) => x.name),
      line: () => {},
    });
    expect([empty.rows, empty.fields.length]).toEqual([0, 15]);
  });

  it("sends GoogleSQL jobs with the location, a job timeout and int64 timestamps, polls while jobComplete is false, and pages by pageToken", async () => {
    const { project, keyFile } = await newProject();
    const table = uniqueName("bqpage");
    await pg(`CREATE TABLE ${table} AS SELECT g AS id, 'v' || g AS v FROM generate_series(1, 50) g`);
    await configure(project, { page_rows: 7, pending_polls: 2 });
    const source = openBigquery(project, keyFile);
    let pending = 0;
    let maxPending = 0;
    const seen: string[] = [];
    let prefetched = false;
    const extracted = await source.extract(`SELECT id, v FROM ${table} ORDER BY id`, {
      columns: () => ["v", "id"],
      line: async (bytes) => {
        pending++;
        maxPending = Math.max(maxPending, pending);
        const line = new TextDecoder().decode(bytes);
        seen.push(line);
        // While page 2 (rows 8-14) is being handled, page 3 (from row 15) is already requested.
        for (let i = 0; line === "v8\t8\n" && !prefetched && i < 100; i++) {
          const { requests } = await projectState(project);
          prefetched = requests.some((r) => r.params.pageToken?.endsWith(":14"));
          if (!prefetched) await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await new Promise((resolve) => setTimeout(resolve, 1));
        pending--;
      },
    });
    expect(prefetched).toBe(true);
    expect(extracted.rows).toBe(50);
    expect(extracted.fields.map((f) => f.name)).toEqual(["id", "v"]);
    expect(seen).toEqual(Array.from({ length: 50 }, (_, k) => `v${k + 1}\t${k + 1}\n`));
    expect(maxPending).toBe(1);

    const { requests } = await projectState(project);
    const [query] = requestsTo(requests, "POST", /^\/queries$/);
    expect(query?.body).toMatchObject({
      query: `SELECT id, v FROM ${table} ORDER BY id`,
      useLegacySql: false,
      location: "US",
      jobTimeoutMs: "10000",
      maxResults: 5000,
      formatOptions: { useInt64Timestamp: true },
    });
    expect(query?.body?.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const results = requestsTo(requests, "GET", /^\/queries\/job_/);
    const polls = results.filter((r) => !r.params.pageToken);
    const pages = results.filter((r) => r.params.pageToken);
    // jobs.query's answer and the first poll said jobComplete: false; the second poll brought page 1.
    expect(polls).toHaveLength(2);
    expect(pages).toHaveLength(Math.ceil(50 / 7) - 1);
    for (const r of results)
      expect(r.params).toMatchObject({ location: "US", maxResults: "5000", "formatOptions.useInt64Timestamp": "true" });
  });

  it("estimates rows as the largest referenced table's numRows (tables.get)", async () => {
    const { project, keyFile } = await newProject();
    const small = uniqueName("bqest");
    const large = uniqueName("bqest");
    await pg(`CREATE TABLE ${small} AS SELECT g AS id FROM generate_series(1, 12) g`);
    await pg(`CREATE TABLE ${large} AS SELECT g AS id FROM generate_series(1, 345) g`);
    const source = openBigquery(project, keyFile);
    expect(await source.estimateRows(`SELECT a.id FROM ${large} a LEFT JOIN ${small} b USING (id)`)).toBe(345);
    expect(await source.estimateRows("SELECT 1 AS one")).toBe(0);
  });

  it("refuses a model that writes: the SQL guard before any request, the dry run's statementType for what passes it", async () => {
    const { project, keyFile } = await newProject();
    const table = uniqueName("bqro");
    await pg(`CREATE TABLE ${table} AS SELECT 1 AS id`);
    const source = openBigquery(project, keyFile);
    for (const sql of [`DELETE FROM ${table} WHERE true`, `INSERT INTO ${table} VALUES (2)`, `CREATE TABLE ${table}_x (id int)`]) {
      const err = await warehouseError(source.extract(sql, { columns: () => ["id"], line: () => {} }));
      expect([err.code, err.kind], sql).toEqual(["read_only", "user"]);
    }
    expect((await projectState(project)).requests).toHaveLength(0);
    // A script starts like a query; BigQuery's dry run tells it apart, and nothing runs.
    const writes = [`DELETE FROM ${table} WHERE true`, `INSERT INTO ${table} VALUES (2)`, `CREATE TABLE ${table}_x (id int)`];
    for (const write of writes) {
      const script = await warehouseError(source.extract(`SELECT id FROM ${table}; ${write}`, { columns: () => ["id"], line: () => {} }));
      expect([script.code, script.kind], write).toEqual(["read_only", "user"]);
      expect(script.message).toContain("SCRIPT");
    }
    const { requests } = await projectState(project);
    expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual(["POST /jobs", "POST /jobs", "POST /jobs"]);
    expect(requests.map((r) => (r.body?.configuration as { dryRun?: boolean } | undefined)?.dryRun)).toEqual([true, true, true]);
  });

  it("stops a query at the statement timeout: the job's jobTimeoutMs, and the client's deadline (the job is cancelled)", async () => {
    const { project, keyFile } = await newProject();
    const slow = openBigquery(project, keyFile, { ...OPTS, statementTimeoutMs: 1000 });
    const err = await warehouseError(slow.extract("SELECT pg_sleep(3)::text AS slept", { columns: () => ["slept"], line: () => {} }));
    expect([err.code, err.kind]).toEqual(["timeout", "retryable"]);

    // A job that never completes: the client gives up at its deadline and cancels it.
    await configure(project, { pending_polls: 1_000_000 });
    const started = Date.now();
    const hung = openBigquery(project, keyFile, { ...OPTS, statementTimeoutMs: 300, connectTimeoutMs: 300 });
    const gaveUp = await warehouseError(hung.extract("SELECT 1 AS one", { columns: () => ["one"], line: () => {} }));
    expect([gaveUp.code, gaveUp.kind]).toEqual(["timeout", "retryable"]);
    expect(Date.now() - started).toBeLessThan(5000);
    const { requests, cancelled } = await projectState(project);
    const jobId = (requestsTo(requests, "GET", /^\/queries\/job_/).at(-1)?.path ?? "").replace("/queries/", "");
    expect(cancelled).toContain(jobId);
  });

  it("backs off on 403 rateLimitExceeded, 429 (Retry-After) and 503, and gives up at the deadline", async () => {
    const { project, keyFile } = await newProject();
    await configure(project, {
      faults: [
        { status: 403, reason: "rateLimitExceeded" },
        { status: 429, reason: "rateLimitExceeded", retry_after: "1" },
        { status: 503, reason: "backendError", retry_after: "0" },
      ],
    });
    expect(await extractLines(openBigquery(project, keyFile), "SELECT 'x' AS v")).toEqual(["x\n"]);
    const { requests } = await projectState(project);
    // The dry run was sent four times (three refusals), then the query once.
    expect(requests.map((r) => `${r.method} ${r.path}`).slice(0, 5)).toEqual([
      "POST /jobs",
      "POST /jobs",
      "POST /jobs",
      "POST /jobs",
      "POST /queries",
    ]);

    await configure(project, { faults: [{ status: 403, reason: "rateLimitExceeded", times: 100 }] });
    const short = openBigquery(project, keyFile, { ...OPTS, statementTimeoutMs: 500, connectTimeoutMs: 1000 });
    const err = await warehouseError(short.describe("SELECT 1 AS one"));
    expect([err.code, err.kind]).toEqual(["unreachable", "retryable"]);
    expect(err.message).toContain("Exceeded rate limits");
  });

  it("reports a key the token endpoint refuses, a disabled account and a missing permission as auth failures", async () => {
    const { project, keyFile } = await newProject(true);
    const rogue = openBigquery(project, keyFile);
    const tested = await rogue.test();
    expect([tested.ok, tested.error?.code]).toEqual([false, "auth_failed"]);
    expect(tested.error?.message).toContain("Invalid JWT Signature");
    const err = await warehouseError(rogue.describe("SELECT 1 AS one"));
    expect([err.code, err.kind]).toEqual(["auth_failed", "auth"]);

    const disabled = await newProject();
    await configure(disabled.project, { disabled: true });
    const refused = await warehouseError(openBigquery(disabled.project, disabled.keyFile).describe("SELECT 1 AS one"));
    expect([refused.code, refused.kind]).toEqual(["auth_failed", "auth"]);

    // A valid token for another project: no bigquery.jobs.create there.
    const [mine, other] = [await newProject(), await newProject()];
    const denied = await warehouseError(openBigquery(other.project, mine.keyFile).describe("SELECT 1 AS one"));
    expect([denied.code, denied.kind]).toEqual(["auth_failed", "auth"]);
  });

  it("fails a broken model with BigQuery's message, as the model's fault", async () => {
    const { project, keyFile } = await newProject();
    const missing = await warehouseError(openBigquery(project, keyFile).describe("SELECT * FROM no_such_table_bq"));
    expect([missing.code, missing.kind]).toEqual(["query_failed", "user"]);
    expect(missing.message).toMatch(/Not found/);
    const bad = await warehouseError(openBigquery(project, keyFile).describe("SELECT no_such_column"));
    expect([bad.code, bad.kind]).toEqual(["query_failed", "user"]);
  });

  it("puts both hosts (the API's and the key file's token_uri) through the SSRF guard", async () => {
    const { project, keyFile } = await newProject();
    const strict = openBigquery(project, keyFile, { ...OPTS, allowPrivate: false });
    expect((await strict.test()).error?.code).toBe("host_not_allowed");
    const publicApi = JSON.stringify({ project_id: project, endpoint: "https://bigquery.googleapis.com", service_account_json: keyFile });
    const tested = await openSource("bigquery", publicApi, { ...OPTS, allowPrivate: false }).test();
    expect(tested.error?.code).toBe("host_not_allowed");
    expect(tested.error?.message).toContain("127.0.0.1");
  });

  it("is created through the API: the key file is checked (400 naming the field), config returned, the key never", async () => {
    const { project, keyFile } = await newProject();
    const body = (service_account_json: string) => ({
      name: "bq",
      type: "bigquery",
      config: { project_id: project, location: "US", endpoint: BIGQUERY_URL },
      credentials: { service_account_json },
    });
    const key = JSON.parse(keyFile) as Record<string, string>;
    const cases: [string, RegExp][] = [
      ["{not json", /not valid JSON/],
      [JSON.stringify({ ...key, type: "authorized_user" }), /service_account/],
      [JSON.stringify({ ...key, private_key: undefined }), /private_key/],
      [JSON.stringify({ ...key, private_key: "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----" }), /PEM private key/],
      [JSON.stringify({ ...key, token_uri: "ftp://x" }), /token_uri/],
    ];
    for (const [file, problem] of cases) {
      const res = await api.post("/api/v1/sources", { body: body(file) });
      expectStatus(res, 400);
      const text = JSON.stringify(res.body);
      expect(text, file).toContain("service_account_json");
      expect(text, file).toMatch(problem);
      // The key itself is never echoed.
      expect(text).not.toContain(key.private_key?.split("\n")[1]);
    }
    const created = await api.post("/api/v1/sources", { body: body(keyFile) });
    expectStatus(created, 201);
    expect(created.body.config).toEqual({ project_id: project, location: "US", endpoint: BIGQUERY_URL });
    expect(JSON.stringify(created.body)).not.toContain(key.private_key_id);
    const tested = await api.post(`/api/v1/sources/${created.body.id}/test`);
    expect(tested.body).toMatchObject({ ok: true });
  });
});
