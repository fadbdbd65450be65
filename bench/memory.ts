/**
 * Memory of the engine's extraction and diff, measured in Node (workerd reports no memory figures):
 * the same src/engine modules, bundled by bench/run.mjs with esbuild, run as the bench worker runs
 * them, with a directory standing in for R2. Rows come from `psql -c "COPY (…) TO STDOUT"` as
 * byte lines into PartitionWriter.addCopyLine, as the worker's COPY path feeds it; no driver
 * buffers are counted.
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
import { commitPartition, RESULT_ACKNOWLEDGED } from "../src/engine/commit";
import { diffPartition } from "../src/engine/diff";
import { copyColumns, PartitionWriter, type ReadyChunk } from "../src/engine/extract";
import { copySelect } from "../src/sources/postgres/sql-guard";
import { KnownRows } from "../src/engine/known-rows";
import { loadHasher } from "../src/engine/hash";
import { operationBatches, planPartition } from "../src/engine/plan";
import { decodeRunChunk, decodeSnapshot, emptySnapshot, encodeSnapshot, joinRunChunks, snapshotHashWords } from "../src/engine/snapshot";
import type { SyncMode } from "../src/sync/mode";

interface Job {
  psql: string[];
  sql: string;
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

/** Full GC, then a pause so ArrayBuffer backing stores freed by it are swept before reading. */
async function settle(): Promise<NodeJS.MemoryUsage> {
  gc?.();
  await new Promise((resolve) => setTimeout(resolve, 5));
  gc?.();
  await new Promise((resolve) => setTimeout(resolve, 5));
  return process.memoryUsage();
}

class Meter {
  private base = 0;
  private baseRaw = 0;
  live = 0;
  raw = 0;
  async start(): Promise<void> {
    const m = await settle();
    if (process.env.BENCH_DEBUG)
      console.error(`start: heap ${(m.heapUsed / 1048576).toFixed(1)} MB, ArrayBuffers ${(m.arrayBuffers / 1048576).toFixed(1)} MB`);
    this.base = m.heapUsed + m.arrayBuffers;
    this.baseRaw = this.base;
    this.live = 0;
    this.raw = 0;
  }
  async sample(label = ""): Promise<void> {
    const before = process.memoryUsage();
    this.raw = Math.max(this.raw, before.heapUsed + before.arrayBuffers - this.baseRaw);
    const m = await settle();
    this.live = Math.max(this.live, m.heapUsed + m.arrayBuffers - this.base);
    if (process.env.BENCH_DEBUG)
      console.error(
        `${label}: heap ${(m.heapUsed / 1048576).toFixed(1)} MB, ArrayBuffers ${(m.arrayBuffers / 1048576).toFixed(1)} MB (start ${(this.base / 1048576).toFixed(1)} MB)`,
      );
  }
}

