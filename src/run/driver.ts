import { and, eq } from "drizzle-orm";
import { createDb } from "../db/client";
import { destinations, models, sources, syncs } from "../db/schema";
import type { Operation as DestinationOperation } from "../destinations/destination";
import { destinationLimits, identityFields } from "../destinations/registry";
import type { BatchRowResult, DeliveryMessage } from "../delivery/message";
import { deliveryMessage } from "../delivery/producer";
import { MissingColumnError } from "../engine/extract";
import { log } from "../lib/log";
import { deleteSyncLogs } from "../run-log/store";
import { WarehouseError } from "../sources/errors";
import { RunLedger, type FailedRowRecord } from "./ledger";
import { saveRun, type RunRecord } from "./record";
import { isStop, phaseOf, RunFailure, transition, type RunState, type RunStep, type StopCode } from "./state";
import * as awaitStep from "./steps/await";
import * as commitStep from "./steps/commit";
import type { StepContext, StepOutcome } from "./steps/context";
import * as deliverStep from "./steps/deliver";
import * as diffStep from "./steps/diff";
import * as extractStep from "./steps/extract";
import * as reportStep from "./steps/report";
import { deletePrefix, paths, type SnapshotPointer } from "./storage";

/** Each step's module (src/run/steps/<step>.ts). */
const STEPS: Record<RunStep, (ctx: StepContext, s: RunState) => StepOutcome | Promise<StepOutcome>> = {
  extract: extractStep.run,
  diff: diffStep.run,
  deliver: deliverStep.run,
  await: awaitStep.run,
  commit: commitStep.run,
  report: reportStep.run,
};

/** Steps cheap enough to run in the same pass as the one before (a ledger count). */
const RUN_AT_ONCE: ReadonlySet<RunStep> = new Set(["await"]);

export interface StepResult {
  /** The run has reached a final status (set on `run.status`). */
  done: boolean;
  /** Nothing to do until batch reports arrive or a warehouse retry's backoff passes; check back after this long. */
  waitMs?: number;
}

const STATE_KEY = "run";
const POINTER_KEY = "snapshot";
/** A stop asked for before the run's checkpoint existed. */
const STOP_KEY = "run-stop";
interface PendingStop {
  runId: string;
  code: StopCode;
  message: string;
}

/** A sync's time limit per run unless it sets `max_run_minutes`. */
export const DEFAULT_MAX_RUN_MINUTES = 360;
/** Steps a time limit stops; commit and report only finish what was delivered. */
const TIME_LIMITED: ReadonlySet<RunStep> = new Set(["extract", "diff", "deliver", "await"]);

/** Whether the run has passed its time limit (counted from its start). */
function overTime(run: RunRecord, s: RunState, now = Date.now()): boolean {
  if (!run.started_at) return false;
  return now - Date.parse(run.started_at) > (s.config.maxRunMinutes ?? DEFAULT_MAX_RUN_MINUTES) * 60_000;
}

/**
 * The run engine of one sync, inside its SyncObject: drives the steps of src/run/state.ts, one
 * budgeted step per alarm. It alone writes the run's checkpoint (and the snapshot pointer), after
 * each step and when a step asks mid-way, and checks every move against the transition table.
 */
export class RunEngine {
  readonly ledger: RunLedger;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: Env,
    private readonly syncId: string,
    /** When the SyncObject instance started (epoch ms). */
    private readonly bootAt: number = Date.now(),
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

  /** Writes the checkpoint. An abort recorded by a report while the step ran is kept, not overwritten. */
  private save(s: RunState): void {
    const stored = this.state(s.runId);
    if (stored?.abort && !s.abort) s.abort = stored.abort;
    this.ctx.storage.kv.put(STATE_KEY, s);
  }

  private pointer(): SnapshotPointer | null {
    return this.ctx.storage.kv.get<SnapshotPointer>(POINTER_KEY) ?? null;
  }

  private stepContext(run: RunRecord): StepContext {
    return {
      env: this.env,
      syncId: this.syncId,
      run,
      ledger: this.ledger,
      bucket: this.bucket,
      pointer: this.pointer(),
      started: Date.now(),
      bootAt: this.bootAt,
      stopRequested: () => this.state(run.id)?.abort != null,
      checkpoint: (s) => this.save(s),
      publish: () => saveRun(createDb(this.env.DB), run),
    };
  }

