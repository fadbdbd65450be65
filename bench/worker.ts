/**
 * Bench worker: runs the engine (src/engine) and the Postgres source (src/sources/postgres/), or
 * any source of the registry (the source bench, bench/sources.mjs), inside workerd, with a local
 * R2 bucket standing in for the snapshot store. Driven by bench/run.mjs through
 * `unstable_startWorker`; one POST per phase so the caller can time each from outside (inside
 * workerd the clock only advances on I/O).
 */
import { commitPartition, RESULT_ACKNOWLEDGED } from "../src/engine/commit";
import { diffPartition } from "../src/engine/diff";
import { resolveColumns } from "../src/engine/extract";
import { type Hasher, loadHasher } from "../src/engine/hash";
import { checkMassDelete, operationBatches, planPartition } from "../src/engine/plan";
import { decodeRunChunk, decodeSnapshot, emptySnapshot, encodeSnapshot, joinRunChunks } from "../src/engine/snapshot";
import { extractModel } from "../src/run/extraction";
import { knownRowsOf } from "../src/run/storage";
import { type CopyVia, copyQuery } from "../src/sources/postgres/copy";
import { streamQuery } from "../src/sources/postgres/cursor";
import { openPostgres } from "../src/sources/postgres";
import { openSource, type SourceType } from "../src/sources/registry";
import type { WarehouseOptions } from "../src/sources/source";
import type { SyncMode } from "../src/sync/mode";
import type { SendFields } from "../src/sync/mapping";
import { changedColumns, type FieldLayout, knownFieldHashes, RowFieldHashes } from "../src/engine/field-hashes";
import { ROW_UPDATED } from "../src/engine/diff";

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
  /** `changed_fields`: snapshots keep field hashes, updates pick their changed fields (src/run/changed-fields.ts). */
  send?: SendFields;
  /** Extraction route: COPY (the engine's default) or cursor pages (Neon's route). */
  via?: CopyVia;
  /** Read through this Neon-style WebSocket proxy (Neon's route, with a local proxy). */
  webSocketProxy?: string;
  /** Extraction: the snapshot generation (with this many rows) whose unchanged rows are stored without values. */
  knownGen?: string;
  knownRows?: number;
  /** Extraction without the R2 writes: local R2 shares this machine's two cores with workerd. */
  discardChunks?: boolean;
  /** Chunks PUT over HTTP to this base URL: bench/r2-host.ts (R2 in a second workerd) or run.mjs's file store. */
  remoteBucket?: string;
  /** Extraction in keyset pages of this many rows (the route a run takes where an index serves the key). */
  pageRows?: number;
  /** /diff stops each partition after this stage (bench/plan-stages.mjs times where the change plan's time goes). */
  stop?: PlanStage;
}

/** Stages of the change plan per partition, in order; the last one, the snapshot put, has no name. */
type PlanStage = "read" | "decode" | "diff" | "batches" | "commit" | "encode";

const opts: WarehouseOptions = { statementTimeoutMs: 3_600_000, allowPrivate: true };

/** A job of the source bench (bench/sources.mjs): any source type, by its stored secret. */
interface SourceJob extends Job {
  type: SourceType;
  secret: string;
}

/** Reads the model through a source's extract (every row as its canonical line) and nothing more. */
async function sourceRead(job: SourceJob) {
  let bytes = 0;
  const { rows } = await openSource(job.type, job.secret, opts).extract(job.sql, {
    columns: () => [job.primaryKey, ...job.mapped],
    line: (line) => {
      bytes += line.length;
    },
  });
  return { rows, bytes };
}

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

/** A bucket whose puts store nothing. */
const discarding = { put: () => Promise.resolve(null) } as unknown as R2Bucket;

/** A bucket whose puts are HTTP PUTs of `<base>/<key>`. */
function remote(base: string): R2Bucket {
  const put = async (key: string, body: Uint8Array) => {
    const res = await fetch(`${base}/${encodeURIComponent(key)}`, { method: "PUT", body });
    if (!res.ok) throw new Error(`remote put ${key}: HTTP ${res.status}`);
    return null;
  };
  return { put } as unknown as R2Bucket;
}

