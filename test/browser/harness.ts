import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { chromium, type BrowserContext } from "playwright-core";

/** Debian's Chromium; the browser tests are skipped when it is absent. */
export const CHROMIUM = "/usr/bin/chromium";
/** Whether the browser tests can run here. */
export const hasChromium = existsSync(CHROMIUM);

/** The Postgres the browser tests use as the warehouse (same default as the workers tests). */
export const WAREHOUSE_URL = process.env.TEST_WAREHOUSE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

const ROOT = path.join(import.meta.dirname, "../..");

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
export function freePort(): Promise<number> {
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

function run(args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("npx", args, { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false" } });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`npx ${args.join(" ")} exited with ${code}:\n${out}`))));
  });
}

/** A `wrangler dev` of this project with its own state directory, and how to stop it. */
export interface Worker {
  base: string;
  token: string;
  /** Everything wrangler printed, for failure messages. */
  output: () => string;
  stop: () => Promise<void>;
}

/**
 * Starts `wrangler dev` on a free port with its own `--persist-to` directory, after applying the D1
 * migrations there, and waits until the API answers. It runs in its own process group, so `stop()`
 * ends wrangler, esbuild and workerd together.
 */
export async function startWorker(token: string): Promise<Worker> {
  const state = mkdtempSync(path.join(tmpdir(), "retl-browser-"));
  await run(["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", state], ROOT);
  const [port, inspector] = [await freePort(), await freePort()];
  const child: ChildProcess = spawn(
    "npx",
    [
      "wrangler", "dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspector),
      "--persist-to", state, "--show-interactive-dev-session=false",
      "--var", `ADMIN_TOKEN:${token}`,
      "--var", "ENCRYPTION_KEY:YnJvd3Nlci10ZXN0LWtleS0zMi1ieXRlcy4uLi4uLi4=",
      "--var", "ALLOW_PRIVATE_DESTINATIONS:true",
    ],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true, env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
  );
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopGroup(child);
    rmSync(state, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}:\n${output}`);
    try {
      if ((await fetch(`${base}/api/v1/openapi.json`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not answer within 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { base, token, output: () => output, stop };
}

/** SIGTERM to the child's process group, SIGKILL after 5 s; resolves when the group is gone. */
async function stopGroup(child: ChildProcess): Promise<void> {
  const pgid = child.pid;
  if (pgid === undefined) return;
  const alive = () => {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-pgid, s);
    } catch {
      // gone
    }
  };
  signal("SIGTERM");
  const deadline = Date.now() + 5_000;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive()) signal("SIGKILL");
  while (alive()) await new Promise((r) => setTimeout(r, 50));
}

/** Chromium with the flags of an offline CI machine and a fresh profile; `close()` removes the profile. */
export async function launchChromium(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = mkdtempSync(path.join(tmpdir(), "retl-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A table of customers in the test warehouse, dropped by `drop()`. */
export async function createCustomersTable(rows: number): Promise<{ table: string; drop: () => Promise<void> }> {
  const table = `browser_customers_${process.pid}_${Date.now()}`;
  const client = new pg.Client({ connectionString: WAREHOUSE_URL });
  await client.connect();
  try {
    await client.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, email text NOT NULL, first_name text, plan text, lifetime_value numeric(10,2))`);
    await client.query(
      `INSERT INTO ${table} SELECT g, 'customer' || g || '@example.com', 'Name ' || g, (ARRAY['free','pro','enterprise'])[1 + g % 3], g * 10.5
         FROM generate_series(1, $1::int) AS g`,
      [rows],
    );
  } finally {
    await client.end();
  }
  return {
    table,
    drop: async () => {
      const c = new pg.Client({ connectionString: WAREHOUSE_URL });
      await c.connect();
      await c.query(`DROP TABLE IF EXISTS ${table}`);
      await c.end();
    },
  };
}

/** POST/PUT/GET to the Worker's API with the admin token; throws with the body on an error status. */
export async function apiCall<T>(worker: Worker, method: string, apiPath: string, body?: unknown): Promise<T> {
  const res = await fetch(`${worker.base}/api/v1${apiPath}`, {
    method,
    headers: { authorization: `Bearer ${worker.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${apiPath} answered ${res.status}: ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}
