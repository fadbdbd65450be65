/**
 * `npm run bench -- --source clickhouse|mysql|snowflake|bigquery|databricks [--rows 1000000] [--repeat 3]`:
 * a source's extraction in workerd against a baseline export of the same query, measured in the same run.
 *
 * The model is the Postgres bench's 10 columns (id, email, name, city, score, amount, active,
 * created_at, plan, token), built in the warehouse. Printed, best of --repeat samples each:
 *   baseline  the warehouse's own client exporting the model as text to /dev/null; for the cloud
 *             warehouses, whose local fakes (test/servers) run the SQL on the local Postgres, that
 *             Postgres' own `COPY (model) TO STDOUT` (the fake's JSON encoding, on the same cores,
 *             is part of what "ours" measures);
 *   ours      in workerd (bench/worker.ts): reading only (every row as a canonical COPY line,
 *             the source's whole work), and the engine's extraction step (src/run/extraction.ts:
 *             read + hash + partition + chunks) with chunks to local R2 and discarded, as a sync's
 *             second run does it: the first run's snapshot loaded, unchanged rows stored without values.
 *
 * A source is one entry of SOURCES: how to build the table, the model, the export command and the
 * stored secret the plug-in opens (src/sources/registry.ts); a cloud warehouse also starts its fake.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { PG_URL, psql, psqlArgs } from "./psql.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const dataDir = join(here, ".data");
const MYSQL_URL = process.env.BENCH_MYSQL ?? "mysql://root@127.0.0.1:3306/retl_mysql_bench";
const CLICKHOUSE_URL = process.env.BENCH_CLICKHOUSE ?? "http://127.0.0.1:8123";

/** The model's row `i` as Postgres expressions (the Postgres bench's table, and the cloud fakes' warehouse). */
export const rowExpr = (i) => `${i} AS id,
  'user' || ${i} || '@example.com' AS email,
  'Person ' || ${i} AS name,
  (ARRAY['Paris','Berlin','Lisbon','Oslo','Rome'])[1 + ${i} % 5] AS city,
  (${i} * 7919) % 1000 AS score,
  round(((${i} * 104729) % 100000) / 100.0, 2) AS amount,
  (${i} % 3 = 0) AS active,
  timestamptz '2024-01-01 00:00:00+00' + (${i} % 100000) * interval '1 minute' AS created_at,
  CASE WHEN ${i} % 10 = 0 THEN NULL ELSE 'plan-' || (${i} % 50) END AS plan,
  md5(${i}::text) AS token`;