  /** Advances the run by one step. Errors a user can act on fail the run; others throw (the alarm retries). */
  async advance(run: RunRecord): Promise<StepResult> {
    const dryRun = run.options.dry_run === true;
    let step: RunStep = "extract";
    try {
      let s = this.state(run.id);
      if (!s) {
        s = await this.begin(run);
        const pending = this.ctx.storage.kv.get<PendingStop>(STOP_KEY);
        if (pending?.runId === run.id) s.abort = { code: pending.code, message: pending.message };
        this.ctx.storage.kv.delete(STOP_KEY);
        this.save(s);
      }
      for (;;) {
        step = s.step;
        run.phase = phaseOf(step, dryRun);
        if (!s.abort && TIME_LIMITED.has(step) && overTime(run, s)) {
          const minutes = s.config.maxRunMinutes ?? DEFAULT_MAX_RUN_MINUTES;
          const limit = `the run passed its time limit of ${minutes} minute${minutes === 1 ? "" : "s"} (max_run_minutes)`;
          const waitUntil = run.progress.destination_wait_until;
          if (waitUntil !== undefined && waitUntil > 0) {
            const at = new Date(waitUntil).toISOString();
            this.stop(
              run.id,
              "destination_daily_limit",
              `${limit} while its batches waited for the destination's daily API limit (next attempt at ${at})`,
            );
          } else this.stop(run.id, "run_timeout", limit);
          s = this.state(run.id) ?? s;
        }
        if (isStop(s.abort) && (step === "extract" || step === "diff")) {
          // Nothing was sent yet: the run ends here and the last snapshot stays.
          transition(step, "cancelled");
          run.status = s.abort?.code === "cancelled" ? "cancelled" : "failed";
          run.error = s.abort;
          return { done: true };
        }
        const outcome = await STEPS[step](this.stepContext(run), s);
        const next: RunStep | "done" = transition(step, outcome.next);
        if (next === "done") return { done: true };
        s = { ...outcome.state, step: next };
        run.phase = phaseOf(next, dryRun);
        if (outcome.pointer) this.switchSnapshot(s, outcome.pointer);
        else this.save(s);
        if (next === step || !RUN_AT_ONCE.has(next)) return { done: false, waitMs: outcome.waitMs };
      }
    } catch (err) {
      const error =
        err instanceof RunFailure || err instanceof WarehouseError
          ? { code: err.code, message: err.message }
          : err instanceof MissingColumnError
            ? { code: "mapping_column_missing", message: err.message }
            : null;
      if (!error) throw err;
      transition(step, "failed");
      run.status = "failed";
      run.error = error;
      log("run_failed", { sync_id: this.syncId, run_id: run.id, phase: run.phase, error: error.code, message: error.message }, "warn");
      return { done: true };
    }
  }

