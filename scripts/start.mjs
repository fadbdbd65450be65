// `npm start`: the whole product locally, in one process tree that Ctrl-C stops.
//
//   http://127.0.0.1:$PORT           the Worker (wrangler dev): API under /api/v1, console at /, reference at /docs
//   127.0.0.1:$PORT+1                the demo warehouse (PGlite over the Postgres wire protocol), unless WAREHOUSE_URL is set
//   http://127.0.0.1:$PORT+2         the demo webhook receiver ("Demo CRM"): what the destination received
//
// Applies the D1 migrations, seeds a source, a model and a webhook destination through the API
// (idempotently), then prints the admin token and the quickstart's curl commands.
// Environment: PORT (8787), ADMIN_TOKEN (from .dev.vars), WAREHOUSE_URL (your own Postgres).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { exportLines, quickstartCommands } from "./demo/quickstart.mjs";
import { startDemoReceiver } from "./demo/receiver.mjs";
import { apiClient, seed, SEED, waitForApi } from "./demo/seed.mjs";

process.env.WRANGLER_SEND_METRICS = "false";
const port = Number(process.env.PORT ?? "8787");
const warehousePort = port + 1;
const receiverPort = port + 2;
const base = `http://127.0.0.1:${port}`;
const stateDir = ".wrangler";
const say = (line) => console.log(`[start] ${line}`);

// Local secrets live in .dev.vars (git-ignored); create it once with a random encryption key.
if (!existsSync(".dev.vars")) {
  writeFileSync(
    ".dev.vars",
    [
      `ADMIN_TOKEN=dev_${randomBytes(12).toString("hex")}`,
      `ENCRYPTION_KEY=${randomBytes(32).toString("base64")}`,
      "ALLOW_PRIVATE_DESTINATIONS=true",
      "",
    ].join("\n"),
  );
}
const devVars = Object.fromEntries(
  readFileSync(".dev.vars", "utf8")
    .split("\n")
    .filter((l) => l.includes("="))
    .map((l) => [l.slice(0, l.indexOf("=")).trim(), l.slice(l.indexOf("=") + 1).trim()]),
);
const adminToken = process.env.ADMIN_TOKEN ?? devVars.ADMIN_TOKEN;

/** Everything to stop on exit, last started first. */
const stoppers = [];
let stopping = false;
let wrangler = null;

async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  say("stopping…");
  // wrangler runs in its own process group (with esbuild and workerd): stop the whole group.
  if (wrangler) await stopGroup(wrangler.pid);
  for (const stop of stoppers.reverse()) await stop().catch((err) => say(`stop failed: ${err.message}`));
  process.exit(code);
}

/** SIGTERM to every process of the group, SIGKILL to what is left after 5 s; resolves once the group is empty. */
async function stopGroup(pgid) {
  const alive = () => {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const signal = (name) => {
    try {
      process.kill(-pgid, name);
    } catch {
      // already gone
    }
  };
  signal("SIGTERM");
  const deadline = Date.now() + 5_000;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (!alive()) return;
  say("wrangler did not stop within 5 s; killing it");
  signal("SIGKILL");
  while (alive()) await new Promise((r) => setTimeout(r, 50));
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => void shutdown(0));

/** Runs `npx args` to completion. */
function npx(args) {
  return new Promise((resolve, reject) => {
    const child = spawn("npx", args, { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, CI: "1" } });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`npx ${args.join(" ")} exited with ${code}`))));
  });
}

async function startWarehouse() {
  if (process.env.WAREHOUSE_URL) {
    say(`warehouse: ${process.env.WAREHOUSE_URL.replace(/:[^:@/]*@/, ":****@")} (WAREHOUSE_URL; no demo warehouse)`);
    return { url: process.env.WAREHOUSE_URL, demo: false };
  }
  say(`demo warehouse: starting PGlite on 127.0.0.1:${warehousePort} (data in ${stateDir}/demo-warehouse)…`);
  const { startDemoWarehouse } = await import("./demo/warehouse.mjs");
  const warehouse = await startDemoWarehouse({
    dir: path.join(stateDir, "demo-warehouse"),
    port: warehousePort,
    log: (line) => say(`demo warehouse: ${line}`),
  });
  stoppers.push(warehouse.stop);
  return { url: warehouse.url, demo: true };
}