function run(command, args, input) {
  const r = spawnSync(command, args, { input, encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${command} failed: ${r.stderr || r.error}\n${input ?? args.join(" ")}`);
  return r.stdout.trim();
}

const mysqlArgs = () => {
  const url = new URL(MYSQL_URL);
  return [
    `-h${url.hostname}`,
    `-P${url.port || "3306"}`,
    `-u${decodeURIComponent(url.username)}`,
    ...(url.password ? [`-p${decodeURIComponent(url.password)}`] : []),
  ];
};
const mysqlDb = () => decodeURIComponent(new URL(MYSQL_URL).pathname.slice(1)) || "retl_mysql_bench";
const clickhouseArgs = () => {
  const url = new URL(CLICKHOUSE_URL);
  // clickhouse-client speaks the native protocol (9000), the plug-in HTTP (8123): same server.
  return [`--host=${url.hostname}`];
};

const PG_SCHEMA = "retl_bench_warehouse";
const pgModel = () => `SELECT id, email, name, city, score, amount, active, created_at, plan, token FROM ${PG_SCHEMA}.people`;

/**
 * A cloud warehouse's fake (test/servers/NAME.ts) started in this process, its SQL run on
 * {@link PG_URL}; `options` give how to reach it, the stored secret and its fake's settings.
 */
function fakeWarehouse(name, { start, configure, secret, sqlName }) {
  let server;
  let settings;
  return {
    start: async () => {
      // The fakes read their warehouse's URL when loaded.
      process.env.TEST_WAREHOUSE_URL = PG_URL;
      mkdirSync(dataDir, { recursive: true });
      const outfile = join(dataDir, `fake-${name}.mjs`);
      const entry = join(here, `../test/servers/${name}.ts`);
      await build({
        entryPoints: [entry],
        bundle: true,
        platform: "node",
        format: "esm",
        packages: "external",
        outfile,
        logLevel: "warning",
      });
      const started = await (await import(outfile))[start]();
      server = started.server;
      settings = await configure(`http://127.0.0.1:${started.port}`);
    },
    stop: () => new Promise((resolve) => (server ? server.close(resolve) : resolve())),
    version: () => `fake ${sqlName} (test/servers/${name}.ts) on Postgres ${psql("SHOW server_version")}`,
    model: pgModel,
    setup: (n) =>
      psql(`DROP SCHEMA IF EXISTS ${PG_SCHEMA} CASCADE; CREATE SCHEMA ${PG_SCHEMA};
        CREATE UNLOGGED TABLE ${PG_SCHEMA}.people AS SELECT ${rowExpr("i")} FROM generate_series(1::bigint, ${n}) i;
        ALTER TABLE ${PG_SCHEMA}.people ADD PRIMARY KEY (id); VACUUM ANALYZE ${PG_SCHEMA}.people;`),
    export: (sql) => ["psql", [...psqlArgs, "-c", `COPY (${sql}) TO STDOUT`]],
    exportName: "Postgres COPY (model) TO STDOUT",
    secret: () => JSON.stringify(secret(settings)),
    teardown: () => psql(`DROP SCHEMA IF EXISTS ${PG_SCHEMA} CASCADE`),
  };
}

