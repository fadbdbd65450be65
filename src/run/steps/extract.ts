import { mappingColumns, mappingSeedParts } from "../../sync/mapping";
import { choosePartitionCount } from "../../engine/partition";
import { loadHasher } from "../../engine/hash";
import { log } from "../../lib/log";
import { decryptSecret } from "../../lib/secrets";
import { WarehouseError } from "../../sources/errors";
import { openSource } from "../../sources/registry";
import { type Source, warehouseOptions } from "../../sources/source";
import { fieldLayoutOf } from "../changed-fields";
import { type Extraction, extractModel } from "../extraction";
import { transientWarehouseError, warehouseRetryDelayMs, warehouseRetryPolicy } from "../retry";
import { type ExtractionPlan, extractionFigures, plansEveryRow, RunFailure, type RunState } from "../state";
import { deletePrefix, loadKnownRows, paths } from "../storage";
import type { StepContext, StepOutcome } from "./context";

/** How often extraction writes its progress to the run record. */
const PROGRESS_EVERY_ROWS = 50_000;
/** Rows per page of a keyset extraction unless `EXTRACT_PAGE_ROWS` says otherwise. */
const DEFAULT_PAGE_ROWS = 100_000;
/** A keyset extraction yields to the alarm after the first page past this (wall time), and goes on at the next. */
const EXTRACT_BUDGET_MS = 30_000;

/** Rows per keyset page: `EXTRACT_PAGE_ROWS` (a Worker var; tests shrink it), else {@link DEFAULT_PAGE_ROWS}. */
export function extractPageRows(vars: { EXTRACT_PAGE_ROWS?: string }): number {
  const n = Number(vars.EXTRACT_PAGE_ROWS);
  return Number.isInteger(n) && n >= 1 && n <= 10_000_000 ? n : DEFAULT_PAGE_ROWS;
}

/**
 * Streams the model into partitioned R2 chunks. Where the source reads in key order cheaply
 * (`Source.keyset`: e.g. Postgres with an index on the key), in pages whose mark is checkpointed
 * once their chunks are stored, so an interrupted extraction (a crash, a deploy, a warehouse
 * restart) goes on after its last finished page; otherwise in one read, which starts over (its
 * chunks deleted first, written by a fresh writer, nothing counted twice). A transient warehouse
 * error (src/run/retry.ts) does not fail the run: the step stays at extract and tries again once
 * its backoff has passed (the driver re-arms the alarm for then; an early alarm only waits again);
 * a finished page resets the count of tries.
 */
export async function run(ctx: StepContext, s: RunState): Promise<StepOutcome> {
  const waitMs = (s.extractRetryAt ?? 0) - Date.now();
  if (waitMs > 0) return { state: s, next: "extract", waitMs };
  try {
    return await extract(ctx, s);
  } catch (err) {
    const inRow = s.warehouseRetriesInRow ?? 0;
    const delay = warehouseRetryDelayMs(err, inRow, warehouseRetryPolicy(ctx.env));
    if (delay === null || !(err instanceof WarehouseError)) throw err;
    s.warehouseRetries = (s.warehouseRetries ?? 0) + 1;
    s.warehouseRetriesInRow = inRow + 1;
    s.extractRetryAt = Date.now() + delay;
    ctx.run.progress = progressOf(s, s.extraction?.mark?.rows ?? 0);
    ctx.run.rows_processed = s.extraction?.mark?.rows ?? 0;
    log(
      "run_warehouse_retry",
      {
        sync_id: ctx.syncId,
        run_id: ctx.run.id,
        retry: s.warehouseRetries,
        wait_ms: delay,
        resume_at_rows: s.extraction?.mark?.rows ?? 0,
        error: err.code,
        sqlstate: err.sqlstate,
        message: err.message,
      },
      "warn",
    );
    return { state: s, next: "extract", waitMs: delay };
  }
}

/** The progress figures of the extraction, kept across its tries and pages. */
function progressOf(s: RunState, rows: number): Record<string, number> {
  return { ...(s.warehouseRetries ? { warehouse_retries: s.warehouseRetries } : {}), ...extractionFigures(s), rows_read: rows };
}

