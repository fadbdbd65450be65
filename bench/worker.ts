/**
 * Bench worker: runs the engine (src/engine) and the warehouse client (src/source/postgres.ts)
 * inside workerd, with a local R2 bucket standing in for the snapshot store. Driven by bench/run.mjs
 * through `unstable_startWorker`; one POST per phase so the caller can time each from outside
 * (inside workerd the clock only advances on I/O).
 */
import { commitPartition, RESULT_ACKNOWLEDGED } from "../src/engine/commit";
import { diffPartition } from "../src/engine/diff";
import { copyColumns, copySelect, PartitionWriter, type ReadyChunk, resolveColumns } from "../src/engine/extract";
import { loadHasher } from "../src/engine/hash";
import { checkMassDelete, operationBatches, planPartition } from "../src/engine/plan";
import { decodeRunChunk, decodeSnapshot, emptySnapshot, encodeSnapshot, joinRunChunks } from "../src/engine/snapshot";
import { closePostgres, connectPostgres, streamQuery, type WarehouseOptions } from "../src/source/postgres";
import type { SyncMode } from "../src/sync/mode";

interface BenchEnv {
  BENCH: R2Bucket;
}

interface Job {
  connectionString: string;
  sql: string;
  primaryKey: string;
  mapped: string[];
  partitions: number;
  pageSize: number;
  run: string;
  /** Snapshot generation to read (null on the first run) and to write. */
  prevGen: string | null;
  nextGen: string;
  /** Chunks per partition, from /extract. */
  chunkCounts?: number[];
  mode: SyncMode;
  batchSize: number;
  /** Profiling: skip R2 puts ("noput") or everything after reading but the writer ("nowriter"). */
  skip?: "noput" | "nowriter";
}

const opts: WarehouseOptions = { statementTimeoutMs: 3_600_000, allowPrivate: true };
// Chunk puts in flight during extraction: overlaps R2 latency with reading.
const MAX_PUTS_IN_FLIGHT = 4;

/** Reads the model only (driver ceiling). */
async function drain(job: Job) {
  let rows = 0;
  let chars = 0;
  for await (const page of streamQuery(job.connectionString, job.sql, opts, { pageSize: job.pageSize })) {
    rows += page.rows.length;
    const last = page.rows[page.rows.length - 1];
    if (last !== undefined) chars += last.length;
  }
  return { rows, chars };
}

/** Reads the model, hashes and partitions it, writes run chunks to R2. */
async function extract(env: BenchEnv, job: Job) {
  const hasher = await loadHasher();
  let writer: PartitionWriter | null = null;
  const inFlight = new Set<Promise<unknown>>();
  let bytes = 0;
  let chunks = 0;
  let maxChunk = 0;
  const put = async (c: ReadyChunk) => {
    bytes += c.bytes.length;
    chunks++;
    maxChunk = Math.max(maxChunk, c.bytes.length);
    if (job.skip === "noput") return;
    const p = env.BENCH.put(`runs/${job.run}/part-${c.partition}-${c.seq}`, c.bytes);
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    if (inFlight.size >= MAX_PUTS_IN_FLIGHT) await Promise.race(inFlight);
  };
  for await (const page of streamQuery(job.connectionString, job.sql, opts, { pageSize: job.pageSize })) {
    writer ??= new PartitionWriter(
      hasher,
      job.partitions,
      resolveColumns(
        page.fields.map((f) => f.name),
        job.primaryKey,
        job.mapped,
      ),
      hasher.mappingSeed(job.mapped),
    );
    if (job.skip === "nowriter") continue;
    for (const row of page.rows) writer.add(row);
    for (const c of writer.takeReady()) await put(c);
  }
  if (writer === null) throw new Error("no result");
  for (const c of writer.finishAll()) await put(c);
  await Promise.all(inFlight);
  return { rows: writer.rows, chunks, bytes, maxChunk, chunkCounts: writer.chunkCounts(), partitionRows: writer.partitionRows };
}

