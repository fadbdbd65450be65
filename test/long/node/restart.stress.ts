import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { startWebhookReceiver } from "../../servers/webhook-receiver";
import type { ReceiverState } from "../../servers/webhook-receiver-types";

/**
 * The scenario of issue 12, with real processes: a mirror sync of STRESS_RESTART_ROWS (default
 * 30,000) rows to a webhook limited to 20 requests/s; while its batches are being delivered the
 * whole `wrangler dev` process group (wrangler, esbuild, workerd) is killed with SIGKILL, then
 * started again on the same --persist-to directory. The local queue loses its messages with the
 * process; the Durable Object's storage and alarm survive. The run must finish by itself within
 * 2 minutes of the restart, the destination equal to the model, no record created twice. Prints
 * the seconds from restart to the run's end and the batches resent.
 */

const ROOT = path.join(import.meta.dirname, "../../..");
const WAREHOUSE_URL = process.env.TEST_WAREHOUSE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const ROWS = Number(process.env.STRESS_RESTART_ROWS ?? 30_000);
const ADMIN = `restart_admin_${process.pid}`;
const VARS = {
  ADMIN_TOKEN: ADMIN,
  ENCRYPTION_KEY: "cmVzdGFydC10ZXN0LWtleS0zMi1ieXRlcy4uLi4uLi4=",
  ALLOW_PRIVATE_DESTINATIONS: "true",
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: "ignore", env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false" } });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(" ")} exited with ${code}`))));
  });
}

/** `wrangler dev` on `state` in its own process group. */
async function startDev(state: string, port: number): Promise<ChildProcess> {
  const inspector = await freePort();
  const child = spawn(
    "npx",
    [
      "wrangler",
      "dev",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(inspector),
      "--persist-to",
      state,
      "--show-interactive-dev-session=false",
      ...Object.entries(VARS).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
    ],
    { cwd: ROOT, stdio: "ignore", detached: true, env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
  );
  const deadline = Date.now() + 90_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/api/v1/openapi.json`)).ok) return child;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error("wrangler dev did not start");
    await sleep(200);
  }
}

/** SIGKILL to the whole process group, as `kill -9` of every process would. */
async function killGroup(child: ChildProcess): Promise<void> {
  const pgid = child.pid;
  if (pgid === undefined) return;
  try {
    process.kill(-pgid, "SIGKILL");
  } catch {
    return;
  }
  for (;;) {
    try {
      process.kill(-pgid, 0);
    } catch {
      return;
    }
    await sleep(50);
  }
}

async function warehouse(sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: WAREHOUSE_URL });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe("a run always finishes", () => {
  it(`finishes a ${ROWS}-row run by itself after the whole stack is killed mid-delivery`, async () => {
    const state = mkdtempSync(path.join(tmpdir(), "retl-restart-"));
    cleanups.push(() => rmSync(state, { recursive: true, force: true }));
    await run("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", state]);
    const receiver: { server: Server; port: number } = await startWebhookReceiver();
    cleanups.push(() => new Promise<void>((r) => receiver.server.close(() => r())));
    const port = await freePort();
    let dev = await startDev(state, port);
    cleanups.push(() => killGroup(dev));
    const base = `http://127.0.0.1:${port}`;
    const api = async <T = { id: string }>(method: string, apiPath: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${base}/api/v1${apiPath}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${apiPath} answered ${res.status}: ${text}`);
      return JSON.parse(text) as T;
    };
    const receiverState = async (): Promise<ReceiverState> =>
      (await (await fetch(`http://127.0.0.1:${receiver.port}/state/restart`)).json()) as ReceiverState;

    const table = `restart_${process.pid}_${Date.now()}`;
    await warehouse(`CREATE TABLE ${table} (id text PRIMARY KEY, email text, plan text)`);
    cleanups.push(async () => void (await warehouse(`DROP TABLE IF EXISTS ${table}`)));
    await warehouse(
      `INSERT INTO ${table} SELECT g::text, 'user' || g || '@example.com', CASE WHEN g % 3 = 0 THEN 'pro' ELSE 'free' END FROM generate_series(1, ${ROWS}) g`,
    );
    await fetch(`http://127.0.0.1:${receiver.port}/config/restart`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ idempotent: true }),
    });
    const source = await api("POST", "/sources", { name: "warehouse", type: "postgres", connection_string: WAREHOUSE_URL });
    const model = await api("POST", "/models", {
      name: table,
      source_id: source.id,
      sql: `SELECT id, email, plan FROM ${table}`,
      primary_key: "id",
    });
    const destination = await api("POST", "/destinations", {
      name: "receiver",
      type: "webhook",
      config: { url: `http://127.0.0.1:${receiver.port}/hook/restart`, batch_size: 100, rate_limit: { requests_per_second: 20 } },
    });
    const sync = await api("POST", "/syncs", {
      name: "restart",
      model_id: model.id,
      destination_id: destination.id,
      mode: "mirror",
      schedule: { type: "manual" },
      field_mappings: [
        { source: "email", destination: "Email" },
        { source: "plan", destination: "Plan" },
      ],
    });
    const trigger = await api("POST", `/syncs/${sync.id}/trigger`);

    // Mid-delivery: about 90 of 300 batches applied.
    const killAt = Math.floor(ROWS / 100 / 3.3);
    for (let i = 0; (await receiverState()).requests < killAt; i++) {
      if (i > 1200) throw new Error("delivery never got going");
      await sleep(100);
    }
    await killGroup(dev);
    const applied = (await receiverState()).requests;
    await sleep(2_000);
    const restartedAt = Date.now();
    dev = await startDev(state, port);
    const upSeconds = (Date.now() - restartedAt) / 1000;

    let finished: { status: string; progress: Record<string, number>; rows_failed: number } | undefined;
    while (Date.now() - restartedAt < 4 * 60_000) {
      const r = await api<{ status: string; progress: Record<string, number>; rows_failed: number }>(
        "GET",
        `/syncs/${sync.id}/runs/${trigger.id}`,
      );
      if (["succeeded", "partial", "failed", "cancelled"].includes(r.status)) {
        finished = r;
        break;
      }
      await sleep(500);
    }
    const seconds = (Date.now() - restartedAt) / 1000;
    const after = await receiverState();
    console.log(
      `restart: ${JSON.stringify({ rows: ROWS, batches_applied_before_kill: applied, wrangler_up_seconds: upSeconds, restart_to_finished_seconds: seconds, batches_resent: finished?.progress.batches_resent, replays: after.stats.replays })}`,
    );
    expect(finished, "the run finished").toBeDefined();
    expect(finished?.status).toBe("succeeded");
    expect(seconds, "seconds from restart to the run's end").toBeLessThanOrEqual(120);
    const rows = (await warehouse(`SELECT id, email, plan FROM ${table}`)).rows as { id: string; email: string; plan: string }[];
    expect(Object.keys(after.rows).length).toBe(rows.length);
    for (const r of rows) expect(after.rows[r.id], r.id).toEqual({ Email: r.email, Plan: r.plan });
    expect(after.stats.duplicate_creates).toBe(0);
    expect(Object.values(after.creates).filter((n) => n > 1)).toEqual([]);
  });
});
