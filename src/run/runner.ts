import { and, eq } from "drizzle-orm";
import { createDb } from "../db/client";
import { destinations, models, runRowErrors, sources, syncs } from "../db/schema";
import type { Operation as DestinationOperation, OperationKind, RowResult } from "../destination/connector";
import { connectorFor } from "../destination/connectors";
import { MAX_INLINE_BYTES, type DeliveryMessage } from "../delivery/message";
import { commitPartition, RESULT_ACKNOWLEDGED, RESULT_FAILED } from "../engine/commit";
import { diffPartition, type PartitionDiff } from "../engine/diff";
import { MissingColumnError } from "../engine/extract";
import { loadHasher } from "../engine/hash";
import { choosePartitionCount } from "../engine/partition";
import { checkMassDelete, operationAt, operationBatches, planPartition, type PartitionPlan } from "../engine/plan";
import { encodeSnapshot, type RunRows, type SnapshotPartition } from "../engine/snapshot";
import { log } from "../lib/log";
import { decryptSecret } from "../lib/secrets";
import { WarehouseError } from "../sources/errors";
import { estimateRows } from "../sources/postgres/queries";
import { jsonValue } from "../sources/postgres/types";
import { warehouseOptions } from "../sources/source";
import type { FieldMapping } from "../sync/mapping";
import type { SyncMode } from "../sync/mode";
import { extractModel } from "./extraction";
import { RunLedger, type FailedRowRecord } from "./ledger";
import { saveRun, type RunRecord } from "./record";
import { deletePrefix, loadKnownRows, loadRunRows, loadSnapshot, paths, type SnapshotPointer } from "./storage";

/** Work one alarm does before checkpointing and yielding (wall time). */
const STEP_BUDGET_MS = 10_000;
/** How often extraction writes its progress to the run record. */
const PROGRESS_EVERY_ROWS = 50_000;
/** While batches are out, the alarm checks back this often (a safety net; reports wake the run). */
const AWAIT_POLL_MS = 60_000;
/** Queue sendBatch accepts up to 100 messages and 256 KB in all. */
const SEND_BATCH_MESSAGES = 100;
const SEND_BATCH_BYTES = 200 * 1024;

type Step = "extract" | "diff" | "deliver" | "await" | "commit" | "report";

/** The sync's settings, frozen at the start of a run so an edit mid-run cannot mix two configurations. */
interface RunConfig {
  workspaceId: string;
  sql: string;
  primaryKey: string;
  mappings: FieldMapping[];
  mode: SyncMode;
  sourceId: string;
  connectionCiphertext: string;
  destinationId: string;
  destinationType: (typeof destinations.$inferSelect)["type"];
  maxBatchSize: number;
  massDeleteThresholdPct: number;
}

/** A run's checkpoint: everything needed to continue it after eviction or a crash. */
interface RunState {
  runId: string;
  step: Step;
  config: RunConfig;
  partitions: number;
  /** Chunks written per partition. */
  chunks: number[];
  /** Postgres type OIDs of the mapped columns, to type values for delivery. */
  fieldTypes: number[];
  /** Next partition for diff, deliver and commit. */
  partition: number;
  /** Next operation of `partition` to enqueue. */
  operation: number;
  totals: { rows: number; unchanged: number; create: number; update: number; upsert: number; delete: number; batches: number };
  committed: { created: number; updated: number; deleted: number; entries: number };
  /** Set when the run must stop (destination auth refused): unsent batches fail, the rest commits. */
  abort: { code: string; message: string } | null;
  /** Last failure copied to D1 by the report step. */
  reportedSeq: number;
  /** A dry run's verdict: the mass-delete guard would have stopped a real run. */
  massDeleteBlocked?: boolean;
}

/** Operations the diff planned over all partitions so far. */
function plannedOperations(s: RunState): number {
  return s.totals.create + s.totals.update + s.totals.upsert + s.totals.delete;
}

/** A row's result as the consumer reports it, with the operation it was. */
export type BatchRowResult = RowResult & { op: OperationKind };

export interface StepResult {
  /** The run has reached a final status (set on `run.status`). */
  done: boolean;
  /** Nothing to do until batch reports arrive; check back after this long. */
  waitMs?: number;
}

const STATE_KEY = "run";
const POINTER_KEY = "snapshot";

