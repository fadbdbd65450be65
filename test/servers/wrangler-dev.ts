import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * A real `wrangler dev` of this project for Node-side tests (the browser tests, the API load
 * stress): its own `--persist-to` directory with the D1 migrations applied, free ports, its own
 * process group so `stop()` ends wrangler, esbuild and workerd together.
 */

const ROOT = path.join(import.meta.dirname, "../..");

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
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

/** Runs `npx args` in the project to completion; rejects with its output when it fails. */
function npx(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("npx", args, {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false" },
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`npx ${args.join(" ")} exited with ${code}:\n${out}`))));
  });
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

/** How to start a {@link startWranglerDev}. */
export interface WranglerDevOptions {
  /** `--var NAME:value` settings (secrets for the test). */
  vars: Record<string, string>;
  /** A wrangler config other than the project's own. */
  config?: string;
  /** More `wrangler dev` arguments. */
  args?: string[];
  /** Paths that must answer 2xx before the worker counts as up (default the OpenAPI document). */
  ready?: string[];
  timeoutMs?: number;
}

/** A running `wrangler dev`, and how to stop it. */
export interface WranglerDev {
  base: string;
  /** Its process group: wrangler, esbuild and workerd (for CPU accounting). */
  pgid: number;
  /** Everything wrangler printed, for failure messages. */
  output: () => string;
  stop: () => Promise<void>;
}

/** Applies the D1 migrations to a fresh state directory, starts `wrangler dev` on it and waits until it answers. */
export async function startWranglerDev(opts: WranglerDevOptions): Promise<WranglerDev> {
  const config = opts.config === undefined ? [] : ["-c", opts.config];
  const state = mkdtempSync(path.join(tmpdir(), "retl-wrangler-dev-"));
  await npx(["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", state, ...config]);
  const [port, inspector] = [await freePort(), await freePort()];
  const child: ChildProcess = spawn(
    "npx",
    [
      "wrangler",
      "dev",
      ...config,
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(inspector),
      "--persist-to",
      state,
      "--show-interactive-dev-session=false",
      ...Object.entries(opts.vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
      ...(opts.args ?? []),
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
  const ready = opts.ready ?? ["/api/v1/openapi.json"];
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`wrangler dev exited with ${child.exitCode}:\n${output}`);
    }
    try {
      let up = true;
      for (const p of ready) up &&= (await fetch(`${base}${p}`)).ok;
      if (up) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not answer within ${timeoutMs / 1000} s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { base, pgid: child.pid ?? 0, output: () => output, stop };
}