async function extract(job: Job, meter: Meter) {
  const hasher = await loadHasher();
  const runDir = join(job.dir, `run-${job.phase}`);
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  await meter.start();
  // As the engine does: the last snapshot's pairs (in memory during extraction), when it has one.
  const snapFiles =
    job.prevPhase === null ? [] : Array.from({ length: job.partitions }, (_, p) => join(job.dir, `snap-${job.prevPhase}`, `part-${p}`));
  const entries = snapFiles.reduce((n, f) => n + (existsSync(f) ? readFileSync(f).readUInt32LE(4) : 0), 0);
  let known: KnownRows | null = null;
  if (entries > 0 && entries <= KnownRows.MAX_ROWS) {
    known = new KnownRows(entries);
    for (const f of snapFiles) {
      const { keyWords, rowWords } = snapshotHashWords(new Uint8Array(readFileSync(f)));
      known.addWords(keyWords, rowWords);
    }
  }
  const writer = new PartitionWriter(hasher, job.partitions, copyColumns(job.mapped.length), hasher.mappingSeed(job.mapped), {}, known);
  const sql = `COPY (${copySelect(job.sql, [job.primaryKey, ...job.mapped]).text}) TO STDOUT`;
  const child = spawn("psql", [...job.psql, "-c", sql], { stdio: ["ignore", "pipe", "inherit"] });
  // Finished chunks stay in memory until 16 MiB are "uploading", as ChunkUploads lets them
  // (src/run/storage.ts); then the oldest are written out, as their puts would complete.
  const uploading: ReadyChunk[] = [];
  let uploadingBytes = 0;
  const flush = (limit: number) => {
    while (uploadingBytes > limit) {
      const c = uploading.shift();
      if (!c) break;
      uploadingBytes -= c.bytes.length;
      writeFileSync(join(runDir, `part-${c.partition}-${c.seq}`), c.bytes);
    }
  };
  const upload = (chunks: readonly ReadyChunk[]) => {
    for (const c of chunks) {
      uploading.push(c);
      uploadingBytes += c.bytes.length;
    }
    flush(16 * 1024 * 1024);
  };
  let n = 0;
  let rest: Uint8Array = new Uint8Array(0);
  const started = performance.now();
  // Lines as byte views, as the worker gets them from CopyData messages.
  for await (const data of child.stdout as AsyncIterable<Uint8Array>) {
    let buf = data;
    if (rest.length > 0) {
      buf = new Uint8Array(rest.length + data.length);
      buf.set(rest);
      buf.set(data, rest.length);
    }
    let from = 0;
    for (let nl = buf.indexOf(10, from); nl >= 0; nl = buf.indexOf(10, from)) {
      writer.addCopyLine(buf.subarray(from, nl + 1));
      from = nl + 1;
      if (++n % 50_000 === 0) await meter.sample();
    }
    rest = buf.slice(from);
    upload(writer.takeReady());
  }
  upload(writer.finishAll());
  await meter.sample();
  flush(0);
  return { rows: writer.rows, ms: performance.now() - started, chunkCounts: writer.chunkCounts() };
}

async function diff(job: Job, chunkCounts: number[], meter: Meter) {
  const runDir = join(job.dir, `run-${job.phase}`);
  const snapDir = join(job.dir, `snap-${job.phase}`);
  rmSync(snapDir, { recursive: true, force: true });
  mkdirSync(snapDir, { recursive: true });
  await meter.start();
  let biggest = 0;
  let operations = 0;
  const started = performance.now();
  for (let p = 0; p < job.partitions; p++) {
    const prevFile = job.prevPhase === null ? null : join(job.dir, `snap-${job.prevPhase}`, `part-${p}`);
    const prev = prevFile !== null && existsSync(prevFile) ? decodeSnapshot(new Uint8Array(readFileSync(prevFile))) : emptySnapshot();
    const chunks = Array.from({ length: chunkCounts[p] ?? 0 }, (_, i) =>
      decodeRunChunk(new Uint8Array(readFileSync(join(runDir, `part-${p}-${i}`)))),
    );
    const rows = joinRunChunks(chunks, job.mapped.length);
    biggest = Math.max(biggest, rows.count);
    await meter.sample(`p${p} loaded ${rows.count}+${prev.count}`);
    const d = diffPartition(prev, rows);
    await meter.sample("diffed");
    const plan = planPartition(d, job.mode);
    const results = new Uint8Array(plan.count);
    for (const batch of operationBatches(plan, rows, prev, { maxOperations: job.batchSize })) {
      for (const op of batch) results[op.index] = RESULT_ACKNOWLEDGED;
    }
    operations += plan.count;
    await meter.sample("planned");
    const { snapshot } = commitPartition(prev, rows, d, plan, results);
    writeFileSync(join(snapDir, `part-${p}`), encodeSnapshot(snapshot));
    await meter.sample("committed");
  }
  return { ms: performance.now() - started, biggestPartition: biggest, operations };
}

const job = JSON.parse(process.argv[2] ?? "{}") as Job;
const em = new Meter();
const ex = await extract(job, em);
const dm = new Meter();
const df = await diff(job, ex.chunkCounts, dm);
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
