#!/usr/bin/env node
/**
 * `npm run bench [-- --rows 1000000 --rows 10000000 --mode mirror --send changed_fields --page-size 5000 --repeat 3 --no-memory]`
 *
 * Builds a model of N rows × 10 columns in the local Postgres (schema retl_bench, dropped and
 * rebuilt each time), syncs it once, changes 1% of it (0.8% updated, 0.1% deleted, 0.1% new) and
 * prints, for the second run (COPY and the engine's extraction: best of --repeat samples, default
 * 3 up to 2M rows, else 1):
 *   baselines  COPY (model) TO STDOUT to /dev/null; the in-database diff a user would write
 *              (FULL OUTER JOIN on md5 of each row against the previous snapshot table) and the
 *              refresh of that table;
 *   ours       in workerd (bench/worker.ts via wrangler's unstable_startWorker, local R2):
 *              reading only (cursor pages via streamQuery; COPY through the same driver);
 *              extraction = the engine's step (src/run/extraction.ts): read + hash + partition +
 *              chunks to local R2 (miniflare's R2 runs on the same cores), by COPY (the engine's
 *              route) and by cursor pages (the route for Neon's WebSocket);
 *              the diff = whole change plan (R2 reads, diff, every operation materialized in
 *              batches, commit of the new snapshot to R2), each timed from outside the worker;
 *              peak memory of extraction and diff from bench/memory.ts (same modules in Node).
 *              Before timing, cursor rows and COPY lines are checked to give the same row hashes.
 * Environment: BENCH_PG (default postgres://postgres@127.0.0.1:5432/test).
 *
 * `npm run bench -- --source clickhouse|mysql|snowflake|bigquery|databricks [--rows N] [--repeat 3]`
 * measures another source's extraction against the warehouse's own export instead
 * (bench/sources.mjs; BENCH_MYSQL, BENCH_CLICKHOUSE; the cloud warehouses' local fakes run on
 * BENCH_PG); `--source postgres` is the default above.
 */
