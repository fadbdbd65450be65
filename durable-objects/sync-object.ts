// Over 400 lines: one Durable Object class, whose RPC methods (lifecycle, triggers, run loop, delivery reports) must all live on it.
import { DurableObject } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { createDb } from "../src/db/client";
import { syncs, type RunOptions, type RunTrigger } from "../src/db/schema";
import { log } from "../src/lib/log";
import { manualRunAllowed, nextStatus, scheduleArmed, type SyncAction, type SyncStatus } from "../src/sync/lifecycle";
import { nextRunAt, type Schedule } from "../src/sync/schedule";
import { newRun, onlyTrue, runCounts, runWrite, saveRun, writeAll, type D1Write, type RunRecord } from "../src/run/record";
import { purgeSyncData, RunEngine } from "../src/run/driver";
import type { BatchRowResult } from "../src/delivery/message";
import type { Operation } from "../src/destinations/destination";
import { noteRunEnded } from "../src/alerts/notify";

/**
 * While a step runs, an alarm stands this far ahead: if the object dies mid-step, it fires and the
 * run resumes from its last checkpoint instead of hanging.
 */
const WATCHDOG_MS = 5 * 60_000;
/** Storage keys of signed-trigger signatures already used (see claimSignature). */
const SIGNATURE_PREFIX = "signature:";

/** Failed runs in a row after which the engine puts the sync in `error`. */
const MAX_CONSECUTIVE_FAILURES = 3;

/** What the SyncObject keeps about its sync, in its own storage. */
interface SyncState {
  syncId: string;
  workspaceId: string;
  schedule: Schedule;
  status: SyncStatus;
  /** Epoch ms of the next scheduled run, or null. */
  nextRunAt: number | null;
  /** The run in flight (queued until its first step, then running). */
  current: RunRecord | null;
  /** At most one follow-up run, coalescing triggers that arrive during `current`. */
  queued: RunRecord | null;
  consecutiveFailures: number;
}

export interface SyncSetup {
  syncId: string;
  workspaceId: string;
  schedule: Schedule;
  status: SyncStatus;
}

export type TransitionResult = { ok: true; status: SyncStatus; next_run_at: string | null } | { ok: false; status: SyncStatus };
/** The run in flight when a trigger arrives: what it is doing and since when. */
interface InFlight {
  run_id: string;
  phase: RunRecord["phase"];
  /** Seconds since it started (or was queued, before its first step). */
  age_seconds: number;
}

/** `busy`: a dry run was asked for while a run is in flight or queued (a dry run never queues). */
export type TriggerResult =
  | { ok: true; run: RunRecord; in_flight?: InFlight }
  | { ok: false; status: SyncStatus; busy?: true; in_flight?: InFlight };

/** Why a cancel did nothing: the run is not this sync's run in flight or queued (it ended, or never was). */
export type CancelResult = { ok: true; run: RunRecord } | { ok: false };

/** The state `kv` key; the engine keeps its checkpoints under other keys. */
const STATE_KEY = "sync";

/**
 * One per sync: the only writer of its schedule, lifecycle status and run state. Its alarm is both
 * the scheduler (next fire time) and the run loop (one checkpointed step per alarm while a run is in
 * flight), so eviction or a crash resumes where the last step left off.
 */
