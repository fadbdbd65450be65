/**
 * `node bench/neon.mjs [--rows 1000000] [--repeat 3] [--page-rows 100000] [--extract]`: Neon's route, read only,
 * against `psql COPY (model) TO STDOUT` in the same run. The driver in workerd (bench/worker.ts
 * `/read`) reaches the local Postgres through the Neon-style WebSocket proxy of test/servers/wsproxy.ts
 * (in this Node process), as it reaches Neon; TCP COPY for comparison. Per WebSocket read it also
 * prints the bytes the proxy piped and this process' CPU time over the read (the proxy's cost: the
 * process does nothing else meanwhile). Samples are interleaved, each route's best and spread printed.
 */
import { mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { unstable_startWorker } from "wrangler";
import { startWsProxy } from "../test/servers/wsproxy.ts";
import { PG_URL, psql, timedPsql } from "./psql.mjs";
import { rowExpr } from "./sources.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const value = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? Number(args[i + 1].replaceAll("_", "")) : fallback;
};
const n = value("rows", 1_000_000);
const repeats = value("repeat", 3);
const pageRows = value("page-rows", 100_000);
// --compare <dir>: the same WebSocket routes also through <dir>'s code (e.g. an export of an older
// commit with this bench copied in), interleaved, so before and after share the run's conditions.
const compare = args.includes("--compare") ? args[args.indexOf("--compare") + 1] : null;
const only = args.includes("--only") ? args[args.indexOf("--only") + 1].split(",") : null;
// --extract: also the engine's extraction (read, hash, partition, chunks made but not stored) per route.
const withExtract = args.includes("--extract");
const MODEL = "SELECT id, email, name, city, score, amount, active, created_at, plan, token FROM retl_bench.people";

process.env.WRANGLER_SEND_METRICS = "false";
process.env.PGOPTIONS = "-c client_min_messages=warning";
psql(`DROP SCHEMA IF EXISTS retl_bench CASCADE; CREATE SCHEMA retl_bench;
  CREATE UNLOGGED TABLE retl_bench.people AS SELECT ${rowExpr("i")} FROM generate_series(1::bigint, ${n}) i;
  ALTER TABLE retl_bench.people ADD PRIMARY KEY (id); VACUUM ANALYZE retl_bench.people;`);
psql(`SELECT count(*) FROM (${MODEL}) m`);

const dataDir = join(here, ".data");
mkdirSync(dataDir, { recursive: true });
const persist = join(dataDir, "wrangler-neon-state");
const worker = await unstable_startWorker({
  config: join(here, "wrangler.toml"),
  dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, persist, logLevel: "error", watch: false },
});
await worker.ready;
const before = compare
  ? await unstable_startWorker({
      config: join(compare, "bench/wrangler.toml"),
      dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, persist: `${persist}-before`, logLevel: "error", watch: false },
    })
  : null;
await before?.ready;
const proxy = await startWsProxy();
// NEON_PROXY: another proxy (e.g. one under a profiler); the proxy's figures then count nothing.
const webSocketProxy = process.env.NEON_PROXY ?? `ws://127.0.0.1:${proxy.port}/v1`;
// With --compare, the other tree's proxy too: "before" routes go through it.
const beforeProxy = compare ? await (await import(join(compare, "test/servers/wsproxy.ts"))).startWsProxy() : null;
const beforeWebSocketProxy = beforeProxy && `ws://127.0.0.1:${beforeProxy.port}/v1`;

import { readdirSync, readFileSync } from "node:fs";
/** CPU ms (user + system) of a process, or undefined once it has gone. */
function cpuOf(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
}
/** Descendants of this process named workerd. */
function workerdPids() {
  const parents = new Map();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      parents.set(Number(d), {
        ppid: Number(stat.split(") ")[1].split(" ")[1]),
        name: stat.slice(stat.indexOf("(") + 1, stat.indexOf(")")),
      });
    } catch {}
  }
  const mine = (pid) => {
    for (let p = pid; p > 1; p = parents.get(p)?.ppid ?? 0) if (p === process.pid) return true;
    return false;
  };
  return [...parents].filter(([pid, p]) => p.name === "workerd" && mine(pid)).map(([pid]) => pid);
}
/** Postgres backends serving the proxy's connections (cmdline names the client port), with their CPU so far. */
function backendCpu(seen, counts) {
  for (const pid of seen.keys()) seen.set(pid, cpuOf(pid) ?? seen.get(pid));
  const ports = new Set(counts.ports.map(String));
  if (ports.size === seen.size) return;
  for (const d of readdirSync("/proc")) {
    if (seen.has(d)) continue;
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8");
      const m = /^postgres: .*\((\d+)\)/.exec(cmd);
      if (m && ports.has(m[1])) seen.set(d, cpuOf(d) ?? seen.get(d) ?? 0);
    } catch {}
  }
}

