import type { Batch, Connector, ConnectorContext, FinishedRun, SendOutcome } from "../destination";
import { columnType, type ColumnType, FileBuilder, FORMAT_FILES, type FileRow, type StagedOperation } from "./format";
import { literalRoot, renderPath } from "./path";
import { type FilesConfig, type FilesCredentials, OWN_BUCKET } from "./schema";
import { type ObjectStore, r2Store, s3Store, type Stored } from "./store";

type Ctx = ConnectorContext<FilesConfig, FilesCredentials>;

/** Staged parts read ahead while a file is assembled. */
const READ_AHEAD = 4;

/**
 * Files destination. Each batch is staged as its own NDJSON object named by its batch id
 * (`_staging/{sync}/{run}/{batch}.ndjson`): a redelivered or concurrent copy overwrites it with the
 * same rows, so nothing is written twice. When the run's batches are settled, `finishRun` reads
 * the parts in plan order, writes the run's files (one, or several of about `file_size_mb` each),
 * then the manifest, then deletes the parts. A manifest already there means the run was finished.
 */
export const filesConnector: Connector<FilesConfig, FilesCredentials> = {
  maxBatchSize: (config) => config.batch_size,
  // One put per batch: R2 and S3 take thousands per second per prefix; stay well under.
  defaultRateLimit: { requestsPerSecond: 50, concurrency: 10 },

  /** Writes and deletes a small object where the staged parts go. */
  async test(ctx) {
    const store = openStore(ctx, "connection_test");
    if (typeof store === "string") return { ok: false, error: store };
    const key = `${stagingRoot(ctx.config, "connection_test")}connection-test-${crypto.randomUUID()}.txt`;
    const put = await store.put(key, "ok", "text/plain");
    if (!put.ok) return { ok: false, error: put.failure.error };
    const removed = await store.delete([key]);
    return removed.ok ? { ok: true } : { ok: false, error: removed.failure.error };
  },

  async send(ctx, batch: Batch): Promise<SendOutcome> {
    const store = openStore(ctx, batch.sync_id);
    if (typeof store === "string") return { kind: "rejected", error: store };
    const lines = batch.operations.map(({ op, key, fields }) => `${JSON.stringify({ op, key, fields } satisfies StagedOperation)}\n`);
    const put = await store.put(partKey(ctx.config, batch), lines.join(""), FORMAT_FILES.ndjson.contentType);
    if (!put.ok) return put.failure;
    return { kind: "results", results: batch.operations.map((o) => ({ key: o.key, ok: true })) };
  },

  async finishRun(ctx, run) {
    const store = openStore(ctx, run.sync_id);
    if (typeof store === "string") return { ok: false, error: store };
    const finished = await writeRunFiles(ctx.config, store, run);
    return finished.ok ? { ok: true } : { ok: false, error: `${store.label}: ${finished.failure.error}` };
  },
};

/** The object store of the config's target, or why there is none. */
function openStore(ctx: Ctx, syncId: string): ObjectStore | string {
  const { config } = ctx;
  if (config.target === "s3") return s3Store(config, ctx.credentials, ctx);
  const bucket = ctx.bucket?.(config.r2_binding);
  if (!bucket) return `no R2 bucket is bound to this Worker as ${config.r2_binding} (wrangler.toml [[r2_buckets]])`;
  const store = r2Store(bucket, config.r2_binding);
  if (config.r2_binding !== OWN_BUCKET) return store;
  // The Worker's own bucket also holds snapshots and run logs: a sync's exports stay in its own folder.
  const root = `exports/${syncId}/`;
  return {
    label: `${store.label}${root}`,
    put: (key, body, type) => store.put(root + key, body, type),
    get: (key) => store.get(root + key),
    list: async (prefix) => {
      const listed = await store.list(root + prefix);
      return listed.ok ? { ok: true, value: listed.value.map((k) => k.slice(root.length)) } : listed;
    },
    delete: (keys) => store.delete(keys.map((k) => root + k)),
  };
}

/** Where a run's batches are staged: under the path's literal folder, so a bucket policy on it covers them. */
function stagingRoot(config: FilesConfig, syncId: string, runId?: string): string {
  return `${literalRoot(config.path)}_staging/${syncId}/${runId ? `${runId}/` : ""}`;
}