async function startWorker() {
  await npx(["wrangler", "d1", "migrations", "apply", "DB", "--local"]);
  if (stopping) return;
  wrangler = spawn(
    "npx",
    [
      "wrangler",
      "dev",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--var",
      `ADMIN_TOKEN:${adminToken}`,
      "--var",
      "ALLOW_PRIVATE_DESTINATIONS:true",
    ],
    // Its own process group, so stopping it also stops workerd; no stdin (a background group may not read the terminal).
    { stdio: ["ignore", "inherit", "inherit"], detached: true },
  );
  wrangler.on("exit", (code, signal) => {
    if (!stopping) {
      say(`wrangler dev exited (${signal ?? code}); stopping the rest`);
      void shutdown(code ?? 1);
    }
  });
  await waitForApi(base, 90_000, () => !stopping);
}

async function main() {
  mkdirSync(stateDir, { recursive: true });
  const receiver = await startDemoReceiver({ port: receiverPort, file: path.join(stateDir, "demo-receiver.json") });
  stoppers.push(receiver.stop);
  const [warehouse] = await Promise.all([startWarehouse(), startWorker()]);
  if (stopping) return;

  const api = apiClient(base, adminToken);
  const seeded = await seed(api, { warehouseUrl: warehouse.url, hookUrl: receiver.hookUrl, demoWarehouse: warehouse.demo });
  const vars = {
    base,
    token: adminToken,
    modelId: seeded.model?.id ?? "<create a model first>",
    destinationId: seeded.destination.id,
    syncId: seeded.sync?.id,
  };
  const out = [
    "",
    "  Edge reverse ETL is running",
    "",
    `  Console           ${base}/            (paste the admin token once)`,
    `  API               ${base}/api/v1     (reference: ${base}/docs)`,
    `  Admin token       ${adminToken}`,
    `  Warehouse         ${warehouse.demo ? `${warehouse.url}   (demo: ${port === 8787 ? "" : `PORT=${port} `}npm run demo:change edits it)` : "WAREHOUSE_URL"}`,
    `  Demo CRM          ${receiver.url}/            (what the webhook destination received)`,
    "",
    `  Seeded: source "${seeded.source.name}" ${seeded.source.id}, model "${SEED.model}" ${seeded.model?.id ?? "(skipped)"}, destination "${SEED.destination}" ${seeded.destination.id}`,
  ];
  if (seeded.modelProblem) {
    out.push(`  The model was not created on your warehouse: ${seeded.modelProblem}`);
    out.push(`  Create a model with POST /api/v1/models (see ${base}/docs), then use its id as MODEL_ID below.`);
  }
  out.push("", "  Quickstart (README.md), in another terminal:", "");
  for (const line of [...exportLines(vars), "", ...quickstartCommands({ withCreate: !seeded.sync })]) {
    out.push(...line.split("\n").map((l) => (l ? `    ${l}` : "")));
  }
  if (seeded.sync) out.push("", `  (the example sync exists already: ${seeded.sync.id}; step 1 is skipped)`);
  out.push("", "  Ctrl-C stops everything.", "");
  console.log(out.join("\n"));
}

main().catch((err) => {
  if (stopping) return;
  const busy = err && err.code === "EADDRINUSE";
  console.error(
    busy
      ? `[start] port ${err.port} is already in use; npm start uses PORT (${port}), PORT+1 and PORT+2: stop what holds it or set PORT`
      : `[start] ${err instanceof Error ? err.message : String(err)}`,
  );
  void shutdown(1);
});