  /**
   * Makes the commit's snapshot the one the next run compares against: pointer and checkpoint in
   * one storage write (a crash before it keeps the old snapshot whole). The checkpoint names the
   * old snapshot, whose objects the report step deletes (again after a crash: none is left behind).
   */
  private switchSnapshot(s: RunState, pointer: SnapshotPointer): void {
    const previous = this.pointer();
    if (previous && previous.runId !== pointer.runId) s.retiredSnapshot = previous.runId;
    this.ctx.storage.kv.put(POINTER_KEY, pointer);
    this.save(s);
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
        sourceType: source.type,
        connectionCiphertext: source.connectionCiphertext,
        destinationId: destination.id,
        destinationType: destination.type,
        maxBatchSize: destinationLimits(destination.type).maxBatchSize(destination.config),
        plansEveryRow: destinationLimits(destination.type).plansEveryRow(destination.config),
        massDeleteThresholdPct: sync.massDeleteThresholdPct,
        maxRunMinutes: sync.maxRunMinutes,
        send: sync.send,
        nullValues: sync.nullValues,
        identityFields: identityFields(destination.type, destination.config, {
          mappings: sync.fieldMappings,
          mode: sync.mode,
          primaryKey: model.primaryKey,
        }),
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

  // ---- reports from the queue consumer (idempotent by batch id) ----

  /** Whether a batch needs no (more) sending: already reported, or its run stopped. */
  batchSettled(runId: string, batchId: string): boolean {
    return this.ledger.pendingBatch(runId, batchId) === undefined;
  }

  /**
   * The consumer is about to attempt a batch: `send` when it should (the batch is open and the run
   * not stopped), noting the attempt. A stopped run settles the batch as not sent instead; `lastOpen`
   * when that left no batch open.
   */
  claimBatch(runId: string, batchId: string): { send: boolean; lastOpen: boolean } {
    if (!this.state(runId)?.abort) return { send: this.ledger.claim(runId, batchId), lastOpen: false };
    if (!this.ledger.abortBatch(runId, batchId)) return { send: false, lastOpen: false };
    return { send: false, lastOpen: this.ledger.openBatches(runId) === 0 };
  }

  /**
   * The consumer will attempt a batch again in `waitSeconds` (after `error`, when it failed). A
   * stopped run does not wait for it: it is settled as not sent. True when no batch is left open.
   */
  noteBatchWait(runId: string, batchId: string, waitSeconds: number, error?: string): boolean {
    if (error !== undefined) this.ledger.noteError(batchId, error);
    this.ledger.noteWait(runId, batchId, waitSeconds);
    if (!this.state(runId)?.abort) return false;
    return this.ledger.abortIdle(runId) === 0;
  }

  /** Records a batch's per-row results; true when it was the last open batch of the run. Repeats are ignored. */
  reportBatch(runId: string, batchId: string, results: BatchRowResult[], exhausted = false): boolean {
    this.ledger.noteProgress(runId);
    const batch = this.ledger.pendingBatch(runId, batchId);
    if (!batch) return false;
    if (exhausted) this.ledger.markExhausted(runId, batchId);
    const failed: FailedRowRecord[] = [];
    const notFound: FailedRowRecord[] = [];
    for (const r of results) {
      if (!r.ok) (r.not_found ? notFound : failed).push({ partition: batch.partition, key: r.key, operation: r.op, message: r.error });
    }
    this.ledger.addFailures(runId, failed);
    this.ledger.addFailures(runId, notFound, "not_found");
    this.ledger.settle(batchId);
    return this.ledger.openBatches(runId) === 0;
  }

  /** Replaces a rejected batch by smaller ones (contiguous halves) so one bad record cannot sink the rest. */
  async splitBatch(runId: string, batchId: string, parts: DestinationOperation[][]): Promise<void> {
    const batch = this.ledger.pendingBatch(runId, batchId);
    const s = this.state(runId);
    if (!batch || !s) return;
    const envelope = deliverStep.envelopeOf(this.syncId, runId, s);
    const messages: MessageSendRequest<DeliveryMessage>[] = [];
    let first = batch.firstOp;
    for (const [i, operations] of parts.entries()) {
      if (operations.length === 0) continue;
      const childId = `${batchId}-${i}`;
      this.ledger.addBatch(runId, childId, batch.partition, first, first + operations.length - 1);
      first += operations.length;
      const body = await deliveryMessage(this.bucket, envelope, childId, operations, paths.batch(this.syncId, runId, childId));
      messages.push({ body });
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

  /**
   * Stops a run (cancel, time limit): nothing more is enqueued, batches no attempt is under way for
   * are settled as not sent, and the run commits what the destination acknowledged. A run not begun
   * yet takes the stop when it begins. False when the run was already stopped.
   */
  stop(runId: string, code: StopCode, message: string): boolean {
    const s = this.state(runId);
    if (!s) {
      // Not begun yet (its first step is about to start): the stop applies when it begins.
      this.ctx.storage.kv.put<PendingStop>(STOP_KEY, { runId, code, message });
      return true;
    }
    if (s.abort) return false;
    s.abort = { code, message };
    this.ctx.storage.kv.put(STATE_KEY, s);
    this.ledger.abortIdle(runId);
    log("run_stopped", { sync_id: this.syncId, run_id: runId, code, message }, "warn");
    return true;
  }

  /** Deletes a finished run's chunks, plans, batch payloads and checkpoint. */
  async discard(runId: string): Promise<void> {
    await deletePrefix(this.bucket, paths.run(this.syncId, runId));
    if (this.state(runId)) this.ctx.storage.kv.delete(STATE_KEY);
    if (this.ctx.storage.kv.get<PendingStop>(STOP_KEY)?.runId === runId) this.ctx.storage.kv.delete(STOP_KEY);
    this.ledger.clear(runId);
  }
}

/** Deletes every object of a sync (permanent delete), its run logs included. */
export async function purgeSyncData(env: Env, syncId: string): Promise<void> {
  await Promise.all([deletePrefix(env.SNAPSHOTS, paths.sync(syncId)), deleteSyncLogs(env.SNAPSHOTS, syncId)]);
}