function partKey(config: FilesConfig, batch: Batch): string {
  return `${stagingRoot(config, batch.sync_id, batch.run_id)}${batch.batch_id}.ndjson`;
}

/** The manifest of a run: what a reader of the files needs to trust them. */
export interface RunManifest {
  version: 1;
  sync_id: string;
  run_id: string;
  started_at: string;
  format: FilesConfig["format"];
  contents: FilesConfig["contents"];
  /** Columns in file order, with the type read from their values. */
  schema: { name: string; type: ColumnType }[];
  files: { path: string; rows: number; bytes: number }[];
  /** Operations of the run by kind; in a full export, deletes are counted but not written. */
  operations: Record<StagedOperation["op"], number>;
  rows: number;
}

async function writeRunFiles(config: FilesConfig, store: ObjectStore, run: FinishedRun): Promise<Stored<void>> {
  const folder = renderPath(config.path, { syncId: run.sync_id, runId: run.run_id, startedAt: run.started_at });
  const manifestKey = `${folder}${run.run_id}.manifest.json`;
  const staging = stagingRoot(config, run.sync_id, run.run_id);
  const done = await store.get(manifestKey);
  if (!done.ok) return done;
  const listed = await store.list(staging);
  if (!listed.ok) return listed;
  // Plan order: batch ids are `{run}.{partition}.{first operation}`, split halves `-0`, `-1`.
  const parts = listed.value.sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  if (done.value !== null) return store.delete(parts);

  const full = config.contents === "full";
  const columns = [...(full ? [] : ["_op"]), "_key", ...run.fields.filter((f) => f !== "_op" && f !== "_key")];
  const seen = new Map<string, unknown[]>(columns.map((c) => [c, []]));
  const { extension, contentType } = FORMAT_FILES[config.format];
  const manifest: RunManifest = {
    version: 1,
    sync_id: run.sync_id,
    run_id: run.run_id,
    started_at: run.started_at,
    format: config.format,
    contents: config.contents,
    schema: [],
    files: [],
    operations: { create: 0, update: 0, upsert: 0, delete: 0 },
    rows: 0,
  };
  const limit = config.file_size_mb * 1024 * 1024;
  let file = new FileBuilder(config.format, columns);
  const flush = async (): Promise<Stored<void>> => {
    const path = `${folder}${run.run_id}-${String(manifest.files.length + 1).padStart(5, "0")}.${extension}`;
    const bytes = file.finish();
    const put = await store.put(path, bytes, contentType);
    if (!put.ok) return put;
    manifest.files.push({ path, rows: file.rows, bytes: bytes.length });
    file = new FileBuilder(config.format, columns);
    return put;
  };

  // Parts are read a few ahead, in order; memory holds them and the file being built.
  const reads: Promise<Stored<string | null>>[] = [];
  let next = 0;
  for (;;) {
    for (; next < parts.length && reads.length < READ_AHEAD; next++) reads.push(store.get(parts[next] ?? ""));
    const got = await reads.shift();
    if (!got) break;
    if (!got.ok) return got;
    for (const line of (got.value ?? "").split("\n")) {
      if (!line) continue;
      const { op, key, fields } = JSON.parse(line) as StagedOperation;
      manifest.operations[op] += 1;
      if (full && op === "delete") continue;
      const row: FileRow = { ...fields, _op: op, _key: key };
      for (const c of columns) if (row[c] !== null && row[c] !== undefined) noteValue(seen, c, row[c]);
      file.add(row);
      manifest.rows += 1;
      if (file.size >= limit) {
        const flushed = await flush();
        if (!flushed.ok) return flushed;
      }
    }
  }
  if (file.rows > 0) {
    const flushed = await flush();
    if (!flushed.ok) return flushed;
  }
  manifest.schema = columns.map((name) => ({ name, type: columnType(seen.get(name) ?? []) }));
  const put = await store.put(manifestKey, JSON.stringify(manifest, null, 2), "application/json");
  if (!put.ok) return put;
  return store.delete(parts);
}

/** Keeps a few values of each column, one of each kind: enough to tell its type. */
function noteValue(seen: Map<string, unknown[]>, column: string, value: unknown): void {
  const values = seen.get(column);
  if (!values || values.length >= 4 || values.some((v) => typeof v === typeof value)) return;
  values.push(value);
}