import { spawnSync } from "node:child_process";
import { createWriteStream, mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { compiledWasm } from "./wasm-module.mjs";
import { unstable_startWorker } from "wrangler";
import { startWsProxy } from "../test/servers/wsproxy.ts";
import { loadChoosePartitionCount } from "./partition-count.mjs";
import { PG_URL, psql, psqlArgs, timedPsql } from "./psql.mjs";
import { benchSource, rowExpr } from "./sources.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const dataDir = join(here, ".data");
const connectionString = PG_URL;

const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const values = (name) =>
  args.flatMap((a, i) => (a === `--${name}` && args[i + 1] ? [args[i + 1]] : a.startsWith(`--${name}=`) ? [a.slice(name.length + 3)] : []));
const rowCounts = (values("rows").length > 0 ? values("rows") : ["1000000"]).map((v) => Math.round(Number(v.replaceAll("_", ""))));
const mode = values("mode")[0] ?? "mirror";
const send = values("send")[0] ?? "all_fields";
const pageSize = Number(values("page-size")[0] ?? 5000);
const batchSize = Number(values("batch-size")[0] ?? 500);
const withMemory = !flag("no-memory");
const sourceType = values("source")[0] ?? "postgres";

const FIELDS = ["id", "email", "name", "city", "score", "amount", "active", "created_at", "plan", "token"];
const MAPPED = FIELDS.slice(1);
const MODEL = `SELECT ${FIELDS.join(", ")} FROM retl_bench.people`;

function setup(n) {
  psql(`DROP SCHEMA IF EXISTS retl_bench CASCADE; CREATE SCHEMA retl_bench;
    CREATE UNLOGGED TABLE retl_bench.people AS SELECT ${rowExpr("i")} FROM generate_series(1::bigint, ${n}) i;
    ALTER TABLE retl_bench.people ADD PRIMARY KEY (id); VACUUM ANALYZE retl_bench.people;`);
}

/** The previous-snapshot table the in-database diff compares against (what its last refresh left). */
function snapshotTable() {
  psql(`CREATE UNLOGGED TABLE retl_bench.snap AS SELECT m.id, md5(m::text) AS h FROM (${MODEL}) m;
    ALTER TABLE retl_bench.snap ADD PRIMARY KEY (id); VACUUM ANALYZE retl_bench.snap;`);
}

function change(n) {
  const inserts = Math.floor(n / 1000);
  psql(`UPDATE retl_bench.people SET score = score + 1, plan = coalesce(plan, 'none') || '+' WHERE id % 125 = 7;
    DELETE FROM retl_bench.people WHERE id % 1000 = 3;
    INSERT INTO retl_bench.people SELECT ${rowExpr("i")} FROM generate_series(${n + 1}::bigint, ${n + inserts}) i;
    VACUUM ANALYZE retl_bench.people;`);
  // Warm the cache for every reader alike.
  psql(`SELECT count(*) FROM (${MODEL}) m`);
}

/** Awkward text forms (tabs, newlines, backslashes, nulls, Unicode, dates, floats, bytea, arrays, JSON) for /verify. */
const VERIFY_SQL = `SELECT i AS id, E'tab\\there' || i AS a, E'nl\\nline\\\\back' AS b, NULL::text AS c, '' AS d, '日本😀' AS e,
  timestamptz '2024-01-02 03:04:05.678+02' AS ts, date '2024-01-02' AS dt, 1.5::float8 AS f, 0.1::float4 AS f4,
  123.4500::numeric AS n, '\\x00ff'::bytea AS by, ARRAY['a b', NULL, 'c"d'] AS arr, '{"k": [1, "x\\ty"]}'::jsonb AS j,
  interval '1 day 2 hours' AS iv, true AS bo, E'\\\\N' AS weird FROM generate_series(1, 2000) i`;
const VERIFY_MAPPED = ["a", "b", "c", "d", "e", "ts", "dt", "f", "f4", "n", "by", "arr", "j", "iv", "bo", "weird"];

const IN_DB_DIFF = `CREATE TEMP TABLE changes AS
  SELECT CASE WHEN s.id IS NULL THEN 'create' WHEN c.id IS NULL THEN 'delete' ELSE 'update' END AS op,
         coalesce(c.id, s.id) AS key, c.*
  FROM (SELECT m.*, md5(m::text) AS h FROM (${MODEL}) m) c
  FULL OUTER JOIN retl_bench.snap s ON s.id = c.id
  WHERE c.h IS DISTINCT FROM s.h`;
const IN_DB_REFRESH = `BEGIN; TRUNCATE retl_bench.snap;
  INSERT INTO retl_bench.snap SELECT m.id, md5(m::text) FROM (${MODEL}) m; COMMIT`;

async function call(worker, path, job, retry = true) {
  const t = performance.now();
  let res;
  try {
    res = await worker.fetch(`http://bench${path}`, { method: "POST", body: JSON.stringify(job) });
  } catch (err) {
    // The local runtime can drop a connection between runs; one retry after it is ready again.
    if (!retry) throw err;
    console.error(`${path}: ${err.message}; retrying once`);
    await worker.ready;
    return call(worker, path, job, false);
  }
  const body = await res.json();
  const ms = performance.now() - t;
  if (!res.ok) throw new Error(`${path}: ${body.error ?? res.status}`);
  return { ...body, ms };
}

async function memoryRun(script, job) {
  const r = spawnSync(process.execPath, ["--expose-gc", script, JSON.stringify(job)], { encoding: "utf8", maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`memory run failed: ${r.stderr}`);
  if (process.env.BENCH_DEBUG) process.stderr.write(r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop());
}

const mb = (b) => `${(b / 1048576).toFixed(1)} MB`;
const sec = (ms) => `${(ms / 1000).toFixed(2)} s`;
/** ", best of N (min–max)" when a figure is the best of several samples. */
const spread = (samples) =>
  samples.length > 1 ? `, best of ${samples.length} (${sec(Math.min(...samples))}–${sec(Math.max(...samples))})` : "";
const rate = (rows, ms) => `${Math.round(rows / (ms / 1000)).toLocaleString("en-US")} rows/s`;

/** The source bench (bench/sources.mjs): the bench worker, and a source's rows against its warehouse's export. */
async function sourceMain() {
  process.env.WRANGLER_SEND_METRICS = "false";
  mkdirSync(dataDir, { recursive: true });
  const persist = join(dataDir, "wrangler-state");
  rmSync(persist, { recursive: true, force: true });
  const choosePartitionCount = await loadChoosePartitionCount(dataDir);
  const worker = await unstable_startWorker({
    config: join(here, "wrangler.toml"),
    dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, persist, logLevel: "error", watch: false },
  });
  await worker.ready;
  try {
    const repeat = values("repeat")[0];
    await benchSource(sourceType, {
      rowCounts,
      repeats: repeat === undefined ? undefined : Number(repeat),
      call: (path, job) => call(worker, path, job),
      partitionsFor: choosePartitionCount,
    });
  } finally {
    await worker.dispose();
    rmSync(persist, { recursive: true, force: true });
  }
}

async function main() {
  process.env.WRANGLER_SEND_METRICS = "false";
  process.env.PGOPTIONS = "-c client_min_messages=warning";
  psql("SELECT 1");
  mkdirSync(dataDir, { recursive: true });
  const memoryScript = join(dataDir, "memory.mjs");
  if (withMemory) {
    await build({
      entryPoints: [join(here, "memory.ts")],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      outfile: memoryScript,
      plugins: [compiledWasm],
      logLevel: "warning",
    });
  }
  // Chunk format against NDJSON (Node, synthetic rows).
  const formatsScript = join(dataDir, "formats.mjs");
  await build({
    entryPoints: [join(here, "formats.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: formatsScript,
    plugins: [compiledWasm],
    logLevel: "warning",
  });
  const fr = spawnSync(process.execPath, [formatsScript], { encoding: "utf8" });
  if (fr.status !== 0) throw new Error(`formats bench failed: ${fr.stderr}`);
  console.log("run-chunk formats, 200,000 rows × 10 columns (Node): encode incl. hashes / decode keys+hashes+1% of values / size");
  for (const [name, r] of Object.entries(JSON.parse(fr.stdout.trim().split("\n").pop()))) {
    console.log(
      `  ${name.padEnd(44)} ${String(Math.round(r.encodeMs)).padStart(5)} ms  ${String(Math.round(r.decodeMs)).padStart(5)} ms  ${mb(r.bytes)}`,
    );
  }

  const persist = join(dataDir, "wrangler-state");
  rmSync(persist, { recursive: true, force: true });
  const worker = await unstable_startWorker({
    config: join(here, "wrangler.toml"),
    dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, persist, logLevel: "error", watch: false },
  });
  await worker.ready;
  const r2Host = await unstable_startWorker({
    config: join(here, "r2-host.toml"),
    dev: {
      server: { hostname: "127.0.0.1", port: 0 },
      inspector: false,
      persist: join(dataDir, "r2-host-state"),
      logLevel: "error",
      watch: false,
    },
  });
  const remoteBucket = (await r2Host.url).origin;
  // A plain HTTP object store: each PUT body streamed to a file. Stands in for a storage service on
  // other machines, so what is measured is the isolate's cost of shipping the chunks, not storing them.
  const objectsDir = join(dataDir, "objects");
  mkdirSync(objectsDir, { recursive: true });
  const fileStore = createServer((req, res) => {
    const file = createWriteStream(join(objectsDir, encodeURIComponent(req.url.slice(1))));
    req.pipe(file).on("finish", () => res.writeHead(204).end());
  });
  await new Promise((resolve) => fileStore.listen(0, "127.0.0.1", resolve));
  const fileBucket = `http://127.0.0.1:${fileStore.address().port}`;
  // Neon's route, locally: the driver over a WebSocket to a proxy in front of this Postgres (as Neon's wsproxy).
  const wsProxy = await startWsProxy();
  const webSocketProxy = `ws://127.0.0.1:${wsProxy.port}/v1`;
  const choosePartitionCount = await loadChoosePartitionCount(dataDir);

  try {
    for (const n of rowCounts) {
      console.log(`\n=== ${n.toLocaleString("en-US")} rows × ${FIELDS.length} columns, mode ${mode}, send ${send} ===`);
      let t = performance.now();
      setup(n);
      const bytes = Number(psql(`SELECT sum(pg_column_size(m.*)) FROM retl_bench.people m`));
      console.log(`setup: ${sec(performance.now() - t)} (table data ≈ ${Math.round(bytes / n)} B/row)`);
      const partitions = choosePartitionCount(n);
      const base = { connectionString, sql: MODEL, primaryKey: "id", mapped: MAPPED, partitions, pageSize, mode, batchSize, send };

      // Both extraction paths must hash alike (checked on a sample with every awkward text form).
      const check = await call(worker, "/verify", { ...base, sql: VERIFY_SQL, mapped: VERIFY_MAPPED });
      if (check.mismatches.length > 0 || check.rows !== check.lines) throw new Error(`extraction paths disagree: ${JSON.stringify(check)}`);

      // Run 1: everything new (timed for information).
      const ex1 = await call(worker, "/extract", { ...base, run: "r1" });
      const df1 = await call(worker, "/diff", { ...base, run: "r1", prevGen: null, nextGen: "g1", chunkCounts: ex1.chunkCounts });
      await call(worker, "/cleanup", { prefixes: ["runs/r1/"] });
      console.log(
        `first run: extract ${sec(ex1.ms)}, diff+commit ${sec(df1.ms)} (${df1.operations.toLocaleString("en-US")} creates), P = ${partitions}`,
      );
      const memDir = join(dataDir, "mem");
      rmSync(memDir, { recursive: true, force: true });
      const memJob = { psql: psqlArgs, sql: MODEL, primaryKey: "id", mapped: MAPPED, partitions, dir: memDir, mode, batchSize };
      if (withMemory) await memoryRun(memoryScript, { ...memJob, phase: "1", prevPhase: null });
      snapshotTable();

      t = performance.now();
      change(n);
      const rows2 = Number(psql(`SELECT count(*) FROM retl_bench.people`));
      console.log(`changed 1% in ${sec(performance.now() - t)}; model now ${rows2.toLocaleString("en-US")} rows`);

      // Baselines.
      // The two figures of the target ratio are the best of `repeats` samples each: one sample of
      // either moves by ±30% on a shared 2-core machine.
      const repeats = Math.max(1, Number(values("repeat")[0] ?? (n <= 2_000_000 ? 3 : 1)));
      const copySamples = [];
      for (let i = 0; i < repeats; i++) copySamples.push(await timedPsql(`COPY (${MODEL}) TO STDOUT`));
      const copyMs = Math.min(...copySamples);
      const inDbDiffMs = await timedPsql(IN_DB_DIFF);
      const inDbRefreshMs = await timedPsql(IN_DB_REFRESH);

      // Ours, run 2. Extraction loads run 1's snapshot (g1) as the engine does: unchanged rows are
      // stored without values.
      const prev = { knownGen: "g1", knownRows: n };
      const drain = await call(worker, "/drain", base);
      const drainCopy = await call(worker, "/drain-copy", {
        ...base,
        sql: `SELECT ${["id", ...MAPPED].join(", ")} FROM (${MODEL}) AS model`,
      });
      const exCursor = await call(worker, "/extract", { ...base, ...prev, run: "r2cursor", via: "cursor" });
      await call(worker, "/cleanup", { prefixes: ["runs/r2cursor/"] });
      const exWebSocket = await call(worker, "/extract", { ...base, ...prev, run: "r2ws", via: "cursor", webSocketProxy });
      await call(worker, "/cleanup", { prefixes: ["runs/r2ws/"] });
      // A run's route over Neon's WebSocket where an index serves the key: keyset COPY pages.
      const exWebSocketPages = await call(worker, "/extract", { ...base, ...prev, run: "r2wspages", pageRows: 100_000, webSocketProxy });
      await call(worker, "/cleanup", { prefixes: ["runs/r2wspages/"] });
      const exDiscard = await call(worker, "/extract", { ...base, ...prev, run: "r2x", discardChunks: true });
      const exRemote = await call(worker, "/extract", { ...base, ...prev, run: "r2remote", remoteBucket });
      const exFiles = await call(worker, "/extract", { ...base, ...prev, run: "r2files", remoteBucket: fileBucket });
      rmSync(objectsDir, { recursive: true, force: true });
      mkdirSync(objectsDir, { recursive: true });
      const exSamples = [];
      const exPageSamples = [];
      for (let i = 0; i < repeats; i++) {
        if (i > 0) await call(worker, "/cleanup", { prefixes: ["runs/r2/"] });
        exSamples.push(await call(worker, "/extract", { ...base, ...prev, run: "r2" }));
        // The keyset route a run takes where an index serves the key: pages of 100,000 rows, resumable.
        exPageSamples.push(await call(worker, "/extract", { ...base, ...prev, run: "r2pages", pageRows: 100_000 }));
        await call(worker, "/cleanup", { prefixes: ["runs/r2pages/"] });
      }
      const exPages = { ...exPageSamples[exPageSamples.length - 1], ms: Math.min(...exPageSamples.map((e) => e.ms)) };
      // Every sample wrote the same chunks; the last ones stay for the diff.
      const ex = { ...exSamples[exSamples.length - 1], ms: Math.min(...exSamples.map((e) => e.ms)) };
      const df = await call(worker, "/diff", { ...base, run: "r2", prevGen: "g1", nextGen: "g2", chunkCounts: ex.chunkCounts });
      await call(worker, "/cleanup", { prefixes: ["runs/r2/", "snap/g1/", "snap/g2/"] });
      const mem = withMemory ? await memoryRun(memoryScript, { ...memJob, phase: "2", prevPhase: "1" }) : null;
      rmSync(memDir, { recursive: true, force: true });

      const inDb = inDbDiffMs + inDbRefreshMs;
      console.log(`\nbaselines (Postgres ${psql("SHOW server_version")})`);
      console.log(`  COPY (model) TO STDOUT      ${sec(copyMs).padStart(8)}  ${rate(rows2, copyMs)}${spread(copySamples)}`);
      console.log(`  in-database diff (md5 join) ${sec(inDbDiffMs).padStart(8)}`);
      console.log(`  + refresh snapshot table    ${sec(inDbRefreshMs).padStart(8)}  = ${sec(inDb)}  ${rate(rows2, inDb)}`);
      console.log(`ours, in workerd (${partitions} partitions)`);
      console.log(`  read only, cursor pages (streamQuery, ${pageSize}/page) ${sec(drain.ms).padStart(8)}  ${rate(drain.rows, drain.ms)}`);
      console.log(`  read only, COPY via the same driver          ${sec(drainCopy.ms).padStart(8)}  ${rate(drainCopy.rows, drainCopy.ms)}`);
      console.log(
        `  extraction as the engine runs it: COPY → local R2 ${sec(ex.ms).padStart(8)}  ${rate(ex.rows, ex.ms)}  (${ex.chunks} chunks, ${mb(ex.bytes)}; ${ex.unchanged.toLocaleString("en-US")} unchanged rows stored without values; last snapshot's pairs loaded in ${sec(ex.knownMs)})${spread(exSamples.map((e) => e.ms))}`,
      );
      console.log(
        `  same, keyset pages of 100,000 (resumable)    ${sec(exPages.ms).padStart(8)}  ${rate(exPages.rows, exPages.ms)}  (${exPages.chunks} chunks)${spread(exPageSamples.map((e) => e.ms))}`,
      );
      console.log(`  same, chunks to R2 in another workerd process ${sec(exRemote.ms).padStart(7)}  ${rate(exRemote.rows, exRemote.ms)}`);
      console.log(`  same, chunks over HTTP to a file store       ${sec(exFiles.ms).padStart(8)}  ${rate(exFiles.rows, exFiles.ms)}`);
      console.log(`  same, chunks discarded (no R2 writes)        ${sec(exDiscard.ms).padStart(8)}  ${rate(exDiscard.rows, exDiscard.ms)}`);
      console.log(`  extraction, cursor route over TCP → local R2  ${sec(exCursor.ms).padStart(7)}  ${rate(exCursor.rows, exCursor.ms)}`);
      console.log(
        `  extraction, Neon's WebSocket (local proxy)   ${sec(exWebSocket.ms).padStart(8)}  ${rate(exWebSocket.rows, exWebSocket.ms)}`,
      );
      console.log(
        `  same, keyset COPY pages of 100,000           ${sec(exWebSocketPages.ms).padStart(8)}  ${rate(exWebSocketPages.rows, exWebSocketPages.ms)}`,
      );
      console.log(`  diff = whole change plan (R2 in and out)     ${sec(df.ms).padStart(8)}  ${rate(df.rows, df.ms)}`);
      console.log(
        `    new ${df.new}, updated ${df.updated}, unchanged ${df.unchanged}, deleted ${df.gone}; ${df.operations} operations in ${df.batches} batches; snapshot ${mb(df.snapshotBytes)}`,
      );
      if (send === "changed_fields")
        console.log(`    ${df.partialUpdates} updates with only their changed fields (${df.changedFields} fields in all)`);
      if (mem) {
        console.log(`peak memory (Node, same modules; heap + ArrayBuffers over the phase's start)`);
        console.log(`  extraction  live ${mb(mem.extract.liveBytes)}, with garbage ${mb(mem.extract.withGarbageBytes)}`);
        console.log(
          `  diff        live ${mb(mem.diff.liveBytes)}, with garbage ${mb(mem.diff.withGarbageBytes)}  (largest partition ${mem.diff.biggestPartition.toLocaleString("en-US")} rows)`,
        );
        console.log(`  process max RSS ${mb(mem.maxRssBytes)} (includes Node itself)`);
      }
      console.log(`ratios`);
      console.log(`  extraction rows/s vs COPY rows/s (engine, COPY route)        ${(copyMs / ex.ms).toFixed(2)}  (target ≥ 0.5)`);
      console.log(`  same, keyset pages of 100,000 (a run's route with an index)  ${(copyMs / exPages.ms).toFixed(2)}`);
      console.log(`  same, chunks to R2 in another workerd process                ${(copyMs / exRemote.ms).toFixed(2)}`);
      console.log(`  same, chunks over HTTP to a file store                       ${(copyMs / exFiles.ms).toFixed(2)}`);
      console.log(`  same, chunks discarded (no R2 writes)                        ${(copyMs / exDiscard.ms).toFixed(2)}`);
      console.log(`  extraction rows/s vs COPY rows/s (cursor route over TCP)     ${(copyMs / exCursor.ms).toFixed(2)}`);
      console.log(`  same, Neon's WebSocket route, cursor pages (local wsproxy)   ${(copyMs / exWebSocket.ms).toFixed(2)}  (target ≥ 0.5)`);
      console.log(
        `  same, Neon's WebSocket route, keyset COPY pages              ${(copyMs / exWebSocketPages.ms).toFixed(2)}  (target ≥ 0.5)`,
      );
      console.log(`  read-only cursor pages rows/s vs COPY rows/s                ${(copyMs / drain.ms).toFixed(2)}`);
      console.log(`  change plan time vs in-db diff + refresh                    ${(df.ms / inDb).toFixed(2)}  (target ≤ 1)`);
      console.log(`  change plan time vs in-db diff alone                        ${(df.ms / inDbDiffMs).toFixed(2)}`);
    }
  } finally {
    await worker.dispose();
    await r2Host.dispose();
    fileStore.close();
    wsProxy.server.close();
    rmSync(objectsDir, { recursive: true, force: true });
    rmSync(join(dataDir, "r2-host-state"), { recursive: true, force: true });
    rmSync(persist, { recursive: true, force: true });
    psql("DROP SCHEMA IF EXISTS retl_bench CASCADE");
  }
}

if (sourceType !== "postgres") {
  await sourceMain();
  process.exit(0);
}

await main();

// Delivery: rows/s to a local webhook accepting N requests/s, against N × batch size (bench/delivery.mjs).
// Its flags are passed as --delivery-rows, --delivery-rps, --delivery-batch-size.
const deliveryArgs = args.filter((a, i) => a.startsWith("--delivery-") || args[i - 1]?.startsWith("--delivery-"));
const delivery = spawnSync(process.execPath, [join(here, "delivery.mjs"), ...deliveryArgs], { stdio: "inherit" });
if (delivery.status !== 0) process.exit(delivery.status ?? 1);
