import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import autocannon from "autocannon";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWebhookReceiver } from "../../servers/webhook-receiver";
import { startWranglerDev, type WranglerDev } from "../../servers/wrangler-dev";
import { percentile, table as textTable } from "../lib";

/**
 * Load (b): API throughput and latency under a load generator (autocannon) against a real
 * `wrangler dev` of the product, started here on a free port with its own --persist-to directory
 * and the D1 migrations applied.
 *
 * The baseline is a bare Hono route in the same process and isolate: test/long/bench/bench-worker.ts
 * is the product's own default export plus `GET /__bare/hello` answered by a bare `new Hono()`
 * (the product gets no benchmark route). The product's routes measured:
 * - the floor of any D1 read: a bare Hono route (`/__bare/d1`) making one D1 round trip in a session;
 * - `GET /api/v1/syncs` without a token: the middleware stack down to the 401 (no D1);
 * - `GET /api/v1/syncs` with an API token: token lookup in D1, the list query (20 syncs);
 * - `POST /api/v1/syncs/{id}/trigger` with the token, across 20 syncs: D1, the SyncObject's RPC,
 *   the run record; each accepted trigger makes or joins a run (coalesced), which then really
 *   runs against the local Postgres and the webhook receiver while the load goes on.
 *
 * Each route gets STRESS_API_SECONDS (default 10; the read routes in 3 alternating slices, so
 * the machine's drift falls on all alike) with STRESS_API_CONNECTIONS (default 10) connections;
 * requests/s, p50 and p99 over every response are printed next to the baseline's, with the ratio,
 * and the CPU wrangler dev's processes spent per request (steadier than latency on a shared machine).
 */

const CONFIG = path.join(import.meta.dirname, "../bench/wrangler.toml");
const WAREHOUSE_URL = process.env.TEST_WAREHOUSE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const SECONDS = Number(process.env.STRESS_API_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.STRESS_API_CONNECTIONS ?? 10);
const ROUNDS = 3;
const ADMIN = `bench_admin_${process.pid}`;
const SYNCS = 20;

let worker: WranglerDev | undefined;
let base = "";
let receiverServer: import("node:http").Server | undefined;
let table = "";