/** Diff, plan (every operation materialized in batches), all-acknowledged commit, per partition. */
async function diffAll(env: BenchEnv, job: Job) {
  const counts = { rows: 0, new: 0, updated: 0, unchanged: 0, gone: 0, failed: 0, operations: 0, batches: 0, payloadChars: 0, previous: 0 };
  const chunkCounts = job.chunkCounts ?? [];
  let snapshotBytes = 0;
  for (let p = 0; p < job.partitions; p++) {
    const n = chunkCounts[p] ?? 0;
    const [prevObj, ...chunkObjs] = await Promise.all([
      job.prevGen === null ? null : env.BENCH.get(`snap/${job.prevGen}/part-${p}`),
      ...Array.from({ length: n }, (_, i) => env.BENCH.get(`runs/${job.run}/part-${p}-${i}`)),
    ]);
    const prev = prevObj ? decodeSnapshot(new Uint8Array(await prevObj.arrayBuffer())) : emptySnapshot();
    const chunks = [];
    for (const o of chunkObjs) {
      if (!o) throw new Error(`missing chunk of partition ${p}`);
      chunks.push(decodeRunChunk(new Uint8Array(await o.arrayBuffer())));
    }
    const rows = joinRunChunks(chunks, job.mapped.length);
    const diff = diffPartition(prev, rows);
    const plan = planPartition(diff, job.mode);
    const results = new Uint8Array(plan.count);
    for (const batch of operationBatches(plan, rows, prev, { maxOperations: job.batchSize })) {
      counts.batches++;
      for (const op of batch) {
        counts.payloadChars += op.key.length + (op.values?.length ?? 0);
        results[op.index] = RESULT_ACKNOWLEDGED;
      }
    }
    const { snapshot } = commitPartition(prev, rows, diff, plan, results);
    const encoded = encodeSnapshot(snapshot);
    snapshotBytes += encoded.length;
    await env.BENCH.put(`snap/${job.nextGen}/part-${p}`, encoded);
    counts.rows += diff.counts.rows;
    counts.new += diff.counts.new;
    counts.updated += diff.counts.updated;
    counts.unchanged += diff.counts.unchanged;
    counts.gone += diff.counts.gone;
    counts.failed += diff.failed.length;
    counts.operations += plan.count;
    counts.previous += prev.count;
  }
  const guard = checkMassDelete({ deletes: counts.gone, previousRows: counts.previous, currentRows: counts.rows });
  return { ...counts, snapshotBytes, massDeleteStop: guard.stop };
}

/** The pg Submittable shape the driver accepts for COPY … TO STDOUT (as pg-copy-streams does). */
interface CopyMessage {
  chunk: Uint8Array;
}

/**
 * Streams `COPY (sql) TO STDOUT` through the driver's Client: each CopyData message (one row of
 * COPY text, with its newline) goes to `onLine` as it is parsed. Prototype for the warehouse client.
 */
async function copyOut(connectionString: string, sql: string, onLine: (line: Uint8Array) => void): Promise<number> {
  const client = await connectPostgres(connectionString, opts);
  try {
    // Same session settings as streamQuery, so both paths see the same text of every value.
    await client.query(
      "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = 3600000; SET LOCAL DateStyle = 'ISO'; SET LOCAL bytea_output = 'hex'",
    );
    let lines = 0;
    await new Promise<void>((resolve, reject) => {
      let failed: unknown = null;
      const submittable = {
        submit(connection: { query(text: string): void }) {
          connection.query(`COPY (${sql}) TO STDOUT`);
        },
        handleCopyData(msg: CopyMessage) {
          lines++;
          onLine(msg.chunk);
        },
        handleCommandComplete() {},
        handleReadyForQuery() {
          if (failed === null) resolve();
          else reject(failed);
        },
        handleError(err: unknown) {
          failed = err;
        },
        handleEmptyQuery() {},
        handleRowDescription() {},
        handleDataRow() {},
      };
      (client as unknown as { query(s: unknown): void }).query(submittable);
    });
    await client.query("COMMIT");
    return lines;
  } finally {
    await closePostgres(client);
  }
}