export class SyncObject extends DurableObject<Env> {
  private state: SyncState | undefined;
  /** When the run loop should look again while batches are out (epoch ms), else null. */
  private wakeAt: number | null = null;
  /** An alarm() is running in this instance. */
  private stepping = false;
  /** Another pass was asked for while a step ran (an overlapping alarm or a wake-up). */
  private passRequested = false;
  /** When this instance started: batch messages sent before may have been lost with the process. */
  private readonly bootAt = Date.now();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      this.state = ctx.storage.kv.get<SyncState>(STATE_KEY);
    });
  }

  /** Takes charge of a new sync: stores its schedule and status and arms the alarm. */
  async setup(setup: SyncSetup): Promise<TransitionResult> {
    this.state = {
      ...setup,
      nextRunAt: null,
      current: null,
      queued: null,
      consecutiveFailures: 0,
    };
    return this.rearmSchedule();
  }

  /** The schedule changed: recompute the next run from now and re-arm. */
  async reschedule(schedule: Schedule): Promise<TransitionResult> {
    const s = this.requireState();
    s.schedule = schedule;
    return this.rearmSchedule();
  }

  /** A user lifecycle action (pause, resume, archive, restore), checked against the transition table. */
  async transition(action: Extract<SyncAction, "pause" | "resume" | "archive" | "restore">): Promise<TransitionResult> {
    const s = this.requireState();
    const to = nextStatus(s.status, action);
    if (!to) return { ok: false, status: s.status };
    s.status = to;
    if (action === "resume") s.consecutiveFailures = 0;
    const cancelled = to === "archived" ? s.queued : null;
    if (cancelled) {
      this.closeRun(cancelled, "cancelled", { code: "sync_archived", message: "the sync was archived before this run started" });
      s.queued = null;
    }
    s.nextRunAt = this.scheduledRunAt();
    // One D1 round trip: the cancelled run, then the sync's status and next run.
    await writeAll(this.db(), [
      ...(cancelled ? [runWrite(this.db(), cancelled)] : []),
      this.syncWrite({
        status: to,
        statusReason: null,
        nextRunAt: iso(s.nextRunAt),
        ...(to === "archived" ? { archivedAt: new Date().toISOString() } : {}),
        ...(action === "restore" ? { archivedAt: null } : {}),
        ...(cancelled ? { lastRunId: cancelled.id } : {}),
      }),
    ]);
    if (cancelled) await this.forgetRun(cancelled);
    this.persist();
    await this.arm();
    return { ok: true, status: s.status, next_run_at: iso(s.nextRunAt) };
  }

  /**
   * Starts a run, or coalesces: with a run in flight, at most one follow-up is queued and later
   * triggers get that same queued run (its options widened by theirs).
   */
  async trigger(trigger: RunTrigger, options: RunOptions = {}): Promise<TriggerResult> {
    const s = this.requireState();
    if (!manualRunAllowed(s.status)) return { ok: false, status: s.status };
    // A dry run would otherwise coalesce with a real one: a real trigger would get a preview, or a
    // preview request would send data.
    const inFlight = s.current ? inFlightOf(s.current) : undefined;
    if (options.dry_run === true && (s.current || s.queued))
      return { ok: false, status: s.status, busy: true, ...(inFlight ? { in_flight: inFlight } : {}) };
    const created = s.current === null ? "current" : s.queued === null ? "queued" : null;
    const run = this.enqueue(trigger, options);
    // The object's storage first, as in the tick: whatever happens to the D1 write, the object
    // knows the run it answers for.
    this.persist();
    const recorded = saveRun(this.db(), run);
    const tracked: Promise<void> = recorded.then(
      () => void this.recording.delete(tracked),
      () => void this.recording.delete(tracked),
    );
    this.recording.add(tracked);
    try {
      await recorded;
    } catch (err) {
      // The caller gets an error, so no run was started: take a new run back (a coalesced one
      // existed before this trigger and stays).
      if (created !== null && s[created] === run) s[created] = null;
      this.persist();
      throw err;
    } finally {
      await this.arm();
    }
    return inFlight && run !== s.current ? { ok: true, run, in_flight: inFlight } : { ok: true, run };
  }

  /**
   * Cancels a run: a queued one ends at once; a running one stops enqueueing, settles the batches no
   * attempt is under way for, commits what the destination acknowledged and ends `cancelled`.
   * `{ ok: false }` when the run is neither in flight nor queued here.
   */
  async cancel(runId: string): Promise<CancelResult> {
    const s = this.requireState();
    const message = "the run was cancelled";
    const queued = s.queued?.id === runId ? s.queued : s.current?.id === runId && s.current.status === "queued" ? s.current : null;
    if (queued) {
      this.closeRun(queued, "cancelled", { code: "cancelled", message });
      if (s.queued === queued) s.queued = null;
      else s.current = null;
      this.persist();
      await writeAll(this.db(), [runWrite(this.db(), queued), this.syncWrite({ lastRunId: queued.id })]);
      await this.forgetRun(queued);
      await this.arm();
      return { ok: true, run: queued };
    }
    const run = s.current;
    if (run?.id !== runId) return { ok: false };
    this.engine().stop(runId, "cancelled", message);
    await this.wake();
    return { ok: true, run };
  }

  /**
   * Records a signed trigger's signature until `expiresAt` (ms); false when it was already used,
   * so a captured signed request cannot be replayed inside its timestamp window.
   */
  async claimSignature(signature: string, expiresAt: number): Promise<boolean> {
    const kv = this.ctx.storage.kv;
    const now = Date.now();
    for (const [key, until] of kv.list<number>({ prefix: SIGNATURE_PREFIX })) if (until <= now) kv.delete(key);
    const key = `${SIGNATURE_PREFIX}${signature}`;
    if (kv.get<number>(key) !== undefined) return false;
    kv.put(key, expiresAt);
    return true;
  }

  /** Current live state, for the API and tests. */
  async describe(): Promise<{ status: SyncStatus; next_run_at: string | null; current: RunRecord | null; queued: RunRecord | null }> {
    const s = this.requireState();
    return { status: s.status, next_run_at: iso(s.nextRunAt), current: s.current, queued: s.queued };
  }

  /** Permanent delete: cancels runs, stops the alarm, removes snapshots and all stored state. */
  async destroy(): Promise<void> {
    const s = this.state;
    if (s) {
      const runs = [s.current, s.queued].filter((run): run is RunRecord => run !== null);
      for (const run of runs) this.closeRun(run, "cancelled", { code: "sync_deleted", message: "the sync was deleted" });
      const last = runs.at(-1);
      await writeAll(this.db(), [
        ...runs.map((run) => runWrite(this.db(), run)),
        ...(last ? [this.syncWrite({ lastRunId: last.id })] : []),
      ]);
      for (const run of runs) await this.forgetRun(run);
      await purgeSyncData(this.env, s.syncId);
    }
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.state = undefined;
  }

  /**
   * Scheduler tick and run loop. Throwing makes the runtime retry the alarm with backoff.
   * Never two at once: an alarm delivered while a step runs (the watchdog forced early, as tests
   * do) would run the same step twice concurrently; it only asks for another pass afterwards.
   */
  override async alarm(): Promise<void> {
    if (this.stepping) {
      this.passRequested = true;
      return;
    }
    this.stepping = true;
    try {
      await this.tick();
    } finally {
      this.stepping = false;
    }
    if (this.passRequested) {
      this.passRequested = false;
      await this.ctx.storage.setAlarm(Date.now());
    }
  }

  private async tick(): Promise<void> {
    const s = this.state;
    if (!s) return;
    const now = Date.now();
    const due = s.nextRunAt !== null && s.nextRunAt <= now;
    // Before any D1 write that may fail: if this pass throws and the runtime gives up retrying it,
    // this alarm still fires, so neither the schedule nor a run is ever left without one.
    if (due || s.current || s.queued) await this.ctx.storage.setAlarm(Date.now() + WATCHDOG_MS);
    if (due) {
      const run = scheduleArmed(s.status) ? this.enqueue("schedule", {}) : null;
      // Ticks missed while the object was down collapse into the one run above.
      s.nextRunAt = scheduleArmed(s.status) ? (nextRunAt(s.schedule, new Date(now))?.getTime() ?? null) : null;
      // The object's storage first: a failure below repeats D1's copy, never the tick (no twin run).
      this.persist();
      await writeAll(this.db(), [...(run ? [runWrite(this.db(), run)] : []), this.syncWrite({ nextRunAt: iso(s.nextRunAt) })]);
    }
    // A trigger still writing its new run to D1 goes first: started now, the run would be recorded
    // running, then queued again by that write (or started after the trigger took it back).
    if (this.recording.size > 0) await Promise.all(this.recording);
    if (!s.current && s.queued) {
      s.current = s.queued;
      s.queued = null;
    }
    const run = s.current;
    if (run) {
      if (run.status === "queued") await this.startRun(run);
      const step = await this.engine().advance(run);
      this.wakeAt = step.waitMs === undefined ? null : Date.now() + step.waitMs;
      if (step.done) await this.completeRun(run);
      else {
        await saveRun(this.db(), run);
        this.persist();
      }
    }
    await this.arm();
  }

  // ---- delivery reports, from the queue consumer (idempotent by batch id) ----

  /** Whether the batch needs no (more) sending: already reported, or its run stopped or is gone. */
  async batchSettled(runId: string, batchId: string): Promise<boolean> {
    if (this.state?.current?.id !== runId) return true;
    return this.engine().batchSettled(runId, batchId);
  }

  /**
   * The consumer is about to attempt a batch: true when it should send it (the batch is open). A
   * cancel waits for the batches being attempted, so what the destination applied is committed.
   */
  async claimBatch(runId: string, batchId: string): Promise<boolean> {
    if (this.state?.current?.id !== runId) return false;
    const claim = this.engine().claimBatch(runId, batchId);
    if (claim.lastOpen) await this.wake();
    return claim.send;
  }

  /**
   * The consumer will attempt the batch again in `waitSeconds` (a transient `error`, or a wait for
   * the destination's rate limit): the batch is alive, its report is not overdue before then.
   */
  async noteBatchWait(runId: string, batchId: string, waitSeconds: number, error?: string): Promise<void> {
    if (this.state?.current?.id !== runId) return;
    if (this.engine().noteBatchWait(runId, batchId, waitSeconds, error)) await this.wake();
  }

  /**
   * Per-row results of a batch; `exhausted` when it failed by running out of retries (dead letter).
   * The last open batch wakes the run loop to commit.
   */
  async reportBatch(runId: string, batchId: string, results: BatchRowResult[], exhausted = false): Promise<void> {
    const run = this.state?.current;
    if (run?.id !== runId) return;
    const last = this.engine().reportBatch(runId, batchId, results, exhausted);
    if (last) await this.wake();
  }

  /** A batch the destination refused as a whole, replaced by its halves. */
  async splitBatch(runId: string, batchId: string, parts: Operation[][]): Promise<void> {
    if (this.state?.current?.id !== runId) return;
    await this.engine().splitBatch(runId, batchId, parts);
  }

  /** The destination refused the credentials: the run stops sending and fails; the sync goes to `error`. */
  async reportAuthFailure(runId: string, batchId: string, error: string): Promise<void> {
    if (this.state?.current?.id !== runId) return;
    if (this.engine().abort(runId, batchId, "auth_failed", `the destination refused the credentials: ${error}`)) await this.wake();
  }

  async lastBatchError(runId: string, batchId: string): Promise<string | null> {
    return this.state?.current?.id === runId ? this.engine().ledger.lastError(batchId) : null;
  }

  // ---- internals ----

  private runEngine: RunEngine | undefined;
  /** Triggers' D1 writes of their runs still in flight (never rejecting); see {@link SyncObject.tick}. */
  private readonly recording = new Set<Promise<void>>();

  private engine(): RunEngine {
    this.runEngine ??= new RunEngine(this.ctx, this.env, this.requireState().syncId, this.bootAt);
    return this.runEngine;
  }

  /** Continue the run now (a report settled its last batch). */
  private async wake(): Promise<void> {
    this.wakeAt = null;
    // A running step re-arms the alarm when it ends, possibly for later: make it look again now.
    if (this.stepping) this.passRequested = true;
    await this.ctx.storage.setAlarm(Date.now());
  }

  private enqueue(trigger: RunTrigger, options: RunOptions): RunRecord {
    const s = this.requireState();
    if (!s.current) {
      s.current = newRun(s.syncId, s.workspaceId, trigger, options);
      return s.current;
    }
    if (s.queued) {
      s.queued.options = { ...s.queued.options, ...onlyTrue(options) };
      return s.queued;
    }
    s.queued = newRun(s.syncId, s.workspaceId, trigger, options);
    return s.queued;
  }

  private async startRun(run: RunRecord): Promise<void> {
    const s = this.requireState();
    run.status = "running";
    run.phase = "extract";
    run.started_at = new Date().toISOString();
    const to = nextStatus(s.status, "run_started") ?? s.status;
    const writes: D1Write[] = [];
    if (to !== s.status) {
      s.status = to;
      writes.push(this.syncWrite({ status: to }));
    }
    writes.push(runWrite(this.db(), run));
    await writeAll(this.db(), writes);
    this.persist();
    log("run_started", { sync_id: s.syncId, run_id: run.id, trigger: run.trigger });
  }

  /** The engine finished the run: record the outcome and apply the error policy. */
  private async completeRun(run: RunRecord): Promise<void> {
    const s = this.requireState();
    // A cancelled run says nothing about the sync's health; a time limit counts as a failure.
    if (run.status === "failed") s.consecutiveFailures += 1;
    else if (run.status !== "cancelled") s.consecutiveFailures = 0;
    this.closeRun(run, run.status === "running" ? "succeeded" : run.status, run.error);
    const sync: Partial<typeof syncs.$inferInsert> = { lastRunId: run.id };
    const authFailed = run.error?.code === "auth_failed";
    if (run.status === "failed" && (authFailed || s.consecutiveFailures >= MAX_CONSECUTIVE_FAILURES)) {
      const to = nextStatus(s.status, "fail");
      if (to && to !== s.status) {
        s.status = to;
        sync.status = to;
        sync.statusReason = authFailed
          ? `authentication failed: ${run.error?.message ?? ""}`
          : `${s.consecutiveFailures} consecutive runs failed; last error: ${run.error?.message ?? "unknown"}`;
        if (!scheduleArmed(to)) s.nextRunAt = null;
        sync.nextRunAt = iso(s.nextRunAt);
      }
    }
    // D1 first, in one round trip: if it fails, the alarm retries with the run's checkpoint intact
    // (its report step runs again); only then is the run's working data dropped.
    await writeAll(this.db(), [runWrite(this.db(), run), this.syncWrite(sync)]);
    await this.forgetRun(run);
    s.current = null;
    this.persist();
    // The one place a run ends and the sync may enter error: its alerts (never throws).
    await noteRunEnded(this.env, {
      run,
      status: s.status,
      enteredError: sync.status === "error" ? { reason: sync.statusReason ?? "" } : null,
    });
  }

  /** Sets a run's final status and times (the caller writes it to D1). */
  private closeRun(run: RunRecord, status: RunRecord["status"], error: RunRecord["error"]): void {
    const finished = Date.now();
    run.status = status;
    run.phase = "done";
    run.error = error;
    run.finished_at = new Date(finished).toISOString();
    run.duration_ms = run.started_at ? finished - Date.parse(run.started_at) : 0;
  }

  /** After a closed run is in D1: drops its chunks, ledger and checkpoint. */
  private async forgetRun(run: RunRecord): Promise<void> {
    await this.engine().discard(run.id);
    log("run_finished", {
      sync_id: this.requireState().syncId,
      run_id: run.id,
      status: run.status,
      ...runCounts(run),
      error: run.error?.code,
    });
  }

  /** Recomputes the next fire time for the current status and schedule, mirrors it to D1, arms the alarm. */
  private async rearmSchedule(): Promise<TransitionResult> {
    const s = this.requireState();
    s.nextRunAt = this.scheduledRunAt();
    await writeAll(this.db(), [this.syncWrite({ nextRunAt: iso(s.nextRunAt) })]);
    this.persist();
    await this.arm();
    return { ok: true, status: s.status, next_run_at: iso(s.nextRunAt) };
  }

  /**
   * One alarm for the earliest due work: now while a run has steps to do, the poll time while it
   * waits for batch reports (which wake it sooner), else the next fire time.
   */
  private async arm(): Promise<void> {
    const s = this.state;
    if (s?.current && this.wakeAt !== null) {
      await this.ctx.storage.setAlarm(Math.min(this.wakeAt, s.nextRunAt ?? Number.POSITIVE_INFINITY));
    } else if (s && (s.current || s.queued)) await this.ctx.storage.setAlarm(Date.now());
    else if (s?.nextRunAt != null) await this.ctx.storage.setAlarm(s.nextRunAt);
    else await this.ctx.storage.deleteAlarm();
  }

  private persist(): void {
    if (this.state) this.ctx.storage.kv.put(STATE_KEY, this.state);
  }

  private requireState(): SyncState {
    if (!this.state) throw new Error("SyncObject has no sync: call setup() first");
    return this.state;
  }

  private db() {
    return createDb(this.env.DB);
  }

  /** The next fire time for the current status and schedule, from now (epoch ms), or null. */
  private scheduledRunAt(): number | null {
    const s = this.requireState();
    return scheduleArmed(s.status) ? (nextRunAt(s.schedule, new Date())?.getTime() ?? null) : null;
  }

  /** The statement mirroring `fields` of the sync to D1 (awaited alone, or one of a batch). */
  private syncWrite(fields: Partial<typeof syncs.$inferInsert>): D1Write {
    return this.db()
      .update(syncs)
      .set({ ...fields, updatedAt: new Date().toISOString() })
      .where(eq(syncs.id, this.requireState().syncId));
  }

  /**
   * Batches of run `runId` wait for the destination's account quota (Salesforce's daily API limit)
   * until `until` (epoch ms), for `reason`: the run shows it in `progress.destination_wait_until` and
   * the sync's `status_reason` says why. With `reason` null the wait is over and both are cleared.
   */
  async noteDestinationWait(runId: string, reason: string | null, until: number | null): Promise<void> {
    const run = this.state?.current;
    if (run?.id !== runId) return;
    const { destination_wait_until: _previous, ...progress } = run.progress;
    run.progress = reason === null || until === null ? progress : { ...progress, destination_wait_until: until };
    await saveRun(this.db(), run);
    this.persist();
    const text = reason === null ? null : `${DESTINATION_WAIT_PREFIX}${reason}`;
    const row = await this.db().query.syncs.findFirst({ where: eq(syncs.id, run.sync_id), columns: { statusReason: true } });
    // Clear only a wait's own reason, never another one (a sync in `error` may be run by hand).
    if (text === null && !row?.statusReason?.startsWith(DESTINATION_WAIT_PREFIX)) return;
    if (text !== null && row?.statusReason && !row.statusReason.startsWith(DESTINATION_WAIT_PREFIX)) return;
    await this.db().update(syncs).set({ statusReason: text, updatedAt: new Date().toISOString() }).where(eq(syncs.id, run.sync_id));
  }
}

/** How the sync's status reason starts while its run waits for the destination's quota. */
const DESTINATION_WAIT_PREFIX = "waiting for the destination: ";

/** A run in flight as a trigger reports it. */
function inFlightOf(run: RunRecord): InFlight {
  const since = Date.parse(run.started_at ?? run.created_at);
  return { run_id: run.id, phase: run.phase, age_seconds: Math.max(0, Math.round((Date.now() - since) / 1000)) };
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
