// Bundles bench/engine-cpu.ts with esbuild and runs it in Node (the engine's CPU per 1M rows):
//   flock /tmp/bench.lock npx node bench/engine-cpu.mjs [--rows N] [--repeat N]
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { build } from "esbuild";
import { compiledWasm } from "./wasm-module.mjs";

const { values } = parseArgs({ options: { rows: { type: "string", default: "1000000" }, repeat: { type: "string", default: "5" } } });
const dataDir = join(import.meta.dirname, ".data");
mkdirSync(dataDir, { recursive: true });
const outfile = join(dataDir, "engine-cpu.mjs");
await build({
  entryPoints: [join(import.meta.dirname, "engine-cpu.ts")],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  outfile,
  plugins: [compiledWasm],
  logLevel: "warning",
});
const r = spawnSync(process.execPath, [outfile], { stdio: "inherit", env: { ...process.env, ROWS: values.rows, REPEAT: values.repeat } });
process.exit(r.status ?? 1);
