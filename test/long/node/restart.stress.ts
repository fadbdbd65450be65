import { type ChildProcess, execFileSync, spawn } from "node:child_process";
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
 *
 * Then the same during the extraction of a model of STRESS_EXTRACT_ROWS (default 1,000,000) rows,
 * read in keyset pages of 100,000: (1) the warehouse drops the read mid-extraction (its backend
 * terminated, 57P01 as in a restart; `STRESS_PG_RESTART=1` restarts the local Postgres 15 cluster
 * instead, which also cuts every other session on it), and (2) the whole stack is killed
 * mid-extraction and started again. Each run must resume from its last finished page (not from
 * the first), and finish with the destination equal to the model and no record created twice.
 * Prints seconds from the interruption to the run's end, pages read, re-read rows, batches resent.
 */

const ROOT = path.join(import.meta.dirname, "../../..");
const WAREHOUSE_URL = process.env.TEST_WAREHOUSE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const ROWS = Number(process.env.STRESS_RESTART_ROWS ?? 30_000);
const EXTRACT_ROWS = Number(process.env.STRESS_EXTRACT_ROWS ?? 1_000_000);
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

/** A `wrangler dev` stack with a webhook receiver, and the API and run helpers the extraction scenarios share. */
async function stack(endpoint: string) {
  const state = mkdtempSync(path.join(tmpdir(), "retl-extract-"));
  cleanups.push(() => rmSync(state, { recursive: true, force: true }));
  await run("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", state]);
  const receiver: { server: Server; port: number } = await startWebhookReceiver();
  cleanups.push(() => new Promise<void>((r) => receiver.server.close(() => r())));
  const port = await freePort();
  const dev = { child: await startDev(state, port) };
  cleanups.push(() => killGroup(dev.child));
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
    (await (await fetch(`http://127.0.0.1:${receiver.port}/state/${endpoint}`)).json()) as ReceiverState;
  await fetch(`http://127.0.0.1:${receiver.port}/config/${endpoint}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ idempotent: true }),
  });
  return { state, port, dev, api, receiverState, receiverPort: receiver.port };
}

type RunView = { status: string; progress: Record<string, number>; rows_failed: number; rows_processed: number };

/** A mirror sync of a new EXTRACT_ROWS-row table to the receiver's `endpoint`; returns the sync's id and table. */
async function bigSync(s: Awaited<ReturnType<typeof stack>>, endpoint: string) {
  const table = `resume_${endpoint}_${process.pid}_${Date.now()}`;
  await warehouse(`CREATE TABLE ${table} (id text PRIMARY KEY, email text, plan text)`);
  cleanups.push(async () => void (await warehouse(`DROP TABLE IF EXISTS ${table}`)));
  await warehouse(
    `INSERT INTO ${table} SELECT g::text, 'user' || g || '@example.com', CASE WHEN g % 3 = 0 THEN 'pro' ELSE 'free' END FROM generate_series(1, ${EXTRACT_ROWS}) g`,
  );
  await warehouse(`ANALYZE ${table}`);
  const source = await s.api("POST", "/sources", { name: "warehouse", type: "postgres", connection_string: WAREHOUSE_URL });
  const model = await s.api("POST", "/models", {
    name: table,
    source_id: source.id,
    sql: `SELECT id, email, plan FROM ${table}`,
    primary_key: "id",
  });
  const destination = await s.api("POST", "/destinations", {
    name: "receiver",
    type: "webhook",
    config: { url: `http://127.0.0.1:${s.receiverPort}/hook/${endpoint}`, batch_size: 1000 },
  });
  const sync = await s.api("POST", "/syncs", {
    name: endpoint,
    model_id: model.id,
    destination_id: destination.id,
    mode: "mirror",
    schedule: { type: "manual" },
    field_mappings: [
      { source: "email", destination: "Email" },
      { source: "plan", destination: "Plan" },
    ],
  });
  return { table, syncId: sync.id };
}

/** Polls the run until `done(run)` or `ms` pass. */
async function pollRun(
  s: Awaited<ReturnType<typeof stack>>,
  syncId: string,
  runId: string,
  done: (r: RunView) => boolean,
  ms: number,
  every = 50,
) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const r = await s.api<RunView>("GET", `/syncs/${syncId}/runs/${runId}`).catch(() => undefined);
    if (r && done(r)) return r;
    await sleep(every);
  }
  return undefined;
}

const FINAL = ["succeeded", "partial", "failed", "cancelled"];

/** The destination equals the model and no record was created twice. */
async function expectConverged(s: Awaited<ReturnType<typeof stack>>, table: string): Promise<ReceiverState> {
  const after = await s.receiverState();
  const rows = (await warehouse(`SELECT id, email, plan FROM ${table}`)).rows as { id: string; email: string; plan: string }[];
  expect(Object.keys(after.rows).length).toBe(rows.length);
  let wrong = 0;
  for (const r of rows) {
    const got = after.rows[r.id];
    if (got?.Email !== r.email || got?.Plan !== r.plan) wrong++;
  }
  expect(wrong, "rows whose values differ").toBe(0);
  expect(after.stats.duplicate_creates).toBe(0);
  return after;
}