/** The run engine's extraction step (src/run/extraction.ts): read, hash, partition, chunks to R2. */
async function extract(env: BenchEnv, job: Job & Partial<SourceJob>) {
  const hasher = await loadHasher();
  // As the run engine does: the last snapshot's pairs are loaded first (timed with the extraction).
  const loadStarted = Date.now();
  const known = job.knownGen
    ? await knownRowsOf(
        env.BENCH,
        Array.from({ length: job.partitions }, (_, p) => `snap/${job.knownGen}/part-${p}`),
        job.knownRows ?? 0,
        undefined,
        fieldLayout(job, hasher),
      )
    : null;
  // The clock moves only on I/O in workerd: this is the R2 reads plus the decoding before them.
  const knownMs = Date.now() - loadStarted;
  const out = await extractModel({
    source:
      job.type && job.secret
        ? openSource(job.type, job.secret, opts)
        : openPostgres(job.connectionString, job.webSocketProxy ? { ...opts, webSocketProxy: job.webSocketProxy } : opts, job.via),
    sql: job.sql,
    primaryKey: job.primaryKey,
    mapped: job.mapped,
    hasher,
    rowSeed: hasher.mappingSeed(job.mapped),
    partitions: job.partitions,
    bucket: job.discardChunks ? discarding : job.remoteBucket ? remote(job.remoteBucket) : env.BENCH,
    chunkKey: (c) => `runs/${job.run}/part-${c.partition}-${c.seq}`,
    known,
    pages: job.pageRows ? { rows: job.pageRows, resume: null, onPage: () => undefined } : undefined,
  });
  return {
    rows: out.rows,
    unchanged: out.unchanged,
    knownMs,
    bytes: out.bytes,
    chunkCounts: out.chunkCounts,
    chunks: out.chunkCounts.reduce((a, b) => a + b, 0),
  };
}

/** The field hashes a `changed_fields` job keeps (as src/run/changed-fields.ts fieldLayoutOf). */
function fieldLayout(job: Job, hasher: Hasher): FieldLayout | null {
  return job.send === "changed_fields" ? { count: job.mapped.length, seed: hasher.mappingSeed(job.mapped) } : null;
}