async function api<T = { id: string }>(method: string, apiPath: string, body?: unknown, token = ADMIN): Promise<T> {
  const res = await fetch(`${base}/api/v1${apiPath}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${apiPath} answered ${res.status}: ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

async function warehouse(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: WAREHOUSE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

interface Figure {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  total: number;
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
  cpuPerRequest: number;
}

/** Clock ticks per second of /proc/<pid>/stat's CPU times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/**
 * CPU ms used so far by the processes of group `pgid` (wrangler dev: wrangler, esbuild, workerd),
 * from /proc; 0 where there is no /proc. A throughput-bound route's cost per request, unlike
 * its latency, does not move with what else the machine is running.
 */
function groupCpuMs(pgid: number): number {
  let ms = 0;
  let pids: string[] = [];
  try {
    pids = readdirSync("/proc").filter((p) => /^\d+$/.test(p));
  } catch {
    return 0;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // Fields after the command name: state, ppid, pgrp, …, utime (14th field), stime (15th).
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) !== pgid) continue;
      ms += ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
    } catch {
      // the process ended meanwhile
    }
  }
  return ms;
}

/** What one route collected over all its slices: every response time and status. */
class Sample {
  latencies: number[] = [];
  statuses: Record<string, number> = {};
  seconds = 0;
  /** CPU ms of wrangler dev's processes while the route was under load. */
  serverCpuMs = 0;
  errors = 0;
  timeouts = 0;

  constructor(readonly name: string) {}

  figure(): Figure {
    const total = this.latencies.length;
    return {
      name: this.name,
      rps: total / this.seconds,
      p50: percentile(this.latencies, 50),
      p99: percentile(this.latencies, 99),
      total,
      statuses: this.statuses,
      errors: this.errors,
      timeouts: this.timeouts,
      cpuPerRequest: this.serverCpuMs / Math.max(total, 1),
    };
  }
}

/** Runs autocannon for `seconds` and adds every response to `sample`. */
async function slice(sample: Sample, seconds: number, opts: Partial<autocannon.Options>): Promise<void> {
  const instance = autocannon({ url: base, connections: CONNECTIONS, duration: seconds, timeout: 30, ...opts });
  instance.on("response", (_client: unknown, status: number, _bytes: number, ms: number) => {
    sample.latencies.push(ms);
    sample.statuses[String(status)] = (sample.statuses[String(status)] ?? 0) + 1;
  });
  const started = Date.now();
  const cpuBefore = groupCpuMs(worker?.pgid ?? -1);
  const result = await instance;
  sample.serverCpuMs += groupCpuMs(worker?.pgid ?? -1) - cpuBefore;
  sample.seconds += (Date.now() - started) / 1000;
  sample.errors += result.errors;
  sample.timeouts += result.timeouts;
}

describe("load: API throughput and p99 against wrangler dev, next to a bare Hono route", () => {
  let token = "";
  const syncIds: string[] = [];

  beforeAll(async () => {
    const receiver = await startWebhookReceiver();
    receiverServer = receiver.server;
    worker = await startWranglerDev({
      config: CONFIG,
      vars: { ADMIN_TOKEN: ADMIN, ENCRYPTION_KEY: "YmVuY2gtdGVzdC1rZXktMzItYnl0ZXMtbG9uZy4uLi4=" },
      args: ["--log-level", "warn"],
      ready: ["/__bare/hello", "/api/v1/openapi.json"],
      timeoutMs: 90_000,
    });
    base = worker.base;

    // A tiny model, a webhook destination on the receiver, 20 manual syncs, a write-scoped token.
    table = `api_load_${process.pid}_${Date.now()}`;
    await warehouse(`CREATE TABLE ${table} (id text PRIMARY KEY, email text, name text, plan text, score int)`);
    await warehouse(`INSERT INTO ${table} SELECT g::text, 'u' || g || '@example.com', 'N ' || g, 'free', g FROM generate_series(1, 20) g`);
    const source = await api("POST", "/sources", { name: "warehouse", type: "postgres", connection_string: WAREHOUSE_URL });
    const model = await api("POST", "/models", {
      name: table,
      source_id: source.id,
      sql: `SELECT id, email, name, plan, score FROM ${table}`,
      primary_key: "id",
    });
    const destination = await api("POST", "/destinations", {
      name: "receiver",
      type: "webhook",
      config: { url: `http://127.0.0.1:${receiver.port}/hook/${table}`, rate_limit: { requests_per_second: 1000, concurrency: 50 } },
    });
    for (let i = 0; i < SYNCS; i++) {
      const sync = await api("POST", "/syncs", {
        name: `api load ${i}`,
        model_id: model.id,
        destination_id: destination.id,
        mode: "upsert",
        schedule: { type: "manual" },
        field_mappings: [{ source: "email", destination: "Email" }],
      });
      syncIds.push(sync.id);
    }
    token = (await api<{ token: string }>("POST", "/tokens", { name: "load", scope: "write" })).token;
  }, 180_000);

  afterAll(async () => {
    if (worker) await worker.stop();
    if (table) await warehouse(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await new Promise<void>((resolve) => (receiverServer ? receiverServer.close(() => resolve()) : resolve()));
  }, 60_000);

  /** Waits until every run of the 20 syncs is final. */
  async function runsSettled(): Promise<void> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const lists = await Promise.all(syncIds.map((id) => api<{ data: { status: string }[] }>("GET", `/syncs/${id}/runs?limit=200`)));
      const open = lists.flatMap((l) => l.data).filter((r) => r.status === "queued" || r.status === "running").length;
      if (open === 0) return;
      if (Date.now() > deadline) throw new Error(`${open} runs still open after 120 s`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  it("prints requests/s and p50/p99 for each route next to the bare Hono baseline", async () => {
    const auth = { authorization: `Bearer ${token}` };
    let next = 0;
    const triggerRequests = [
      {
        method: "POST",
        headers: auth,
        setupRequest: (req: autocannon.Request) => ({ ...req, path: `/api/v1/syncs/${syncIds[next++ % syncIds.length]}/trigger` }),
      },
    ];
    // Warm up the isolate, the D1 connection and the SyncObjects before measuring.
    await autocannon({ url: `${base}/__bare/hello`, connections: 2, duration: 3 });
    await autocannon({ url: `${base}/api/v1/syncs`, connections: 2, duration: 3, headers: auth });
    await autocannon({ url: base, connections: 2, duration: 2, requests: triggerRequests });
    // The warm-up's triggers started runs: let them finish before the read routes are measured.
    await runsSettled();

    // The read routes in turns (ROUNDS slices each), so the machine's drift (other processes on
    // its 2 cores) falls on all of them alike; then the triggers, which start runs in the background.
    const bare = new Sample("bare Hono route (baseline)");
    const bareD1 = new Sample("bare Hono route + one D1 query (SELECT 1)");
    const unauthorized = new Sample("GET /api/v1/syncs, no token (401)");
    const list = new Sample("GET /api/v1/syncs, API token");
    const trigger = new Sample("POST /api/v1/syncs/{id}/trigger");
    const triggerOne = new Sample("POST /api/v1/syncs/{id}/trigger, 1 connection");
    const sliceSeconds = Math.max(1, Math.round(SECONDS / ROUNDS));
    for (let round = 0; round < ROUNDS; round++) {
      await slice(bare, sliceSeconds, { url: `${base}/__bare/hello` });
      await slice(bareD1, sliceSeconds, { url: `${base}/__bare/d1` });
      await slice(unauthorized, sliceSeconds, { url: `${base}/api/v1/syncs` });
      await slice(list, sliceSeconds, { url: `${base}/api/v1/syncs`, headers: auth });
    }
    await slice(triggerOne, SECONDS, { url: base, connections: 1, requests: triggerRequests });
    await slice(trigger, SECONDS, { url: base, requests: triggerRequests });
    const figures = [bare, bareD1, unauthorized, list, triggerOne, trigger].map((f) => f.figure());
    const runsAfter = await Promise.all(syncIds.map((id) => api<{ data: { status: string }[] }>("GET", `/syncs/${id}/runs?limit=200`)));

    const listed = await api<{ data: { last_run: unknown }[] }>("GET", "/syncs", undefined, token);
    const baseline = figures[0] as Figure;
    console.log(
      [
        "",
        `LOAD (b) — wrangler dev (local workerd), autocannon, ${CONNECTIONS} connections (unless noted), ${ROUNDS * sliceSeconds} s per route (read routes in ${ROUNDS} alternating slices), same process and isolate as the baseline`,
        textTable([
          [
            "route",
            "requests/s",
            "p50 ms",
            "p99 ms",
            "server CPU ms/req",
            "requests",
            "statuses",
            "errors",
            "req/s vs baseline",
            "p99 vs baseline",
          ],
          ...figures.map((f) => [
            f.name,
            f.rps.toFixed(0),
            f.p50.toFixed(1),
            f.p99.toFixed(1),
            f.cpuPerRequest.toFixed(2),
            f.total,
            Object.entries(f.statuses)
              .map(([k, v]) => `${k}×${v}`)
              .join(" "),
            f.errors,
            `${((f.rps / baseline.rps) * 100).toFixed(1)}%`,
            `${(f.p99 / Math.max(baseline.p99, 1)).toFixed(1)}×`,
          ]),
        ]),
        `runs made by the triggers (coalesced per sync): ${runsAfter.reduce((n, r) => n + r.data.length, 0)}`,
        `GET /api/v1/syncs lists ${listed.data.length} syncs, ${listed.data.filter((s) => s.last_run).length} with their last run`,
      ].join("\n"),
    );

    for (const f of figures) {
      expect(f.errors, `${f.name}: connection errors`).toBe(0);
      expect(f.timeouts, `${f.name}: timeouts`).toBe(0);
      expect(f.total, `${f.name}: requests answered`).toBeGreaterThan(0);
    }
    const [bareF, bareD1F, unauthorizedF, listF, triggerOneF, triggerF] = figures as [Figure, Figure, Figure, Figure, Figure, Figure];
    expect(Object.keys(bareF.statuses)).toEqual(["200"]);
    expect(Object.keys(bareD1F.statuses)).toEqual(["200"]);
    expect(Object.keys(unauthorizedF.statuses)).toEqual(["401"]);
    expect(Object.keys(listF.statuses)).toEqual(["200"]);
    expect(Object.keys(triggerOneF.statuses)).toEqual(["202"]);
    expect(Object.keys(triggerF.statuses)).toEqual(["202"]);
  }, 300_000);
});