describe("an interrupted extraction resumes from its last page", () => {
  it(`a ${EXTRACT_ROWS}-row extraction: the warehouse drops the read mid-way`, async () => {
    const s = await stack("pgdrop");
    const { table, syncId } = await bigSync(s, "pgdrop");
    const trigger = await s.api("POST", `/syncs/${syncId}/trigger`);
    const midway = await pollRun(
      s,
      syncId,
      trigger.id,
      (r) => (r.progress.rows_read ?? 0) >= EXTRACT_ROWS * 0.3 || FINAL.includes(r.status),
      120_000,
    );
    expect(midway?.status, "the extraction was still running when the warehouse dropped it").toBe("running");
    // A run is "running" while it delivers too: the drop must land inside the extraction (raise STRESS_EXTRACT_ROWS).
    expect(midway?.progress.rows_read, "rows read when the warehouse dropped it").toBeLessThan(EXTRACT_ROWS);
    const restart = process.env.STRESS_PG_RESTART === "1";
    const droppedAt = Date.now();
    if (restart) execFileSync("pg_ctlcluster", ["--skip-systemctl-redirect", "15", "main", "restart"], { stdio: "ignore" });
    else
      await warehouse(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'edge-reverse-etl' AND strpos(query, '${table}') > 0 AND pid <> pg_backend_pid()`,
      );
    const finished = await pollRun(s, syncId, trigger.id, (r) => FINAL.includes(r.status), 5 * 60_000, 500);
    const seconds = (Date.now() - droppedAt) / 1000;
    const after = await expectConverged(s, table);
    console.log(
      `extract, warehouse ${restart ? "restarted" : "backend terminated"}: ${JSON.stringify({
        rows: EXTRACT_ROWS,
        rows_read_when_dropped: midway?.progress.rows_read,
        drop_to_finished_seconds: seconds,
        warehouse_retries: finished?.progress.warehouse_retries,
        extract_resumes: finished?.progress.extract_resumes,
        pages_read: finished?.progress.pages_read,
        rows_reread: finished?.progress.rows_reread,
        batches_resent: finished?.progress.batches_resent,
        duplicate_creates: after.stats.duplicate_creates,
      })}`,
    );
    expect(finished?.status).toBe("succeeded");
    expect(finished?.progress).toMatchObject({ extract_resumes: 1, rows_read: EXTRACT_ROWS });
    // Pages of 100,000: the rows read again are those of the interrupted page at most.
    expect(finished?.progress.rows_reread ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(100_000);
  });

  it(`a ${EXTRACT_ROWS}-row extraction: the whole stack killed mid-way resumes within about a minute`, async () => {
    const s = await stack("stackkill");
    const { table, syncId } = await bigSync(s, "stackkill");
    const trigger = await s.api("POST", `/syncs/${syncId}/trigger`);
    const midway = await pollRun(
      s,
      syncId,
      trigger.id,
      (r) => (r.progress.rows_read ?? 0) >= EXTRACT_ROWS * 0.3 || FINAL.includes(r.status),
      120_000,
    );
    expect(midway?.status, "the extraction was still running when the stack was killed").toBe("running");
    // A run is "running" while it delivers too: the drop must land inside the extraction (raise STRESS_EXTRACT_ROWS).
    expect(midway?.progress.rows_read, "rows read when the stack was killed").toBeLessThan(EXTRACT_ROWS);
    await killGroup(s.dev.child);
    const killedAt = Date.now();
    s.dev.child = await startDev(s.state, s.port);
    const upSeconds = (Date.now() - killedAt) / 1000;
    const resumed = await pollRun(
      s,
      syncId,
      trigger.id,
      (r) => (r.progress.extract_resumes ?? 0) >= 1 || FINAL.includes(r.status),
      4 * 60_000,
      250,
    );
    const resumeSeconds = (Date.now() - killedAt) / 1000;
    const finished = await pollRun(s, syncId, trigger.id, (r) => FINAL.includes(r.status), 5 * 60_000, 500);
    const seconds = (Date.now() - killedAt) / 1000;
    const after = await expectConverged(s, table);
    console.log(
      `extract, stack killed: ${JSON.stringify({
        rows: EXTRACT_ROWS,
        rows_read_when_killed: midway?.progress.rows_read,
        wrangler_up_seconds: upSeconds,
        kill_to_resumed_seconds: resumeSeconds,
        kill_to_finished_seconds: seconds,
        extract_resumes: finished?.progress.extract_resumes,
        pages_read: finished?.progress.pages_read,
        batches_resent: finished?.progress.batches_resent,
        duplicate_creates: after.stats.duplicate_creates,
      })}`,
    );
    expect(resumed, "the extraction resumed").toBeDefined();
    // The watchdog alarm stands 45 s ahead while a step runs (it was 5 minutes).
    expect(resumeSeconds, "seconds from the kill to the resumed extraction").toBeLessThanOrEqual(75);
    expect(finished?.status).toBe("succeeded");
    expect(finished?.progress).toMatchObject({ extract_resumes: 1, rows_read: EXTRACT_ROWS });
  });
});