async function read(job, on = worker, path = "/read") {
  const counts = job.webSocketProxy === beforeWebSocketProxy && beforeProxy ? beforeProxy.bytes : proxy.bytes;
  const down = counts.down;
  const frames = counts.frames;
  const workerd = workerdPids();
  const workerdStart = workerd.reduce((a, p) => a + (cpuOf(p) ?? 0), 0);
  const backends = new Map();
  counts.ports.length = 0;
  const poll = setInterval(() => backendCpu(backends, counts), 20);
  const cpu = process.cpuUsage();
  const t = performance.now();
  const res = await on.fetch(`http://bench${path}`, {
    method: "POST",
    body: JSON.stringify({ connectionString: PG_URL, sql: MODEL, primaryKey: "id", ...job }),
  });
  const body = await res.json();
  const ms = performance.now() - t;
  clearInterval(poll);
  const workerdMs = workerd.reduce((a, p) => a + (cpuOf(p) ?? 0), 0) - workerdStart;
  const pgMs = [...backends.values()].reduce((a, b) => a + b, 0);
  if (!res.ok) throw new Error(body.error);
  if (body.rows !== n) throw new Error(`read ${body.rows} rows, expected ${n}`);
  const used = process.cpuUsage(cpu);
  return {
    ms,
    proxyBytes: counts.down - down,
    proxyFrames: counts.frames - frames,
    proxyCpuMs: (used.user + used.system) / 1000,
    proxySysMs: used.system / 1000,
    workerdMs,
    pgMs,
  };
}

const wsRoutes = {
  "ws copy (one read, unpaused)": (on, p) => read({ via: "copy", webSocketProxy: p, pageRows: 0 }, on),
  [`ws keyset copy pages of ${pageRows}`]: (on, p) => read({ via: "copy", webSocketProxy: p, pageRows }, on),
  "ws cursor pages": (on, p) => read({ via: "cursor", webSocketProxy: p, pageRows: 0 }, on),
};
// The engine's extraction as a first run does it (every value kept, 8 partitions), chunks discarded:
// the local R2 emulation's cost stays out, so before and after differ by the reading and the engine only.
const EXTRACT = {
  mapped: ["email", "name", "city", "score", "amount", "active", "created_at", "plan", "token"],
  partitions: 8,
  run: "neon",
  discardChunks: true,
};
const extract = (job, on, p) => read({ ...EXTRACT, ...job, ...(p ? { webSocketProxy: p } : {}) }, on, "/extract");
const extractRoutes = withExtract
  ? {
      "extract: tcp copy": (on) => extract({ via: "copy" }, on),
      [`extract: ws keyset copy pages of ${pageRows}`]: (on, p) => extract({ via: "copy", pageRows }, on, p),
      "extract: ws cursor pages": (on, p) => extract({ via: "cursor" }, on, p),
    }
  : {};
const routes = {
  psql: () => timedPsql(`COPY (${MODEL}) TO STDOUT`).then((ms) => ({ ms })),
  "tcp copy": () => read({ via: "copy" }),
  ...Object.fromEntries(
    Object.entries({ ...wsRoutes, ...extractRoutes }).flatMap(([name, run]) => [
      [name, () => run(worker, webSocketProxy)],
      ...(before ? [[`before: ${name}`, () => run(before, beforeWebSocketProxy)]] : []),
    ]),
  ),
};
if (beforeProxy)
  routes["ws copy (one read), before's proxy"] = () => read({ via: "copy", webSocketProxy: beforeWebSocketProxy, pageRows: 0 });
const samples = Object.fromEntries(Object.keys(routes).map((k) => [k, []]));
try {
  for (let i = 0; i < repeats; i++)
    for (const [name, run] of Object.entries(routes)) {
      if (only && name !== "psql" && !only.some((o) => name.includes(o))) continue;
      samples[name].push(await run());
    }
} finally {
  await worker.dispose();
  await before?.dispose();
  rmSync(`${persist}-before`, { recursive: true, force: true });
  proxy.server.close();
  beforeProxy?.server.close();
  rmSync(persist, { recursive: true, force: true });
  psql("DROP SCHEMA IF EXISTS retl_bench CASCADE");
}

const sec = (ms) => `${(ms / 1000).toFixed(2)} s`;
const psqlMs = samples.psql.map((s) => s.ms);
console.log(`${n.toLocaleString("en-US")} rows, ${repeats} samples each, interleaved; ratio = psql COPY time / route time`);
for (const [name, list] of Object.entries(samples)) {
  if (list.length === 0) continue;
  const ms = list.map((s) => s.ms);
  const ratios = list.map((s, i) => (psqlMs[i] ?? psqlMs[0]) / s.ms);
  let line = `  ${name.padEnd(38)} ${sec(Math.min(...ms))}–${sec(Math.max(...ms))}`;
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  if (name !== "psql")
    line += `  ratio ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)} (median ${median(ratios).toFixed(2)})`;
  if (list[0].proxyCpuMs !== undefined)
    line += `  this process' CPU ${sec(Math.min(...list.map((s) => s.proxyCpuMs)))} (system ${sec(Math.min(...list.map((s) => s.proxySysMs)))})`;
  const proxied = list.filter((s) => s.proxyBytes);
  if (proxied.length > 0) {
    const mb = proxied[0].proxyBytes / 1048576;
    const cpu = proxied.map((s) => s.proxyCpuMs);
    line += `  proxy ${mb.toFixed(0)} MiB, proxy CPU ${sec(Math.min(...cpu))}–${sec(Math.max(...cpu))}`;
    line += ` (${(mb / (Math.min(...cpu) / 1000)).toFixed(0)} MiB per CPU s, ${Math.round(proxied[0].proxyBytes / proxied[0].proxyFrames)} B/frame)`;
    line += `; CPU workerd ${sec(Math.min(...proxied.map((s) => s.workerdMs)))}, Postgres backend (sampled) ${sec(Math.min(...proxied.map((s) => s.pgMs)))}`;
  } else if (list[0].workerdMs !== undefined) {
    line += `  CPU workerd ${sec(Math.min(...list.map((s) => s.workerdMs)))}`;
  }
  console.log(line);
}