/** Diff, plan (every operation materialized in batches), all-acknowledged commit, per partition. */
async function diffAll(env: BenchEnv, job: Job) {
  const counts = {
    rows: 0,
    new: 0,
    updated: 0,
    unchanged: 0,
    gone: 0,
    failed: 0,
    operations: 0,
    batches: 0,
    payloadChars: 0,
    previous: 0,
    /** Updates sent with only their changed fields, and those fields. */
    partialUpdates: 0,
    changedFields: 0,
  };
  const hasher = await loadHasher();
  const layout = fieldLayout(job, hasher);
  const chunkCounts = job.chunkCounts ?? [];
  let snapshotBytes = 0;
  for (let p = 0; p < job.partitions; p++) {
    const n = chunkCounts[p] ?? 0;
    const [prevObj, ...chunkObjs] = await Promise.all([
      job.prevGen === null ? null : env.BENCH.get(`snap/${job.prevGen}/part-${p}`),
      ...Array.from({ length: n }, (_, i) => env.BENCH.get(`runs/${job.run}/part-${p}-${i}`)),
    ]);
    if (job.stop === "read") {
      await prevObj?.arrayBuffer();
      for (const o of chunkObjs) await o?.arrayBuffer();
      continue;
    }
    const prev = prevObj ? decodeSnapshot(new Uint8Array(await prevObj.arrayBuffer())) : emptySnapshot();
    const chunks = [];
    for (const o of chunkObjs) {
      if (!o) throw new Error(`missing chunk of partition ${p}`);
      chunks.push(decodeRunChunk(new Uint8Array(await o.arrayBuffer())));
    }
    const rows = joinRunChunks(chunks, job.mapped.length);
    if (job.stop === "decode") continue;
    const diff = diffPartition(prev, rows);
    if (job.stop === "diff") continue;
    const plan = planPartition(diff, job.mode);
    const results = new Uint8Array(plan.count);
    const fields = layout && new RowFieldHashes(hasher, rows, layout.count, layout.seed);
    const prevFields = layout && knownFieldHashes(prev, layout);
    for (const batch of operationBatches(plan, rows, prev, { maxOperations: job.batchSize })) {
      counts.batches++;
      for (const op of batch) {
        counts.payloadChars += op.key.length + (op.values?.length ?? 0);
        results[op.index] = RESULT_ACKNOWLEDGED;
        const row = plan.rows[op.index] ?? -1;
        const at = plan.prevs[op.index] ?? -1;
        // What the deliver step does per update of a changed_fields sync: hash the row's fields, compare.
        if (fields && prevFields && row >= 0 && at >= 0 && diff.rowStatus[row] === ROW_UPDATED) {
          const current = fields.of(row);
          const changed = current && changedColumns(current, prevFields, at, layout.count);
          if (changed) {
            counts.partialUpdates++;
            counts.changedFields += changed.reduce((a, b) => a + b, 0);
          }
        }
      }
    }
    if (job.stop === "batches") continue;
    const { snapshot } = commitPartition(prev, rows, diff, plan, results, fields);
    if (job.stop === "commit") continue;
    const encoded = encodeSnapshot(snapshot);
    if (job.stop === "encode") continue;
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

/**
 * Row hashes by key from cursor pages (values as strings, hashed as the rows' text) and from COPY
 * lines (hashed as bytes) over the same query: they must agree, or a switch of route would resend rows.
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
    for (const row of page.rows)
      viaRows.set(
        String(row[cols.key]),
        hasher.hashRow(
          cols.values.map((c) => row[c] ?? null),
          seed,
        ),
      );
  }
  const mismatches: string[] = [];
  let lines = 0;
  const decoder = new TextDecoder();
  const line = (line: Uint8Array) => {
    lines++;
    const text = decoder.decode(line);
    const key = text.slice(0, text.indexOf("\t"));
    const end = text.endsWith("\n") ? text.length - 1 : text.length;
    const copyHash = hasher.hashEncodedRow(
      line.subarray(line.indexOf(9) + 1, line[line.length - 1] === 10 ? line.length - 1 : line.length),
      seed,
    );
    if (viaRows.get(key) !== copyHash && mismatches.length < 5) mismatches.push(text.slice(0, end));
  };
  await copyQuery(job.connectionString, job.sql, opts, { columns: () => [job.primaryKey, ...job.mapped], line });
  return { rows: viaRows.size, lines, mismatches };
}

/** Reads the model through COPY only (the engine's reading ceiling). */
async function drainCopy(job: Job) {
  let bytes = 0;
  const { rows } = await copyQuery(job.connectionString, job.sql, opts, {
    columns: (fields) => fields.map((f) => f.name),
    line: (line) => {
      bytes += line.length;
    },
    lineRanges: (_line, starts, ends, count) => {
      for (let i = 0; i < count; i++) bytes += (ends[i] ?? 0) - (starts[i] ?? 0);
    },
  });
  return { rows, bytes };
}

/**
 * Reads the model as COPY lines and nothing more, by any route: COPY or cursor pages (`via`), over
 * TCP or a Neon-style WebSocket proxy, in one go or in keyset pages of `pageRows` (Neon's route).
 */
async function read(job: Job) {
  let bytes = 0;
  const source = openPostgres(job.connectionString, job.webSocketProxy ? { ...opts, webSocketProxy: job.webSocketProxy } : opts, job.via);
  const handler = {
    columns: (fields: readonly { name: string }[]) => fields.map((f) => f.name),
    line: (line: Uint8Array) => {
      bytes += line.length;
    },
    // As extraction takes them: a read buffer's rows at once where the source batches them.
    lineRanges: (_line: Uint8Array, starts: Int32Array, ends: Int32Array, count: number) => {
      for (let i = 0; i < count; i++) bytes += (ends[i] ?? 0) - (starts[i] ?? 0);
    },
  };
  let pages = 0;
  const out = job.pageRows
    ? await source.keyset?.extract(
        job.sql,
        {
          key: job.primaryKey,
          from: null,
          pageRows: job.pageRows,
          pageDone: () => {
            pages++;
            return true;
          },
        },
        handler,
      )
    : await source.extract(job.sql, handler);
  return { rows: out?.rows ?? 0, bytes, pages };
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
      else if (path === "/read") out = await read(job);
      else if (path === "/verify") out = await verifyPaths(job);
      else if (path === "/extract" || path === "/source-extract") out = await extract(env, job);
      else if (path === "/source-read") out = await sourceRead(job as SourceJob);
      else if (path === "/diff") out = await diffAll(env, job);
      else if (path === "/cleanup") out = await cleanup(env, job.prefixes ?? []);
      else return new Response("not found", { status: 404 });
      return Response.json(out);
    } catch (err) {
      return Response.json(
        { error: err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ""}` : String(err) },
        { status: 500 },
      );
    }
  },
};