/**
 * The run engine of one sync, inside its SyncObject: extract → diff → deliver → await → commit →
 * report, one budgeted step per alarm, each checkpointed in DO storage before it yields.
 */
export class RunEngine {
  readonly ledger: RunLedger;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: Env,
    private readonly syncId: string,
  ) {
    this.ledger = new RunLedger(ctx.storage.sql);
  }

  private get bucket(): R2Bucket {
    return this.env.SNAPSHOTS;
  }

  private state(runId: string): RunState | undefined {
    const s = this.ctx.storage.kv.get<RunState>(STATE_KEY);
    return s?.runId === runId ? s : undefined;
  }

  private save(s: RunState): void {
    this.ctx.storage.kv.put(STATE_KEY, s);
  }

  private pointer(): SnapshotPointer | null {
    return this.ctx.storage.kv.get<SnapshotPointer>(POINTER_KEY) ?? null;
  }

  /** Advances the run by one step. Errors a user can act on fail the run; others throw (the alarm retries). */
  async advance(run: RunRecord): Promise<StepResult> {
    try {
      let s = this.state(run.id);
      if (!s) {
        s = await this.begin(run);
        this.save(s);
      }
      switch (s.step) {
        case "extract":
          return await this.extract(run, s);
        case "diff":
          return await this.diff(run, s);
        case "deliver":
          return await this.deliver(run, s);
        case "await":
          return this.awaitBatches(run, s);
        case "commit":
          return await this.commit(run, s);
        case "report":
          return await this.report(run, s);
      }
    } catch (err) {
      if (err instanceof RunFailure || err instanceof WarehouseError || err instanceof MissingColumnError) {
        const error =
          err instanceof RunFailure
            ? { code: err.code, message: err.message }
            : err instanceof WarehouseError
              ? { code: err.code, message: err.message }
              : { code: "mapping_column_missing", message: err.message };
        run.status = "failed";
        run.error = error;
        log("run_failed", { sync_id: this.syncId, run_id: run.id, phase: run.phase, error: error.code, message: error.message }, "warn");
        return { done: true };
      }
      throw err;
    }
  }

  /** Freezes the sync's configuration for this run. */
  private async begin(run: RunRecord): Promise<RunState> {
    const db = createDb(this.env.DB);
    const sync = await db.query.syncs.findFirst({ where: eq(syncs.id, this.syncId) });
    if (!sync) throw new RunFailure("sync_missing", "the sync no longer exists");
    const [model, destination] = await Promise.all([
      db.query.models.findFirst({ where: and(eq(models.id, sync.modelId), eq(models.workspaceId, sync.workspaceId)) }),
      db.query.destinations.findFirst({
        where: and(eq(destinations.id, sync.destinationId), eq(destinations.workspaceId, sync.workspaceId)),
      }),
    ]);
    if (!model) throw new RunFailure("model_missing", `model ${sync.modelId} no longer exists`);
    if (!destination) throw new RunFailure("destination_missing", `destination ${sync.destinationId} no longer exists`);
    const source = await db.query.sources.findFirst({ where: eq(sources.id, model.sourceId) });
    if (!source) throw new RunFailure("source_missing", `source ${model.sourceId} no longer exists`);
    return {
      runId: run.id,
      step: "extract",
      config: {
        workspaceId: sync.workspaceId,
        sql: model.sql,
        primaryKey: model.primaryKey,
        mappings: sync.fieldMappings,
        mode: sync.mode,
        sourceId: source.id,
        connectionCiphertext: source.connectionCiphertext,
        destinationId: destination.id,
        destinationType: destination.type,
        maxBatchSize: connectorFor(destination.type).maxBatchSize(destination.config),
        massDeleteThresholdPct: sync.massDeleteThresholdPct,
      },
      partitions: 1,
      chunks: [],
      fieldTypes: [],
      partition: 0,
      operation: 0,
      totals: { rows: 0, unchanged: 0, create: 0, update: 0, upsert: 0, delete: 0, batches: 0 },
      committed: { created: 0, updated: 0, deleted: 0, entries: 0 },
      abort: null,
      reportedSeq: 0,
    };
  }

  /**
   * Streams the model into partitioned R2 chunks in one go: a warehouse read cannot outlive the
   * invocation, so an interrupted extraction starts over (its chunks are overwritten, nothing counted twice).
   */
  private async extract(run: RunRecord, s: RunState): Promise<StepResult> {
    run.phase = "extract";
    const opts = warehouseOptions(this.env);
    let connectionString: string;
    try {
      connectionString = await decryptSecret(this.env.ENCRYPTION_KEY, s.config.connectionCiphertext, s.config.sourceId);
    } catch {
      throw new RunFailure("source_credentials_unreadable", "the source's connection string cannot be decrypted; set it again");
    }
    const pointer = this.pointer();
    const estimate = await estimateRows(connectionString, s.config.sql, opts).catch(() => 0);
    const partitions = choosePartitionCount(Math.max(estimate, pointer?.rows ?? 0));
    const hasher = await loadHasher();
    // Rows the last snapshot holds unchanged are stored without values (a full resync sends them all).
    const known = run.options.full_resync === true ? null : await loadKnownRows(this.bucket, this.syncId, pointer);
    await deletePrefix(this.bucket, paths.run(this.syncId, run.id));
    const extraction = await extractModel({
      connectionString,
      sql: s.config.sql,
      opts,
      primaryKey: s.config.primaryKey,
      mapped: s.config.mappings.map((m) => m.source),
      hasher,
      rowSeed: hasher.mappingSeed(s.config.mappings.map((m) => m.destination)),
      partitions,
      bucket: this.bucket,
      chunkKey: (c) => paths.chunk(this.syncId, run.id, c.partition, c.seq),
      known,
      progressEvery: PROGRESS_EVERY_ROWS,
      onProgress: async (rows) => {
        run.progress = { rows_read: rows };
        run.rows_processed = rows;
        await this.publish(run);
      },
    });
    const rows = extraction.rows;
    s.partitions = partitions;
    s.chunks = extraction.chunkCounts;
    s.fieldTypes = extraction.fieldTypes;
    s.totals.rows = rows;
    s.step = "diff";
    s.partition = 0;
    run.rows_processed = rows;
    run.progress = { rows_read: rows, partitions: partitions };
    run.phase = "diff";
    this.save(s);
    log("run_extracted", { sync_id: this.syncId, run_id: run.id, rows, partitions, stored_without_values: extraction.unchanged });
    return { done: false };
  }

  /** Mirrors the run's progress to D1 mid-step, so the API shows it while the step runs. */
  private async publish(run: RunRecord): Promise<void> {
    await saveRun(createDb(this.env.DB), run);
  }

  /** Diff of partition p against the committed snapshot, and its plan. */
  private async partitionPlan(
    run: RunRecord,
    s: RunState,
    p: number,
  ): Promise<{ prev: SnapshotPartition; rows: RunRows; diff: PartitionDiff; plan: PartitionPlan }> {
    const [prev, rows] = await Promise.all([
      loadSnapshot(this.bucket, this.syncId, this.pointer(), p, s.partitions),
      loadRunRows(this.bucket, this.syncId, run.id, p, s.chunks[p] ?? 0, s.config.mappings.length),
    ]);
    const diff = diffPartition(prev, rows);
    const plan = planPartition(diff, s.config.mode, { fullResync: run.options.full_resync === true });
    return { prev, rows, diff, plan };
  }

  /** Diffs every partition to count the change plan, then applies the mass-delete guard before anything is sent. */
  private async diff(run: RunRecord, s: RunState): Promise<StepResult> {
    const started = Date.now();
    while (s.partition < s.partitions && Date.now() - started < STEP_BUDGET_MS) {
      const p = s.partition;
      const { diff, plan } = await this.partitionPlan(run, s, p);
      this.ledger.clearStepFailures(run.id, p, "validate");
      this.ledger.addFailures(
        run.id,
        diff.failed.map((f): FailedRowRecord => ({ partition: p, key: f.key, operation: "validate", message: f.message })),
        "validate",
      );
      s.totals.unchanged += diff.counts.unchanged;
      for (const kind of ["create", "update", "upsert", "delete"] as const) s.totals[kind] += plan.counts[kind];
      s.partition = p + 1;
      run.progress = { ...run.progress, partitions_diffed: s.partition };
      this.save(s);
    }
    if (s.partition < s.partitions) return { done: false };

    const verdict = checkMassDelete({
      deletes: s.totals.delete,
      previousRows: this.pointer()?.rows ?? 0,
      currentRows: s.totals.rows,
      thresholdPercent: s.config.massDeleteThresholdPct,
      allowMassDelete: run.options.allow_mass_delete === true,
    });
    if (run.options.dry_run === true) {
      // A preview ends here: the plan is counted (the report shows it), nothing is sent, the last snapshot stays.
      s.massDeleteBlocked = verdict.stop;
      s.step = "report";
      s.reportedSeq = 0;
      this.save(s);
      return { done: false };
    }
    if (verdict.stop) {
      throw new RunFailure(
        "mass_delete_blocked",
        `${verdict.reason ?? "too many deletes"}. Nothing was sent. If this is intended, trigger the run with {"allow_mass_delete": true}.`,
      );
    }
    s.step = "deliver";
    s.partition = 0;
    s.operation = 0;
    run.phase = "deliver";
    run.progress = { ...run.progress, operations_planned: plannedOperations(s) };
    this.save(s);
    return { done: false };
  }

  /** Enqueues the plan's operations as destination batches, partition by partition. */
  private async deliver(run: RunRecord, s: RunState): Promise<StepResult> {
    const started = Date.now();
    while (s.partition < s.partitions && Date.now() - started < STEP_BUDGET_MS) {
      const p = s.partition;
      const { prev, rows, plan } = await this.partitionPlan(run, s, p);
      const messages: MessageSendRequest<DeliveryMessage>[] = [];
      let bytes = 0;
      const flush = async (nextOperation: number) => {
        if (messages.length) await this.env.DELIVERIES.sendBatch(messages.splice(0, messages.length));
        bytes = 0;
        s.operation = nextOperation;
        this.save(s);
      };
      let next = s.operation;
      for (const batch of operationBatches(
        plan,
        rows,
        prev,
        { maxOperations: s.config.maxBatchSize, maxBytes: MAX_INLINE_BYTES / 2 },
        s.operation,
      )) {
        const first = batch[0];
        if (!first) continue;
        const batchId = `${run.id}.${p}.${first.index}`;
        const operations = batch.map((op): DestinationOperation => ({ op: op.kind, key: op.key, fields: this.fields(s, op.values) }));
        const body = await this.message(run.id, s, batchId, operations);
        const size = JSON.stringify(body).length;
        if (bytes + size > SEND_BATCH_BYTES) await flush(first.index);
        messages.push({ body });
        bytes += size;
        this.ledger.addBatch(run.id, batchId, p, first.index, first.index + batch.length - 1);
        s.totals.batches += 1;
        next = (batch.at(-1)?.index ?? first.index) + 1;
        if (messages.length >= SEND_BATCH_MESSAGES) await flush(next);
        if (Date.now() - started >= STEP_BUDGET_MS) break;
      }
      await flush(next);
      if (next < plan.count) break; // budget spent inside the partition; continue next alarm
      s.partition = p + 1;
      s.operation = 0;
      run.progress = { ...run.progress, batches_sent: s.totals.batches };
      this.save(s);
    }
    if (s.partition < s.partitions) return { done: false };
    s.step = "await";
    this.save(s);
    return this.awaitBatches(run, s);
  }

  /** Mapped values as the destination's fields, typed from the model's column types. */
  private fields(s: RunState, values: (string | null)[] | null): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (!values) return out;
    s.config.mappings.forEach((m, i) => {
      out[m.destination] = jsonValue(s.fieldTypes[i] ?? 25, values[i] ?? null);
    });
    return out;
  }

  private async message(runId: string, s: RunState, batchId: string, operations: DestinationOperation[]): Promise<DeliveryMessage> {
    const envelope = {
      sync_id: this.syncId,
      run_id: runId,
      batch_id: batchId,
      destination_id: s.config.destinationId,
      workspace_id: s.config.workspaceId,
    };
    const json = JSON.stringify(operations);
    if (json.length <= MAX_INLINE_BYTES) return { ...envelope, operations };
    const key = paths.batch(this.syncId, runId, batchId);
    await this.bucket.put(key, json);
    return { ...envelope, operations_key: key };
  }

  private awaitBatches(run: RunRecord, s: RunState): StepResult {
    const open = this.ledger.openBatches(run.id);
    run.progress = { ...run.progress, batches_sent: s.totals.batches, batches_acknowledged: s.totals.batches - open };
    if (open > 0) return { done: false, waitMs: AWAIT_POLL_MS };
    s.step = "commit";
    s.partition = 0;
    run.phase = "commit";
    this.save(s);
    return { done: false };
  }

  /** Writes the new snapshot: acknowledged state per key, failed rows keep their previous state. */
  private async commit(run: RunRecord, s: RunState): Promise<StepResult> {
    const started = Date.now();
    while (s.partition < s.partitions && Date.now() - started < STEP_BUDGET_MS) {
      const p = s.partition;
      const { prev, rows, diff, plan } = await this.partitionPlan(run, s, p);
      const failed = this.ledger.failedKeys(run.id, p);
      const results = new Uint8Array(plan.count);
      for (let k = 0; k < plan.count; k++) {
        results[k] = failed.has(operationAt(plan, k, rows, prev).key) ? RESULT_FAILED : RESULT_ACKNOWLEDGED;
      }
      // Operations of batches never sent (the run was aborted) fail too, each listed with its key.
      const aborted: FailedRowRecord[] = [];
      for (const { firstOp, lastOp } of this.ledger.abortedRanges(run.id, p)) {
        for (let k = firstOp; k <= lastOp && k < plan.count; k++) {
          results[k] = RESULT_FAILED;
          const op = operationAt(plan, k, rows, prev);
          aborted.push({
            partition: p,
            key: op.key,
            operation: op.kind,
            message: `not sent: ${s.abort?.message ?? "the run was stopped"}`,
          });
        }
      }
      this.ledger.clearStepFailures(run.id, p, "abort");
      this.ledger.addFailures(run.id, aborted, "abort");
      const { snapshot, counts } = commitPartition(prev, rows, diff, plan, results);
      await this.bucket.put(paths.snapshot(this.syncId, run.id, p), encodeSnapshot(snapshot));
      s.committed.created += counts.created;
      s.committed.updated += counts.updated;
      s.committed.deleted += counts.deleted;
      s.committed.entries += snapshot.count;
      s.partition = p + 1;
      run.progress = { ...run.progress, partitions_committed: s.partition };
      this.save(s);
    }
    if (s.partition < s.partitions) return { done: false };
    // The switch to the new snapshot is one storage write: a crash before it keeps the old one whole.
    const previous = this.pointer();
    this.ctx.storage.kv.put(POINTER_KEY, { runId: run.id, partitions: s.partitions, rows: s.committed.entries } satisfies SnapshotPointer);
    if (previous && previous.runId !== run.id) await deletePrefix(this.bucket, paths.snapshots(this.syncId, previous.runId));
    s.step = "report";
    s.reportedSeq = 0;
    this.save(s);
    return { done: false };
  }

  /** Copies failed rows to D1 page by page, then sets the run's final counts and status. */
  private async report(run: RunRecord, s: RunState): Promise<StepResult> {
    const db = createDb(this.env.DB);
    if (s.reportedSeq === 0) await db.delete(runRowErrors).where(eq(runRowErrors.runId, run.id));
    const started = Date.now();
    for (;;) {
      const page = this.ledger.failurePage(run.id, s.reportedSeq, 500);
      if (page.length === 0) break;
      const now = new Date().toISOString();
      const rowsOf = page.map((f) => ({ runId: run.id, primaryKey: f.key, operation: f.operation, message: f.message, createdAt: now }));
      // D1 caps bound parameters per statement: insert in slices of 10 rows (5 columns each).
      const inserts = [];
      for (let i = 0; i < rowsOf.length; i += 10) inserts.push(db.insert(runRowErrors).values(rowsOf.slice(i, i + 10)));
      const [head, ...tail] = inserts;
      if (head) await db.batch([head, ...tail]);
      s.reportedSeq = page.at(-1)?.seq ?? s.reportedSeq;
      this.save(s);
      if (Date.now() - started >= STEP_BUDGET_MS) return { done: false };
    }
    const failures = this.ledger.failureCount(run.id);
    const planned = plannedOperations(s);
    // The progress figures a step wrote to the run record are lost if the object dies before the
    // record is persisted (the step's checkpoint survives): rebuild the final ones from the checkpoint.
    run.progress = {
      ...run.progress,
      rows_read: s.totals.rows,
      partitions: s.partitions,
      partitions_diffed: s.partitions,
      operations_planned: planned,
      batches_sent: s.totals.batches,
      partitions_committed: run.options.dry_run === true ? 0 : s.partitions,
      ...(run.options.dry_run === true
        ? {
            planned_creates: s.totals.create,
            planned_updates: s.totals.update,
            planned_upserts: s.totals.upsert,
            planned_deletes: s.totals.delete,
            mass_delete_blocked: s.massDeleteBlocked ? 1 : 0,
          }
        : {}),
    };
    run.rows_processed = s.totals.rows;
    run.rows_created = s.committed.created;
    run.rows_updated = s.committed.updated;
    run.rows_deleted = s.committed.deleted;
    run.rows_unchanged = s.totals.unchanged;
    run.rows_failed = failures;
    const accepted = s.committed.created + s.committed.updated + s.committed.deleted;
    const exhausted = this.ledger.exhaustedCount(run.id);
    if (s.abort) {
      run.status = "failed";
      run.error = s.abort;
    } else if (planned > 0 && accepted === 0 && exhausted > 0) {
      // Nothing got through and batches ran out of retries: the destination is down, not a few bad
      // records. The run fails (three in a row put the sync in error); its rows are retried next run.
      run.status = "failed";
      const first = this.ledger.firstDeliveryError(run.id);
      run.error = {
        code: "delivery_failed",
        message: `the destination accepted none of the ${planned} operations; ${exhausted} batch${exhausted === 1 ? "" : "es"} ran out of retries${first ? ` (${first})` : ""}`,
      };
    } else {
      run.status = failures > 0 ? "partial" : "succeeded";
      run.error = null;
    }
    return { done: true };
  }

  // ---- reports from the queue consumer (idempotent by batch id) ----

  /** Whether a batch needs no (more) sending: already reported, or its run stopped. */
  batchSettled(runId: string, batchId: string): boolean {
    return this.ledger.pendingBatch(runId, batchId) === undefined;
  }

  /** Records a batch's per-row results; true when it was the last open batch of the run. Repeats are ignored. */
  reportBatch(runId: string, batchId: string, results: BatchRowResult[], exhausted = false): boolean {
    const batch = this.ledger.pendingBatch(runId, batchId);
    if (!batch) return false;
    if (exhausted) this.ledger.markExhausted(runId, batchId);
    const failed: FailedRowRecord[] = [];
    for (const r of results) {
      if (!r.ok) failed.push({ partition: batch.partition, key: r.key, operation: r.op, message: r.error });
    }
    this.ledger.addFailures(runId, failed);
    this.ledger.settle(batchId);
    return this.ledger.openBatches(runId) === 0;
  }

  /** Replaces a rejected batch by smaller ones (contiguous halves) so one bad record cannot sink the rest. */
  async splitBatch(runId: string, batchId: string, parts: DestinationOperation[][]): Promise<void> {
    const batch = this.ledger.pendingBatch(runId, batchId);
    const s = this.state(runId);
    if (!batch || !s) return;
    const messages: MessageSendRequest<DeliveryMessage>[] = [];
    let first = batch.firstOp;
    for (const [i, operations] of parts.entries()) {
      if (operations.length === 0) continue;
      const childId = `${batchId}-${i}`;
      this.ledger.addBatch(runId, childId, batch.partition, first, first + operations.length - 1);
      first += operations.length;
      messages.push({ body: await this.message(runId, s, childId, operations) });
    }
    await this.env.DELIVERIES.sendBatch(messages);
    this.ledger.settle(batchId);
  }

  /** The destination refused our credentials: stop sending; every batch not yet settled fails at commit. */
  abort(runId: string, batchId: string, code: string, message: string): boolean {
    const s = this.state(runId);
    if (!s) return false;
    s.abort ??= { code, message };
    this.save(s);
    this.ledger.abortOpen(runId);
    log("run_aborted", { sync_id: this.syncId, run_id: runId, batch_id: batchId, code, message }, "error");
    return true;
  }

  /** Deletes a finished run's chunks, batch payloads and checkpoint. */
  async discard(runId: string): Promise<void> {
    await deletePrefix(this.bucket, paths.run(this.syncId, runId));
    if (this.state(runId)) this.ctx.storage.kv.delete(STATE_KEY);
    this.ledger.clear(runId);
  }
}

/** A run failure the user can act on, with a code for the run's `error`. */
export class RunFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Deletes every object of a sync (permanent delete). */
export async function purgeSyncData(env: Env, syncId: string): Promise<void> {
  await deletePrefix(env.SNAPSHOTS, paths.sync(syncId));
}