/** POSTs a fake's control body, failing on an error answer. */
async function control(url, body) {
  const res = await fetch(url, body === undefined ? undefined : { method: "POST", body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${text}`);
  return text;
}

// Result pieces as large as the services make them for a result of this width: Snowflake's
// partitions and Databricks' chunks run to megabytes (the fakes' defaults of 1,000 rows are for tests).
const PIECE_ROWS = 50_000;

/** Every source the bench can measure. */
export const SOURCES = {
  mysql: {
    version: () => run("mariadb", [...mysqlArgs(), "-N", "-e", "SELECT VERSION()"]),
    model: () => `SELECT id, email, name, city, score, amount, active, created_at, plan, token FROM ${mysqlDb()}.people`,
    setup: (n) =>
      run(
        "mariadb",
        mysqlArgs(),
        `DROP DATABASE IF EXISTS ${mysqlDb()}; CREATE DATABASE ${mysqlDb()}; USE ${mysqlDb()};
        CREATE TABLE people (id BIGINT PRIMARY KEY, email VARCHAR(255), name VARCHAR(255), city VARCHAR(64), score INT,
          amount DECIMAL(12,2), active BOOLEAN, created_at DATETIME(6), plan VARCHAR(64), token CHAR(32));
        INSERT INTO people SELECT seq, CONCAT('user', seq, '@example.com'), CONCAT('Person ', seq),
          ELT(1 + seq % 5, 'Paris', 'Berlin', 'Lisbon', 'Oslo', 'Rome'), (seq * 7919) % 1000,
          ROUND(((seq * 104729) % 100000) / 100.0, 2), seq % 3 = 0, TIMESTAMP('2024-01-01') + INTERVAL (seq % 100000) MINUTE,
          IF(seq % 10 = 0, NULL, CONCAT('plan-', seq % 50)), MD5(seq) FROM seq_1_to_${n};
        ANALYZE TABLE people;`,
      ),
    // --quick streams rows as they come (without it the client first holds the whole result).
    export: (sql) => ["mariadb", [...mysqlArgs(), "--batch", "--quick", "--skip-column-names", "-e", sql]],
    exportName: "mariadb --batch --quick -e …",
    secret: () => MYSQL_URL,
    teardown: () => run("mariadb", mysqlArgs(), `DROP DATABASE IF EXISTS ${mysqlDb()}`),
  },
  clickhouse: {
    version: () => run("clickhouse-client", [...clickhouseArgs(), "--query", "SELECT version()"]),
    model: () => "SELECT id, email, name, city, score, amount, active, created_at, plan, token FROM default.retl_bench_people",
    setup: (n) => {
      run("clickhouse-client", [...clickhouseArgs(), "--query", "DROP TABLE IF EXISTS default.retl_bench_people"]);
      run("clickhouse-client", [
        ...clickhouseArgs(),
        "--query",
        `CREATE TABLE default.retl_bench_people (id UInt64, email String, name String, city String, score Int32,
          amount Decimal(12, 2), active UInt8, created_at DateTime, plan Nullable(String), token String) ENGINE = MergeTree ORDER BY id`,
      ]);
      run("clickhouse-client", [
        ...clickhouseArgs(),
        "--query",
        `INSERT INTO default.retl_bench_people SELECT number + 1 AS i, concat('user', toString(i), '@example.com'),
          concat('Person ', toString(i)), ['Paris', 'Berlin', 'Lisbon', 'Oslo', 'Rome'][1 + i % 5], toInt32((i * 7919) % 1000),
          toDecimal64(((i * 104729) % 100000) / 100, 2), i % 3 = 0, toDateTime('2024-01-01 00:00:00') + (i % 100000) * 60,
          if(i % 10 = 0, NULL, concat('plan-', toString(i % 50))), hex(MD5(toString(i))) FROM system.numbers LIMIT ${n}`,
      ]);
    },
    export: (sql) => ["clickhouse-client", [...clickhouseArgs(), "--query", `${sql} FORMAT TabSeparated`]],
    exportName: "clickhouse-client --query … FORMAT TabSeparated",
    secret: () => {
      const url = new URL(CLICKHOUSE_URL);
      return JSON.stringify({ url: url.origin, database: "default", username: "default", password: "" });
    },
    teardown: () => run("clickhouse-client", [...clickhouseArgs(), "--query", "DROP TABLE IF EXISTS default.retl_bench_people"]),
  },
  snowflake: {
    // Snowflake names unquoted columns in upper case.
    fieldName: (name) => name.toUpperCase(),
    ...fakeWarehouse("snowflake", {
      start: "startFakeSnowflake",
      sqlName: "Snowflake SQL API",
      configure: async (base) => {
        const endpoint = `${base}/t/retl-bench`;
        await control(`${endpoint}/_config`, { tokens: ["bench-token"], partition_rows: PIECE_ROWS });
        return { endpoint };
      },
      secret: ({ endpoint }) => ({
        account: "xy12345.eu-central-1",
        user: "retl",
        warehouse: "COMPUTE_WH",
        database: "ANALYTICS",
        schema: "PUBLIC",
        role: "RETL_READER",
        endpoint,
        token: "bench-token",
      }),
    }),
  },
  bigquery: fakeWarehouse("bigquery", {
    start: "startFakeBigquery",
    sqlName: "BigQuery API",
    configure: async (endpoint) => ({ endpoint, keyFile: await control(`${endpoint}/_fake/retl-bench/key`) }),
    secret: ({ endpoint, keyFile }) => ({ project_id: "retl-bench", location: "US", endpoint, service_account_json: keyFile }),
  }),
  databricks: fakeWarehouse("databricks", {
    start: "startFakeDatabricks",
    sqlName: "Databricks Statement Execution API",
    configure: async (base) => {
      const host = `${base}/t/retl-bench`;
      await control(`${host}/_config`, { chunk_rows: PIECE_ROWS, max_rows: 1e9 });
      return { host };
    },
    secret: ({ host }) => ({ host, warehouse_id: "wh-test", catalog: "main", schema: "public", token: "dapi-test-token" }),
  }),
};

/** Wall time of a command whose output goes to /dev/null. */
function timed(command, args) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(command, args, { stdio: ["ignore", "ignore", "inherit"] });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(performance.now() - t) : reject(new Error(`${command} exited ${code}`))));
  });
}

const sec = (ms) => `${(ms / 1000).toFixed(2)} s`;
const rate = (rows, ms) => `${Math.round(rows / (ms / 1000)).toLocaleString("en-US")} rows/s`;
const spread = (samples) =>
  samples.length > 1 ? `, best of ${samples.length} (${sec(Math.min(...samples))}–${sec(Math.max(...samples))})` : "";

/**
 * Runs the source bench: `call(path, job)` posts a job to the bench worker and returns its answer
 * with `ms`, the wall time seen from outside.
 */
export async function benchSource(type, { rowCounts, repeats: repeatOption, call, partitionsFor }) {
  const source = SOURCES[type];
  if (!source) throw new Error(`unknown --source ${type}; one of postgres, ${Object.keys(SOURCES).join(", ")}`);
  const fields = ["id", "email", "name", "city", "score", "amount", "active", "created_at", "plan", "token"].map(
    source.fieldName ?? ((name) => name),
  );
  const mapped = fields.slice(1);
  await source.start?.();
  try {
    for (const n of rowCounts) {
      console.log(`\n=== source ${type}: ${n.toLocaleString("en-US")} rows × ${fields.length} columns ===`);
      const t = performance.now();
      source.setup(n);
      console.log(`setup: ${sec(performance.now() - t)}; server ${source.version()}`);
      const sql = source.model();
      const job = { type, secret: source.secret(), sql, primaryKey: fields[0], mapped, partitions: partitionsFor(n) };
      const repeats = Math.max(1, repeatOption ?? 3);
      // Warm the server's caches for every reader alike, then alternate the samples.
      const [command, args] = source.export(sql);
      await timed(command, args);
      const exportSamples = [];
      const readSamples = [];
      const extractSamples = [];
      const discardSamples = [];
      // A first run (everything new) makes the snapshot the timed runs load, as a sync's next run does.
      const first = await call("/source-extract", { ...job, run: "r1" });
      const diff = await call("/diff", {
        ...job,
        mode: "mirror",
        batchSize: 500,
        run: "r1",
        prevGen: null,
        nextGen: "g1",
        chunkCounts: first.chunkCounts,
      });
      await call("/cleanup", { prefixes: ["runs/r1/"] });
      console.log(`first run: extract ${sec(first.ms)} (${rate(first.rows, first.ms)}), diff+commit ${sec(diff.ms)}`);
      const known = { knownGen: "g1", knownRows: first.rows };
      let rows = 0;
      for (let i = 0; i < repeats; i++) {
        exportSamples.push(await timed(command, args));
        const read = await call("/source-read", job);
        readSamples.push(read.ms);
        rows = read.rows;
        const ex = await call("/source-extract", { ...job, ...known, run: `s${i}` });
        extractSamples.push(ex.ms);
        await call("/cleanup", { prefixes: [`runs/s${i}/`] });
        const discarded = await call("/source-extract", { ...job, ...known, run: `d${i}`, discardChunks: true });
        discardSamples.push(discarded.ms);
        if (ex.rows !== rows || discarded.rows !== rows) throw new Error(`row counts differ: read ${rows}, extraction ${ex.rows}`);
      }
      if (rows !== n) throw new Error(`read ${rows} rows, expected ${n}`);
      const best = (s) => Math.min(...s);
      const exportMs = best(exportSamples);
      console.log(`baseline`);
      console.log(`  ${source.exportName.padEnd(46)} ${sec(exportMs).padStart(8)}  ${rate(n, exportMs)}${spread(exportSamples)}`);
      console.log(`ours, in workerd (${job.partitions} partitions; extraction loads the last snapshot, model unchanged)`);
      const lines = [
        ["read only (canonical COPY lines)", readSamples],
        ["extraction as a run does it → local R2", extractSamples],
        ["same, chunks discarded (no R2 writes)", discardSamples],
      ];
      for (const [name, samples] of lines)
        console.log(`  ${name.padEnd(46)} ${sec(best(samples)).padStart(8)}  ${rate(n, best(samples))}${spread(samples)}`);
      console.log(`ratios (rows/s vs the export's rows/s; target ≥ 0.5)`);
      for (const [name, samples] of lines) console.log(`  ${name.padEnd(46)} ${(exportMs / best(samples)).toFixed(2)}`);
    }
  } finally {
    source.teardown();
    await source.stop?.();
  }
}
