#!/usr/bin/env node
/**
 * Delivery figure: `node bench/delivery.mjs [--rows 10000] [--rps 5 --rps 20] [--batch-size 100]`
 * (each also as `--delivery-rows` etc., which win: for forwarding from bench/run.mjs).
 *
 * For each N (--rps): a local webhook that accepts at most N requests per second (429 with
 * Retry-After beyond; test/servers/webhook-receiver.ts) and a webhook destination rate-limited to N
 * requests/s with `--batch-size` rows per request. One upsert run of a fresh `--rows`-row model
 * through the real Worker (wrangler's unstable_startWorker: API, SyncObject, Queues, limiter), then:
 *   rows/s over the delivery window (first request's arrival to the last answer at the webhook),
 *   against the ceiling N × batch size; the run's own wall time; requests refused with 429.
 * `--full-load 1000000` (repeatable) adds the first mirror run of that many rows into a webhook
 * without a limit of its own (batch 1000, `--full-load-concurrency`, default 20), timed from the
 * trigger until the webhook holds every row, against COPY of the model in the same run (best of
 * `--repeat`, default 3); without --rps only the full load runs.
 * Environment: BENCH_PG (default postgres://postgres@127.0.0.1:5432/test).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { WebSocket } from "ws";
import { unstable_startWorker } from "wrangler";
import { PG_URL as connectionString, psql, psqlArgs } from "./psql.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const dataDir = join(here, ".data");

const args = process.argv.slice(2);
const valuesOf = (name) =>
  args.flatMap((a, i) => (a === `--${name}` && args[i + 1] ? [args[i + 1]] : a.startsWith(`--${name}=`) ? [a.slice(name.length + 3)] : []));
// `--delivery-rows` etc. win, so bench/run.mjs can forward its arguments without its own --rows applying here.
const values = (name) => (valuesOf(`delivery-${name}`).length > 0 ? valuesOf(`delivery-${name}`) : valuesOf(name));
const rows = Number((values("rows")[0] ?? "10000").replaceAll("_", ""));
const rates = (values("rps").length > 0 ? values("rps") : values("full-load").length > 0 ? [] : ["5", "20"]).map(Number);
const batchSize = Number(values("batch-size")[0] ?? 100);
// The full load: a first mirror run of this many rows into a webhook with no rate limit of its own.
const fullRows = values("full-load").map((v) => Number(v.replaceAll("_", "")));
const fullConcurrency = Number(values("full-load-concurrency")[0] ?? 20);
const copyRepeat = Number(values("repeat")[0] ?? 3);
// BENCH_CPU_PROFILE=dir: a CPU profile of the Worker's isolate (consumer, API, sync objects) over each full load.
const cpuProfileDir = process.env.BENCH_CPU_PROFILE;
const INSPECTOR_PORT = 9239;

/** Starts V8's sampling profiler in the Worker's isolate through wrangler's inspector proxy. */
async function startCpuProfile() {
  const targets = await (await fetch(`http://127.0.0.1:${INSPECTOR_PORT}/json`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl) ?? targets[0];
  // The inspector proxy refuses upgrades without an Origin of its own host.
  const socket = new WebSocket(target.webSocketDebuggerUrl, { headers: { origin: "http://localhost" } });
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let nextId = 0;
  const pending = new Map();
  socket.onmessage = (event) => {
    const reply = JSON.parse(String(event.data));
    pending.get(reply.id)?.(reply);
    pending.delete(reply.id);
  };
  const send = (method, params = {}) =>
    new Promise((resolve) => {
      const id = ++nextId;
      pending.set(id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 500 });
  await send("Profiler.start");
  return {
    async stop(path) {
      const reply = await send("Profiler.stop");
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, JSON.stringify(reply.result.profile));
      socket.close();
      console.error(`CPU profile: ${path}`);
    },
  };
}

const ADMIN = "bench_admin_token";
// 32 bytes, base64: a throwaway key for the bench's own local state.
const ENCRYPTION_KEY = Buffer.alloc(32, 7).toString("base64");
// A schema of this process's own: other checkouts may run this bench on the same Postgres at once.
const SCHEMA = `retl_bench_delivery_${process.pid}`;
const TABLE = `${SCHEMA}.people`;
const FULL_TABLE = `${SCHEMA}.full_load`;
const modelSql = (table) => `SELECT id, email, name, plan, score FROM ${table}`;

/** Polls a run until it has ended; returns it. */
async function waitForRun(worker, syncId, runId) {
  for (;;) {
    const run = await api(worker, "GET", `/api/v1/syncs/${syncId}/runs/${runId}`);
    if (["succeeded", "partial", "failed", "cancelled"].includes(run.status)) return run;
    await new Promise((r) => setTimeout(r, 250));
  }
}

function npx(cmd) {
  const r = spawnSync("npx", cmd, { cwd: root, encoding: "utf8", env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false" } });
  if (r.status !== 0) throw new Error(`npx ${cmd.join(" ")} failed: ${r.stderr}`);
}

async function api(worker, method, path, body) {
  const res = await worker.fetch(`http://bench${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function sinkState(base, name) {
  const res = await fetch(`${base}/state/${name}`);
  return res.json();
}

async function main() {
  process.env.WRANGLER_SEND_METRICS = "false";
  process.env.PGOPTIONS = "-c client_min_messages=warning";
  mkdirSync(dataDir, { recursive: true });
  const sinkModule = join(dataDir, "webhook-receiver.mjs");
  await build({
    entryPoints: [join(root, "test/servers/webhook-receiver.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: sinkModule,
    logLevel: "warning",
  });
  const { startWebhookReceiver } = await import(sinkModule);
  const sink = await startWebhookReceiver();
  const sinkBase = `http://127.0.0.1:${sink.port}`;

  const people = (table, n) => `CREATE TABLE ${table} AS SELECT g::text AS id, 'user' || g || '@example.com' AS email,
      'Person ' || g AS name, (ARRAY['free','pro','enterprise'])[1 + g % 3] AS plan, g % 1000 AS score
      FROM generate_series(1, ${n}) g;
    ALTER TABLE ${table} ADD PRIMARY KEY (id);`;
  psql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE; CREATE SCHEMA ${SCHEMA};
    ${rates.length > 0 ? people(TABLE, rows) : ""} ${fullRows.length > 0 ? people(FULL_TABLE, Math.max(...fullRows)) : ""}
    VACUUM ANALYZE;`);

  const persist = join(dataDir, "delivery-state");
  rmSync(persist, { recursive: true, force: true });
  npx(["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", persist]);
  const worker = await unstable_startWorker({
    config: join(root, "wrangler.toml"),
    bindings: {
      ADMIN_TOKEN: { type: "plain_text", value: ADMIN },
      ENCRYPTION_KEY: { type: "plain_text", value: ENCRYPTION_KEY },
      ALLOW_PRIVATE_DESTINATIONS: { type: "plain_text", value: "true" },
    },
    dev: {
      server: { hostname: "127.0.0.1", port: 0 },
      inspector: cpuProfileDir ? { port: INSPECTOR_PORT } : false,
      persist,
      logLevel: "error",
      watch: false,
    },
  });
  await worker.ready;

  const results = [];
  const fullLoads = [];
  try {
    const source = await api(worker, "POST", "/api/v1/sources", { name: "bench", type: "postgres", connection_string: connectionString });
    for (const n of fullRows) fullLoads.push(await fullLoad(worker, sinkBase, source, n));
    const model =
      rates.length > 0 &&
      (await api(worker, "POST", "/api/v1/models", {
        name: "bench people",
        source_id: source.id,
        sql: modelSql(TABLE),
        primary_key: "id",
      }));
    for (const rps of rates) {
      const name = `bench_${rps}_${batchSize}_${Date.now()}`;
      await fetch(`${sinkBase}/config/${name}`, { method: "POST", body: JSON.stringify({ idempotent: true, accept_rps: rps }) });
      const destination = await api(worker, "POST", "/api/v1/destinations", {
        name: `sink ${rps} req/s`,
        type: "webhook",
        config: { url: `${sinkBase}/hook/${name}`, batch_size: batchSize, rate_limit: { requests_per_second: rps, concurrency: 10 } },
      });
      const sync = await api(worker, "POST", "/api/v1/syncs", {
        name: `bench ${rps}`,
        model_id: model.id,
        destination_id: destination.id,
        mode: "upsert",
        schedule: { type: "manual" },
        field_mappings: ["email", "name", "plan", "score"].map((c) => ({ source: c, destination: c })),
      });
      const run = await api(worker, "POST", `/api/v1/syncs/${sync.id}/trigger`);
      const final = await waitForRun(worker, sync.id, run.id);
      const state = await sinkState(sinkBase, name);
      if (process.env.BENCH_DEBUG) {
        const t0 = Math.min(...state.deliveries.map((r) => r.at));
        console.error(`N=${rps}: ${state.deliveries.map((r) => `${r.at - t0}${r.status === 429 ? "!" : ""}`).join(" ")}`);
      }
      const applied = state.deliveries.filter((r) => r.status === 200);
      const first = Math.min(...state.deliveries.map((r) => r.at));
      const last = Math.max(...state.deliveries.map((r) => r.end));
      const windowMs = Math.max(1, last - first);
      const delivered = Object.keys(state.rows).length;
      results.push({
        rps,
        status: final.status,
        delivered,
        windowMs,
        runMs: final.duration_ms,
        requests: state.deliveries.length,
        applied: applied.length,
        throttled: state.deliveries.filter((r) => r.status === 429).length,
      });
    }
  } finally {
    await worker.dispose();
    await new Promise((resolve) => sink.server.close(resolve));
    rmSync(persist, { recursive: true, force: true });
    psql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  }

  for (const f of fullLoads) {
    const copyRate = f.rows / (f.copyMs / 1000);
    const rate = f.rows / (f.totalMs / 1000);
    console.log(
      `\n=== full load: first mirror run of ${f.rows.toLocaleString("en-US")} rows, webhook batch 1000, concurrency ${fullConcurrency}, no 429s ===`,
    );
    console.log(
      `  COPY (model) TO STDOUT (psql, best of ${copyRepeat}): ${(f.copyMs / 1000).toFixed(2)} s, ${Math.round(copyRate).toLocaleString("en-US")} rows/s\n` +
        `  trigger → every row at the webhook: ${(f.totalMs / 1000).toFixed(2)} s, ${Math.round(rate).toLocaleString("en-US")} rows/s, ` +
        `${(f.totalMs / f.copyMs).toFixed(1)}× COPY's time (target ≥ 100k rows/s, ≤ 10×)\n` +
        `  trigger → first request ${(f.firstMs / 1000).toFixed(2)} s; first request → last answer ${(f.deliveryMs / 1000).toFixed(2)} s ` +
        `(${Math.round(f.rows / (f.deliveryMs / 1000)).toLocaleString("en-US")} rows/s); ${f.requests} requests, ${f.throttled} × 429, ` +
        `peak ${f.peakInFlight} in flight at the webhook, busy ${(f.webhookBusyMs / 1000).toFixed(2)} s answering; ` +
        `${f.duplicates} duplicate creates; run ${f.status} after ${(f.runMs / 1000).toFixed(2)} s`,
    );
  }
  if (results.length === 0) return;
  console.log(`\n=== delivery: ${rows.toLocaleString("en-US")} rows, upsert, webhook batch size ${batchSize} ===`);
  console.log("webhook accepts N req/s; destination rate_limit N req/s; ceiling = N × batch size");
  for (const r of results) {
    const rate = r.delivered / (r.windowMs / 1000);
    const ceiling = r.rps * batchSize;
    console.log(
      `  N = ${String(r.rps).padStart(3)} req/s: ${Math.round(rate).toLocaleString("en-US").padStart(6)} rows/s vs ceiling ${ceiling.toLocaleString("en-US").padStart(6)} ` +
        `(${((100 * rate) / ceiling).toFixed(0)}%); ${r.delivered.toLocaleString("en-US")} rows in ${(r.windowMs / 1000).toFixed(1)} s of delivery, ` +
        `run ${(r.runMs / 1000).toFixed(1)} s (${r.status}); ${r.applied} requests applied, ${r.throttled} refused with 429`,
    );
  }
}

/** Best of `copyRepeat` timings of `COPY (model) TO STDOUT` through psql to /dev/null. */
function copyMs(sql) {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < copyRepeat; i++) {
    const t = performance.now();
    const r = spawnSync("psql", [...psqlArgs, "-c", `COPY (${sql}) TO STDOUT`], { stdio: ["ignore", "ignore", "pipe"] });
    if (r.status !== 0) throw new Error(`COPY failed: ${r.stderr}`);
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

/**
 * The first mirror run of an `n`-row model, timed from the trigger until the webhook holds every
 * row, against COPY of the same model in the same run.
 */
async function fullLoad(worker, sinkBase, source, n) {
  const sql = `${modelSql(FULL_TABLE)} WHERE id::int <= ${n}`;
  const copy = copyMs(sql);
  const name = `bench_full_${n}_${Date.now()}`;
  await fetch(`${sinkBase}/config/${name}`, { method: "POST", body: JSON.stringify({ idempotent: true }) });
  const model = await api(worker, "POST", "/api/v1/models", { name: `full load ${n}`, source_id: source.id, sql, primary_key: "id" });
  const destination = await api(worker, "POST", "/api/v1/destinations", {
    name: `full load sink ${n}`,
    type: "webhook",
    config: { url: `${sinkBase}/hook/${name}`, batch_size: 1000, rate_limit: { requests_per_second: 1000, concurrency: fullConcurrency } },
  });
  const sync = await api(worker, "POST", "/api/v1/syncs", {
    name: `full load ${n}`,
    model_id: model.id,
    destination_id: destination.id,
    mode: "mirror",
    schedule: { type: "manual" },
    field_mappings: ["email", "name", "plan", "score"].map((c) => ({ source: c, destination: c })),
  });
  const profiler = cpuProfileDir ? await startCpuProfile() : undefined;
  const started = Date.now();
  const run = await api(worker, "POST", `/api/v1/syncs/${sync.id}/trigger`);
  let summary;
  for (;;) {
    summary = await (await fetch(`${sinkBase}/state/${name}?summary=1`)).json();
    if (summary.row_count >= n) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const totalMs = Date.now() - started;
  if (profiler) await profiler.stop(join(cpuProfileDir, `full-load-${n}.cpuprofile`));
  const final = await waitForRun(worker, sync.id, run.id);
  const state = await sinkState(sinkBase, name);
  if (process.env.BENCH_DEBUG) console.error(JSON.stringify(final));
  const first = Math.min(...state.deliveries.map((r) => r.at));
  const last = Math.max(...state.deliveries.map((r) => r.end));
  return {
    rows: n,
    copyMs: copy,
    totalMs,
    firstMs: first - started,
    deliveryMs: last - first,
    requests: state.deliveries.length,
    throttled: state.deliveries.filter((r) => r.status === 429).length,
    peakInFlight: state.stats.peak_in_flight,
    // The webhook's own time (arrival to answer, summed): its share of the delivery window.
    webhookBusyMs: state.deliveries.reduce((sum, r) => sum + (r.end - r.at), 0),
    duplicates: state.stats.duplicate_creates,
    status: final.status,
    runMs: final.duration_ms,
  };
}

await main();