/** Extraction through COPY: lines hashed and chunked as bytes (PartitionWriter.addCopyLine). */
async function extractCopy(env: BenchEnv, job: Job) {
  const hasher = await loadHasher();
  const writer = new PartitionWriter(hasher, job.partitions, copyColumns(job.mapped.length), hasher.mappingSeed(job.mapped));
  const puts: Promise<unknown>[] = [];
  let bytes = 0;
  let chunks = 0;
  let maxChunk = 0;
  // The COPY handler is synchronous: puts start as chunks finish and are awaited at the end.
  const put = (c: ReadyChunk) => {
    bytes += c.bytes.length;
    chunks++;
    maxChunk = Math.max(maxChunk, c.bytes.length);
    if (job.skip !== "noput") puts.push(env.BENCH.put(`runs/${job.run}/part-${c.partition}-${c.seq}`, c.bytes));
  };
  await copyOut(job.connectionString, copySelect(job.sql, job.primaryKey, job.mapped), (line) => {
    writer.addCopyLine(line);
    for (const c of writer.takeReady()) put(c);
  });
  for (const c of writer.finishAll()) put(c);
  await Promise.all(puts);
  return { rows: writer.rows, chunks, bytes, maxChunk, chunkCounts: writer.chunkCounts(), partitionRows: writer.partitionRows };
}

/**
 * Row hashes by key from both extraction paths (cursor pages as strings, COPY lines as bytes) over
 * the same query: they must agree for the paths to be interchangeable.
 */
async function verifyPaths(job: Job) {
  const hasher = await loadHasher();
  const seed = hasher.mappingSeed(job.mapped);
  const viaRows = new Map<string, bigint>();
  for await (const page of streamQuery(job.connectionString, job.sql, opts, { pageSize: job.pageSize })) {
    const cols = resolveColumns(
      page.fields.map((f) => f.name),
      job.primaryKey,
      job.mapped,
    );
    for (const row of page.rows) viaRows.set(String(row[cols.key]), hasher.hashRow(cols.values.map((c) => row[c] ?? null), seed));
  }
  const mismatches: string[] = [];
  let lines = 0;
  const decoder = new TextDecoder();
  await copyOut(job.connectionString, copySelect(job.sql, job.primaryKey, job.mapped), (line) => {
    lines++;
    const text = decoder.decode(line);
    const key = text.slice(0, text.indexOf("\t"));
    const end = text.endsWith("\n") ? text.length - 1 : text.length;
    const copyHash = hasher.hashEncodedRow(line.subarray(line.indexOf(9) + 1, line[line.length - 1] === 10 ? line.length - 1 : line.length), seed);
    if (viaRows.get(key) !== copyHash && mismatches.length < 5) mismatches.push(text.slice(0, end));
  });
  return { rows: viaRows.size, lines, mismatches };
}

async function drainCopy(job: Job) {
  let bytes = 0;
  const rows = await copyOut(job.connectionString, job.sql, (line) => {
    bytes += line.length;
  });
  return { rows, bytes };
}

/** Deletes a run's chunks and an old snapshot generation (not timed). */
async function cleanup(env: BenchEnv, prefixes: string[]) {
  for (const prefix of prefixes) {
    let cursor: string | undefined;
    do {
      const list = await env.BENCH.list({ prefix, cursor });
      if (list.objects.length > 0) await env.BENCH.delete(list.objects.map((o) => o.key));
      cursor = list.truncated ? list.cursor : undefined;
    } while (cursor !== undefined);
  }
  return { ok: true };
}

export default {
  async fetch(request: Request, env: BenchEnv): Promise<Response> {
    const path = new URL(request.url).pathname;
    const job = (await request.json()) as Job & { prefixes?: string[] };
    try {
      let out: unknown;
      if (path === "/drain") out = await drain(job);
      else if (path === "/drain-copy") out = await drainCopy(job);
      else if (path === "/extract-copy") out = await extractCopy(env, job);
      else if (path === "/verify") out = await verifyPaths(job);
      else if (path === "/extract") out = await extract(env, job);
      else if (path === "/diff") out = await diffAll(env, job);
      else if (path === "/cleanup") out = await cleanup(env, job.prefixes ?? []);
      else return new Response("not found", { status: 404 });
      return Response.json(out);
    } catch (err) {
      return Response.json({ error: err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ""}` : String(err) }, { status: 500 });
    }
  },
};