async function extract(ctx: StepContext, s: RunState): Promise<StepOutcome> {
  const { env, run, bucket, syncId, pointer } = ctx;
  let secret: string;
  try {
    secret = await decryptSecret(env.ENCRYPTION_KEY, s.config.connectionCiphertext, s.config.sourceId);
  } catch {
    throw new RunFailure("source_credentials_unreadable", "the source's connection string cannot be decrypted; set it again");
  }
  const source = openSource(s.config.sourceType ?? "postgres", secret, warehouseOptions(env));
  let plan = s.extraction;
  if (!plan) {
    plan = await planExtraction(ctx, s, source);
    // Partitions and route are fixed now: a resumed extraction writes the same partitions' chunks.
    s.extraction = plan;
  } else {
    if (plan.reading) {
      plan.resumes++;
      log("run_extract_resumed", {
        sync_id: syncId,
        run_id: run.id,
        route: plan.route,
        pages: plan.mark?.pages ?? 0,
        rows: plan.mark?.rows ?? 0,
      });
    }
    // One read of the whole model starts over.
    if (plan.route === "whole") await deletePrefix(bucket, paths.run(syncId, run.id));
  }
  const done = plan.mark?.next === null ? plan.mark : null;
  if (done) return finish(ctx, s, { ...done });
  plan.reading = true;
  ctx.checkpoint(s);
  const hasher = await loadHasher();
  // Rows the last snapshot holds unchanged are stored without values (a full resync sends them all).
  const known = plansEveryRow(s, run.options) ? null : await loadKnownRows(bucket, syncId, pointer, fieldLayoutOf(s, hasher));
  const keyset = plan.route === "keyset" ? plan : null;
  const extraction = await extractModel({
    source,
    sql: s.config.sql,
    primaryKey: s.config.primaryKey,
    mapped: mappingColumns(s.config.mappings),
    hasher,
    rowSeed: hasher.mappingSeed(mappingSeedParts(s.config.mappings)),
    partitions: s.partitions,
    bucket,
    chunkKey: (c) => paths.chunk(syncId, run.id, c.partition, c.seq),
    known,
    progressEvery: PROGRESS_EVERY_ROWS,
    onProgress: async (rows) => {
      run.progress = progressOf(s, rows);
      run.rows_processed = rows;
      await ctx.publish();
    },
    pages: keyset
      ? {
          rows: keyset.pageRows,
          resume: keyset.mark,
          onPage: (mark) => {
            keyset.mark = mark;
            s.warehouseRetriesInRow = 0;
            ctx.checkpoint(s);
          },
          stop: () => ctx.stopRequested() || Date.now() - ctx.started >= EXTRACT_BUDGET_MS,
          onLost: (rows) => {
            keyset.rowsReread += rows;
          },
        }
      : undefined,
  });
  plan.reading = false;
  if (extraction.next) {
    // Stopped between pages (its budget, or a cancel): the next alarm goes on from the mark.
    run.progress = progressOf(s, extraction.rows);
    return { state: s, next: "extract" };
  }
  return finish(ctx, s, extraction);
}

/** The first start of a run's extraction: partitions and route. */
async function planExtraction(ctx: StepContext, s: RunState, source: Source): Promise<ExtractionPlan> {
  // The estimate only sizes the partitions: a failure leaves it at 0, except a transient one, which
  // the extraction would hit too (retried like it, rather than sizing a big model as an empty one).
  const estimate = await source.estimateRows(s.config.sql).catch((err: unknown) => {
    if (transientWarehouseError(err)) throw err;
    return 0;
  });
  // Pages only where the warehouse serves the key's order without sorting the model each time.
  const pageRows = extractPageRows(ctx.env);
  const cheap = source.keyset
    ? await source.keyset.cheap(s.config.sql, s.config.primaryKey, pageRows).catch((err: unknown) => {
        if (transientWarehouseError(err)) throw err;
        return false;
      })
    : false;
  s.partitions = choosePartitionCount(Math.max(estimate, ctx.pointer?.rows ?? 0));
  await deletePrefix(ctx.bucket, paths.run(ctx.syncId, ctx.run.id));
  return { route: cheap ? "keyset" : "whole", pageRows, mark: null, reading: false, resumes: 0, rowsReread: 0 };
}

function finish(ctx: StepContext, s: RunState, extraction: Omit<Extraction, "next">): StepOutcome {
  const { run, syncId } = ctx;
  const rows = extraction.rows;
  s.chunks = extraction.chunkCounts;
  s.fieldTypes = extraction.fieldTypes;
  s.totals.rows = rows;
  s.partition = 0;
  s.extractRetryAt = undefined;
  run.rows_processed = rows;
  run.progress = { ...progressOf(s, rows), partitions: s.partitions };
  log("run_extracted", {
    sync_id: syncId,
    run_id: run.id,
    rows,
    partitions: s.partitions,
    route: s.extraction?.route,
    pages: s.extraction?.mark?.pages,
    stored_without_values: extraction.unchanged,
  });
  return { state: s, next: "diff" };
}
