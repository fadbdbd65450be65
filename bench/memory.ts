/**
 * Memory of the engine's extraction and diff, measured in Node (workerd reports no memory figures):
 * the same src/engine modules, bundled by bench/run.mjs with esbuild, run as the bench worker runs
 * them, with a directory standing in for R2. Rows come from `psql -c "COPY (model) TO STDOUT"`
 * (text format) so that no driver buffers are counted.
 *
 * Memory = V8 heap used + ArrayBuffers, minus the same figure before the phase starts. "live" is
 * sampled after a forced GC (what the phase holds), "with garbage" just before it (what it held
 * plus garbage not yet collected). Samples: every 50,000 rows during extraction; after loading,
 * diffing, planning (all operations materialized in batches) and committing each partition.
 *
 * Usage (from run.mjs): node --expose-gc memory.mjs '<json job>'
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { commitPartition, RESULT_ACKNOWLEDGED } from "../src/engine/commit";
import { diffPartition } from "../src/engine/diff";
import { PartitionWriter, resolveColumns } from "../src/engine/extract";
import { loadHasher, type RawValue } from "../src/engine/hash";
import { operationBatches, planPartition } from "../src/engine/plan";
import { decodeRunChunk, decodeSnapshot, emptySnapshot, encodeSnapshot, joinRunChunks } from "../src/engine/snapshot";
import type { SyncMode } from "../src/sync/mode";

interface Job {
  psql: string[];
  sql: string;
  fields: string[];
  primaryKey: string;
  mapped: string[];
  partitions: number;
  dir: string;
  phase: string;
  prevPhase: string | null;
  mode: SyncMode;
  batchSize: number;
}

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --expose-gc");

class Meter {
  private base = 0;
  private baseRaw = 0;
  live = 0;
  raw = 0;
  start(): void {
    gc?.();
    const m = process.memoryUsage();
    this.base = m.heapUsed + m.arrayBuffers;
    this.baseRaw = this.base;
    this.live = 0;
    this.raw = 0;
  }
  sample(): void {
    const before = process.memoryUsage();
    this.raw = Math.max(this.raw, before.heapUsed + before.arrayBuffers - this.baseRaw);
    gc?.();
    const m = process.memoryUsage();
    this.live = Math.max(this.live, m.heapUsed + m.arrayBuffers - this.base);
  }
}

/** Unescapes one field of COPY's text format. */
function unescape(s: string): string {
  if (!s.includes("\\")) return s;
  return s.replace(/\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|(.))/g, (_m, oct: string | undefined, hex: string | undefined, c: string | undefined) => {
    if (oct !== undefined) return String.fromCharCode(parseInt(oct, 8));
    if (hex !== undefined) return String.fromCharCode(parseInt(hex, 16));
    return ({ b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v" } as Record<string, string>)[c ?? ""] ?? c ?? "";
  });
}

async function extract(job: Job, meter: Meter) {
  const hasher = await loadHasher();
  const runDir = join(job.dir, `run-${job.phase}`);
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  const writer = new PartitionWriter(hasher, job.partitions, resolveColumns(job.fields, job.primaryKey, job.mapped), hasher.mappingSeed(job.mapped));
  meter.start();
  const child = spawn("psql", [...job.psql, "-c", `COPY (${job.sql}) TO STDOUT`], { stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
  let n = 0;
  const started = performance.now();
  for await (const line of lines) {
    const row: RawValue[] = line.split("\t").map((f) => (f === "\\N" ? null : unescape(f)));
    writer.add(row);
    for (const c of writer.takeReady()) writeFileSync(join(runDir, `part-${c.partition}-${c.seq}`), c.bytes);
    if (++n % 50_000 === 0) meter.sample();
  }
  for (const c of writer.finishAll()) writeFileSync(join(runDir, `part-${c.partition}-${c.seq}`), c.bytes);
  meter.sample();
  return { rows: writer.rows, ms: performance.now() - started, chunkCounts: writer.chunkCounts() };
}

function diff(job: Job, chunkCounts: number[], meter: Meter) {
  const runDir = join(job.dir, `run-${job.phase}`);
  const snapDir = join(job.dir, `snap-${job.phase}`);
  rmSync(snapDir, { recursive: true, force: true });
  mkdirSync(snapDir, { recursive: true });
  meter.start();
  let biggest = 0;
  let operations = 0;
  const started = performance.now();
  for (let p = 0; p < job.partitions; p++) {
    const prevFile = job.prevPhase === null ? null : join(job.dir, `snap-${job.prevPhase}`, `part-${p}`);
    const prev = prevFile !== null && existsSync(prevFile) ? decodeSnapshot(new Uint8Array(readFileSync(prevFile))) : emptySnapshot();
    const chunks = Array.from({ length: chunkCounts[p] ?? 0 }, (_, i) => decodeRunChunk(new Uint8Array(readFileSync(join(runDir, `part-${p}-${i}`)))));
    const rows = joinRunChunks(chunks, job.mapped.length);
    biggest = Math.max(biggest, rows.count);
    meter.sample();
    const d = diffPartition(prev, rows);
    meter.sample();
    const plan = planPartition(d, job.mode);
    const results = new Uint8Array(plan.count);
    for (const batch of operationBatches(plan, rows, prev, { maxOperations: job.batchSize })) {
      for (const op of batch) results[op.index] = RESULT_ACKNOWLEDGED;
    }
    operations += plan.count;
    meter.sample();
    const { snapshot } = commitPartition(prev, rows, d, plan, results);
    writeFileSync(join(snapDir, `part-${p}`), encodeSnapshot(snapshot));
    meter.sample();
  }
  return { ms: performance.now() - started, biggestPartition: biggest, operations };
}

const job = JSON.parse(process.argv[2] ?? "{}") as Job;
const em = new Meter();
const ex = await extract(job, em);
const dm = new Meter();
const df = diff(job, ex.chunkCounts, dm);
if (job.prevPhase !== null) rmSync(join(job.dir, `snap-${job.prevPhase}`), { recursive: true, force: true });
rmSync(join(job.dir, `run-${job.phase}`), { recursive: true, force: true });
console.log(
  JSON.stringify({
    rows: ex.rows,
    extract: { ms: ex.ms, liveBytes: em.live, withGarbageBytes: em.raw },
    diff: { ms: df.ms, liveBytes: dm.live, withGarbageBytes: dm.raw, biggestPartition: df.biggestPartition, operations: df.operations },
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  }),
);
