import { mappingColumns, mappingSeedParts } from "../../sync/mapping";
import { choosePartitionCount } from "../../engine/partition";
import { loadHasher } from "../../engine/hash";
import { log } from "../../lib/log";
import { decryptSecret } from "../../lib/secrets";
import { WarehouseError } from "../../sources/errors";
import { openSource } from "../../sources/registry";
import { warehouseOptions } from "../../sources/source";
import { extractModel } from "../extraction";
import { transientWarehouseError, warehouseRetryDelayMs, warehouseRetryPolicy } from "../retry";
import { RunFailure, type RunState } from "../state";
import { deletePrefix, loadKnownRows, paths } from "../storage";
import type { StepContext, StepOutcome } from "./context";

/** How often extraction writes its progress to the run record. */
const PROGRESS_EVERY_ROWS = 50_000;

/**
 * Streams the model into partitioned R2 chunks in one go: a warehouse read cannot outlive the
 * invocation, so an interrupted extraction starts over (its chunks are deleted first and written
 * by a fresh writer, nothing counted twice). A transient warehouse error (src/run/retry.ts) does
 * not fail the run: the step stays at extract and starts over once its backoff has passed (the
 * driver re-arms the alarm for then; an early alarm only waits again).
 */
export async function run(ctx: StepContext, s: RunState): Promise<StepOutcome> {
  const waitMs = (s.extractRetryAt ?? 0) - Date.now();
  if (waitMs > 0) return { state: s, next: "extract", waitMs };
  try {
    return await extract(ctx, s);
  } catch (err) {
    const retries = s.warehouseRetries ?? 0;
    const delay = warehouseRetryDelayMs(err, retries, warehouseRetryPolicy(ctx.env));
    if (delay === null || !(err instanceof WarehouseError)) throw err;
    s.warehouseRetries = retries + 1;
    s.extractRetryAt = Date.now() + delay;
    ctx.run.progress = { warehouse_retries: s.warehouseRetries };
    ctx.run.rows_processed = 0;
    log(
      "run_warehouse_retry",
      {
        sync_id: ctx.syncId,
        run_id: ctx.run.id,
        retry: s.warehouseRetries,
        wait_ms: delay,
        error: err.code,
        sqlstate: err.sqlstate,
        message: err.message,
      },
      "warn",
    );
    return { state: s, next: "extract", waitMs: delay };
  }
}

/** The progress figures extraction keeps across its retries. */
function retriesOf(s: RunState): { warehouse_retries?: number } {
  return s.warehouseRetries ? { warehouse_retries: s.warehouseRetries } : {};
}

async function extract(ctx: StepContext, s: RunState): Promise<StepOutcome> {
  const { env, run, bucket, syncId, pointer } = ctx;
  const opts = warehouseOptions(env);
  let secret: string;
  try {
    secret = await decryptSecret(env.ENCRYPTION_KEY, s.config.connectionCiphertext, s.config.sourceId);
  } catch {
    throw new RunFailure("source_credentials_unreadable", "the source's connection string cannot be decrypted; set it again");
  }
  const source = openSource(s.config.sourceType ?? "postgres", secret, opts);
  // The estimate only sizes the partitions: a failure leaves it at 0, except a transient one, which
  // the extraction would hit too (retried like it, rather than sizing a big model as an empty one).
  const estimate = await source.estimateRows(s.config.sql).catch((err: unknown) => {
    if (transientWarehouseError(err)) throw err;
    return 0;
  });
  const partitions = choosePartitionCount(Math.max(estimate, pointer?.rows ?? 0));
  const hasher = await loadHasher();
  // Rows the last snapshot holds unchanged are stored without values (a full resync sends them all).
  const known = run.options.full_resync === true ? null : await loadKnownRows(bucket, syncId, pointer);
  await deletePrefix(bucket, paths.run(syncId, run.id));
  const extraction = await extractModel({
    source,
    sql: s.config.sql,
    primaryKey: s.config.primaryKey,
    mapped: mappingColumns(s.config.mappings),
    hasher,
    rowSeed: hasher.mappingSeed(mappingSeedParts(s.config.mappings)),
    partitions,
    bucket,
    chunkKey: (c) => paths.chunk(syncId, run.id, c.partition, c.seq),
    known,
    progressEvery: PROGRESS_EVERY_ROWS,
    onProgress: async (rows) => {
      run.progress = { ...retriesOf(s), rows_read: rows };
      run.rows_processed = rows;
      await ctx.publish();
    },
  });
  const rows = extraction.rows;
  s.partitions = partitions;
  s.chunks = extraction.chunkCounts;
  s.fieldTypes = extraction.fieldTypes;
  s.totals.rows = rows;
  s.partition = 0;
  s.extractRetryAt = undefined;
  run.rows_processed = rows;
  run.progress = { ...retriesOf(s), rows_read: rows, partitions: partitions };
  log("run_extracted", { sync_id: syncId, run_id: run.id, rows, partitions, stored_without_values: extraction.unchanged });
  return { state: s, next: "diff" };
}
