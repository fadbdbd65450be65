// Over 400 lines: one seeded fault schedule (queue, alarm, R2, destination faults) and its final convergence check, read as one scenario.
import {
  abortAllDurableObjects,
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, describe, expect, it } from "vitest";
import worker from "../../../src/index";
import { SyncObject } from "../../../durable-objects/sync-object";
import { RunEngine } from "../../../src/run/driver";
import type { DeliveryMessage } from "../../../src/delivery/message";
import { api, expectStatus, type Run } from "../../harness";
import {
  configureWebhook,
  customersTable,
  modelRows,
  pg,
  runErrors,
  type ReceiverStats,
  type ReceiverSummary,
  stubOf,
  type WebhookConfig,
  webhookState,
  webhookSync,
} from "../../harness/run";
import { between, sample, seeded, sleep, table, weighted } from "../lib";
import { setting } from "./lib";

/**
 * Faults: a mirror sync of tens of thousands of rows, run again and again while the model changes
 * (inserts, updates, deletes, re-inserts of deleted keys) and a seeded schedule injects faults at
 * every layer:
 *
 * - the destination (test/servers/webhook-receiver.ts): 5xx, 429 with Retry-After, timeouts
 *   (answered too late, with the batch applied or not), connection resets (socket destroyed
 *   before or after applying), per-record rejections and whole-batch 400s (the engine splits);
 * - the queue: messages enqueued twice (at-least-once redelivery) and copies handed straight
 *   to the exported queue() handler, for the current run and for finished ones;
 * - the SyncObject: alarm() throwing before its step and after it, and the object aborted
 *   between steps and inside them (abortAllDurableObjects: memory lost, storage kept);
 * - R2: put() and delete() of the snapshot bucket failing.
 *
 * The injections at the bindings and classes are global wraps installed by this test: the main
 * Worker and its Durable Objects run in the test's isolate, so a wrap of R2Bucket.prototype.put
 * is what the engine calls. No seam in src is needed.
 *
 * Then the faults stop, the sync runs clean, and the destination must equal the model exactly:
 * 0 lost, 0 wrong values, 0 unexpected rows, 0 duplicate creates.
 *
 * `STRESS_SEED` replays a schedule (the draws that depend on timing, such as which R2 write fails,
 * come from the same seed but may land differently). `STRESS_FAULT_ROWS`, `STRESS_FAULT_RUNS` and
 * `STRESS_MIN_FAULTS` resize it; `STRESS_TRACE=1` prints every alarm, step, abort and injection.
 * Over 400 lines: the fault injection, the driver and the report belong to this one scenario.
 */

const SEED = setting("STRESS_SEED", Math.floor(Math.random() * 2 ** 31));
const ROWS = setting("STRESS_FAULT_ROWS", 20_000);
const CHANGE_RUNS = setting("STRESS_FAULT_RUNS", 8);
const MIN_FAULTS = setting("STRESS_MIN_FAULTS", 1_000);
const BATCH_SIZE = 50;
/** The destination's request timeout; the receiver's slow answers take longer. */
const TIMEOUT_MS = 1_000;
const SLOW_MS = 1_400;
/** Longest one faulted run may take before the scenario gives up on it. */
const RUN_DEADLINE_MS = 150_000;

const REJECTED = "rejected by stress schedule";
const POISON = "poison record: the whole batch is refused";

/** Everything injected, by kind. */
const injected: Record<string, number> = {};
const count = (kind: string, n = 1) => {
  injected[kind] = (injected[kind] ?? 0) + n;
};

/**
 * The wraps' switchboard. `armed` turns every injection on; `nudging` is set while the test itself
 * runs an alarm through runDurableObjectAlarm(), which removes the alarm it runs: a throw there
 * would leave no retry behind, unlike the runtime, which retries a failed alarm (the engine's
 * watchdog alarm, set before each step, covers throws inside a step either way).
 */
const inj = {
  armed: false,
  nudging: 0,
  random: seeded(SEED ^ 0x5eed),
  /** Alarms executing now, for telling an abort inside a step from one between steps. */
  inflight: 0,
  generation: 0,
  /**
   * Engine steps started, and the phase of the last one, for the driver to abort the object inside
   * a step. Plain values the driver polls: resolving the driver's promise from the object's own I/O
   * context would cross request contexts, which crashes the local runtime.
   */
  steps: 0,
  phase: "",
  /** Delivery messages of the current run (copies for redelivery) and of finished runs. */
  current: [] as DeliveryMessage[],
  finished: [] as DeliveryMessage[],
  p: { duplicate: 0.12, alarmBefore: 0.12, alarmAfter: 0.06, r2Put: 0.35, r2Delete: 0.25 },
};

/** The last events of the wraps and the driver, printed when a run does not finish. */
const events: string[] = [];
const TRACE = setting("STRESS_TRACE", 0) === 1;
const trace = (event: string) => {
  if (TRACE) console.log(`trace ${new Date().toISOString().slice(11, 23)} ${event}`);
  events.push(`${new Date().toISOString().slice(11, 23)} ${event}`);
  if (events.length > 80) events.shift();
};

type Restore = () => void;
const restores: Restore[] = [];

function wrap<T extends object, K extends keyof T>(target: T, key: K, make: (original: T[K]) => T[K]): void {
  const original = target[key];
  target[key] = make(original);
  restores.push(() => {
    target[key] = original;
  });
}

function installWraps(): void {
  const r2 = Object.getPrototypeOf(env.SNAPSHOTS) as R2Bucket;
  wrap(
    r2,
    "put",
    (put) =>
      function (this: R2Bucket, ...args: Parameters<R2Bucket["put"]>) {
        if (inj.armed && inj.random() < inj.p.r2Put) {
          trace(`r2 put fails ${String(args[0])}`);
          count("r2_put_failed");
          return Promise.reject(new Error("injected: R2 put failed (internal error)"));
        }
        return put.apply(this, args);
      } as R2Bucket["put"],
  );
  wrap(
    r2,
    "delete",
    (del) =>
      function (this: R2Bucket, ...args: Parameters<R2Bucket["delete"]>) {
        if (inj.armed && inj.random() < inj.p.r2Delete) {
          trace(`r2 delete fails`);
          count("r2_delete_failed");
          return Promise.reject(new Error("injected: R2 delete failed (internal error)"));
        }
        return del.apply(this, args);
      } as R2Bucket["delete"],
  );

  const queue = Object.getPrototypeOf(env.DELIVERIES) as Queue<DeliveryMessage>;
  wrap(
    queue,
    "sendBatch",
    (sendBatch) =>
      function (this: Queue<DeliveryMessage>, messages: Iterable<MessageSendRequest<DeliveryMessage>>, options?: QueueSendBatchOptions) {
        const list = [...messages];
        const out: MessageSendRequest<DeliveryMessage>[] = [];
        for (const m of list) {
          out.push(m);
          if (m.body && typeof m.body === "object" && "batch_id" in m.body) inj.current.push(m.body);
          if (inj.armed && inj.random() < inj.p.duplicate) {
            // At-least-once: the same message delivered twice.
            out.push({ ...m });
            count("queue_message_duplicated");
          }
        }
        return sendBatch.call(this, out, options);
      } as Queue<DeliveryMessage>["sendBatch"],
  );

  const proto = SyncObject.prototype;
  wrap(
    proto,
    "alarm",
    (alarm) =>
      async function (this: SyncObject, ...args: Parameters<SyncObject["alarm"]>) {
        const generation = inj.generation;
        inj.inflight += 1;
        try {
          trace(`alarm enter (nudging ${inj.nudging})`);
          if (inj.armed && inj.nudging === 0 && inj.random() < inj.p.alarmBefore) {
            count("alarm_throws_before_step");
            throw new Error("injected: alarm handler throws before its step");
          }
          return await alarm.apply(this, args);
        } catch (err) {
          trace(`alarm threw: ${String(err).slice(0, 120)}`);
          throw err;
        } finally {
          trace("alarm exit");
          if (generation === inj.generation) inj.inflight -= 1;
        }
      } as SyncObject["alarm"],
  );
  wrap(
    RunEngine.prototype,
    "advance",
    (advance) =>
      async function (this: RunEngine, ...args: Parameters<RunEngine["advance"]>) {
        trace(`advance ${args[0].phase}`);
        inj.steps += 1;
        inj.phase = args[0].status === "queued" ? "extract" : args[0].phase;
        const result = await advance.apply(this, args);
        trace(`advanced -> ${JSON.stringify(result)}`);
        if (inj.armed && inj.random() < inj.p.alarmAfter) {
          count("alarm_throws_after_step");
          throw new Error("injected: alarm handler throws after its step (its checkpoint is saved)");
        }
        return result;
      } as RunEngine["advance"],
  );
}

function removeWraps(): void {
  for (const restore of restores.splice(0).reverse()) restore();
}

// ---- the destination ----

const receiverUrl = (path: string) => `${env.WEBHOOK_RECEIVER_URL}${path}`;

async function receiverSummary(endpoint: string): Promise<ReceiverSummary> {
  const res = await fetch(receiverUrl(`/state/${endpoint}?summary=1`));
  expect(res.status).toBe(200);
  return (await res.json()) as ReceiverSummary;
}

/** A careful API (Idempotency-Key honoured) whose faults spare a key after its third. */
async function configure(endpoint: string, config: WebhookConfig): Promise<void> {
  await configureWebhook(endpoint, { idempotent: true, max_faults_per_key: 3, ...config });
}

type FaultKind =
  | "http_5xx"
  | "http_429_retry_after"
  | "timeout_not_applied"
  | "timeout_applied"
  | "reset_before_apply"
  | "reset_after_apply";

/** The receiver's fault list for one run: faults spaced by stretches of normal answers. */
function receiverFaults(random: () => number, faults: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < faults; i++) {
    const pass = Math.floor(-Math.log(1 - random()) * 1.3); // geometric-ish: about 1 request in 2 faulted
    if (pass > 0) out.push({ times: pass });
    const kind = weighted<FaultKind>(random, {
      http_5xx: 26,
      http_429_retry_after: 20,
      timeout_not_applied: 12,
      timeout_applied: 12,
      reset_before_apply: 15,
      reset_after_apply: 15,
    });
    switch (kind) {
      case "http_5xx":
        out.push({ label: kind, status: [500, 502, 503, 504][between(random, 0, 3)], body: { error: "stress: server error" } });
        break;
      case "http_429_retry_after":
        out.push({ label: kind, status: 429, retry_after: String(between(random, 1, 2)), body: { error: "stress: slow down" } });
        break;
      case "timeout_not_applied":
        out.push({ label: kind, delay_ms: SLOW_MS, status: 503 });
        break;
      case "timeout_applied":
        out.push({ label: kind, delay_ms: SLOW_MS });
        break;
      case "reset_before_apply":
        out.push({ label: kind, reset: "before" });
        break;
      case "reset_after_apply":
        out.push({ label: kind, reset: "after" });
        break;
    }
  }
  return out;
}

// ---- the model ----

/** What the scenario did to the warehouse table, to know which keys may be created more than once. */
class Model {
  present = new Set<number>();
  deleted = new Set<number>();
  /** Times each key entered the model (1, or more after deletes and re-inserts). */
  episodes = new Map<number, number>();
  next: number;

  constructor(
    readonly name: string,
    rows: number,
  ) {
    for (let i = 1; i <= rows; i++) {
      this.present.add(i);
      this.episodes.set(i, 1);
    }
    this.next = rows + 1;
  }

  /** One round of changes: deletes, re-inserts of deleted keys, new keys, updates (some to NULL or non-ASCII). */
  async change(random: () => number, run: number): Promise<{ inserted: number[]; updated: number[]; deleted: number[] }> {
    const size = this.present.size;
    const deletes = sample(random, [...this.present], between(random, Math.ceil(size * 0.004), Math.ceil(size * 0.012)));
    const reinserts = sample(random, [...this.deleted], between(random, 0, 60));
    const fresh = Array.from({ length: between(random, Math.ceil(size * 0.004), Math.ceil(size * 0.012)) }, () => this.next++);
    const deleting = new Set(deletes);
    const updates = sample(
      random,
      [...this.present].filter((k) => !deleting.has(k)),
      between(random, Math.ceil(size * 0.01), Math.ceil(size * 0.04)),
    );
    if (deletes.length) await pg(`DELETE FROM ${this.name} WHERE id = ANY($1::text[])`, [deletes.map(String)]);
    const inserts = [...reinserts, ...fresh];
    if (inserts.length) {
      await pg(
        `INSERT INTO ${this.name} SELECT g::text, CASE WHEN g % 11 = 0 THEN NULL ELSE 'r${run}.' || g || '@example.com' END, 'Ré ' || g || ' #${run}', 'free', g * 3 + ${run} FROM unnest($1::int[]) g`,
        [inserts],
      );
    }
    if (updates.length) {
      await pg(
        `UPDATE ${this.name} SET
           plan = CASE (id::int + ${run}) % 4 WHEN 0 THEN 'pro' WHEN 1 THEN 'enterprise' WHEN 2 THEN NULL ELSE 'free' END,
           score = COALESCE(score, 0) + ${run},
           name = 'Nom ' || id || ' ✓${run}'
         WHERE id = ANY($1::text[])`,
        [updates.map(String)],
      );
    }
    for (const k of deletes) {
      this.present.delete(k);
      this.deleted.add(k);
    }
    for (const k of inserts) {
      this.present.add(k);
      this.deleted.delete(k);
      this.episodes.set(k, (this.episodes.get(k) ?? 0) + 1);
    }
    return { inserted: inserts, updated: updates, deleted: deletes };
  }
}

// ---- runs ----

const FINAL = ["succeeded", "partial", "failed", "cancelled"];

async function getRun(syncId: string, runId: string): Promise<Run> {
  const res = await api.get(`/api/v1/syncs/${syncId}/runs/${runId}`);
  expectStatus(res, 200);
  return res.body;
}

/** Runs the sync's alarm now, as the watchdog or the runtime's retry would later. Errors are the injected ones. */
async function nudge(syncId: string): Promise<void> {
  inj.nudging += 1;
  try {
    await runDurableObjectAlarm(stubOf(syncId));
  } catch {
    // an injected throw inside the step (R2, after-step): the watchdog alarm stays behind
  } finally {
    inj.nudging -= 1;
  }
}

async function abortAll(): Promise<void> {
  trace(`abort (inflight ${inj.inflight})`);
  count(inj.inflight > 0 ? "object_aborted_inside_step" : "object_aborted_between_steps");
  inj.generation += 1;
  inj.inflight = 0;
  await abortAllDurableObjects();
}

/** Hands a copy of a delivery message to the Worker's queue() handler, as a redelivery would. */
async function redeliver(body: DeliveryMessage, id: string, attempts: number): Promise<void> {
  const batch = createMessageBatch("deliveries", [{ id, timestamp: new Date(), attempts, body }]);
  const ctx = createExecutionContext();
  await worker.queue(batch, env);
  const result = await getQueueResult(batch, ctx);
  // The handler settles every message one way or the other: acked or retried, never dropped silently.
  expect([...result.explicitAcks, ...result.retryMessages.map((m) => m.msgId)], JSON.stringify(result)).toContain(id);
}

/** Waits up to `ms` for `predicate`, polling. */
async function until(predicate: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) return false;
    await sleep(2);
  }
  return true;
}

/**
 * Triggers a run and drives it to its end while injecting the driver's own faults: aborts between
 * and inside steps and direct redeliveries. Alarms fire by themselves (and the runtime retries a
 * thrown one after 2 s, 4 s, …); when the run shows no progress for a while the driver runs the
 * alarm early, as the engine's watchdog would after an abort (45 s later in production).
 */
async function faultedRun(syncId: string, random: () => number, faults: boolean, maxAborts: number): Promise<Run> {
  const trigger = await api.post(`/api/v1/syncs/${syncId}/trigger`);
  expectStatus(trigger, 202);
  const runId = trigger.body.id;
  const deadline = Date.now() + RUN_DEADLINE_MS;
  let aborts = 0;
  if (faults && maxAborts > 0 && random() < 0.6) {
    // Kill the object in the middle of extraction (the warehouse cursor is open, chunks half
    // written to R2): the engine must start the extraction over without counting a row twice.
    const steps = inj.steps;
    if (await until(() => inj.steps !== steps && inj.phase === "extract" && inj.inflight > 0, 5_000)) {
      await sleep(between(random, 0, 150));
      trace(`abort inside extract (inflight ${inj.inflight})`);
      await abortAll();
      aborts += 1;
    }
  }
  let redeliveries = 0;
  let seen = "";
  let changedAt = Date.now();
  for (;;) {
    const run = await getRun(syncId, runId);
    if (FINAL.includes(run.status)) return run;
    if (Date.now() > deadline) {
      const inside = await Promise.race([
        (
          runInDurableObject as unknown as (
            stub: DurableObjectStub,
            fn: (instance: { stepping?: unknown; passRequested?: unknown }, state: DurableObjectState) => Promise<unknown>,
          ) => Promise<unknown>
        )(stubOf(syncId), async (instance, state) => ({
          stepping: instance.stepping,
          passRequested: instance.passRequested,
          alarm: await state.storage.getAlarm(),
          now: Date.now(),
          runState: state.storage.kv.get("run"),
        })),
        sleep(5_000).then(() => "runInDurableObject did not answer in 5 s"),
      ]);
      throw new Error(
        `run ${runId} not final after ${RUN_DEADLINE_MS} ms: ${JSON.stringify(run)}; object: ${JSON.stringify(inside)}; inflight ${inj.inflight}; injected ${JSON.stringify(injected)}\n${events.join("\n")}`,
      );
    }
    const signature = JSON.stringify([run.status, run.phase, run.progress]);
    if (signature !== seen) {
      seen = signature;
      changedAt = Date.now();
    } else if (Date.now() - changedAt > 1_500 && inj.inflight === 0) {
      // Never while an alarm runs: runDurableObjectAlarm() would take away the watchdog alarm that
      // step set, and a throw in the step would then leave no alarm at all (a test artefact: the
      // runtime never delivers an alarm to an object whose alarm handler is still running).
      changedAt = Date.now();
      await nudge(syncId);
      continue;
    }
    const action = faults
      ? weighted(random, { wait: 50, abort_between: aborts < maxAborts ? 3 : 0, abort_inside: aborts < maxAborts ? 8 : 0, redeliver: 30 })
      : "wait";
    switch (action) {
      case "wait":
        await sleep(between(random, 100, 300));
        break;
      case "abort_between":
        // Between steps: no alarm running (one may be due next).
        if (await until(() => inj.inflight === 0, 1_000)) {
          await abortAll();
          aborts += 1;
        }
        break;
      case "abort_inside": {
        trace("abort inside: waiting for a step");
        // Inside a step: as soon as the next one starts (steps after extraction take milliseconds;
        // the abort counts as inside only if the step is still running when it lands).
        const steps = inj.steps;
        const caught = await until(() => inj.steps !== steps, 1_000);
        trace(`abort inside: caught ${caught}, inflight ${inj.inflight}, phase ${inj.phase}`);
        if (caught) {
          await abortAll();
          aborts += 1;
        }
        break;
      }
      case "redeliver": {
        // Mostly batches of this run (possibly in flight); sometimes one of a finished run.
        const stale = inj.finished.length > 0 && random() < 0.25;
        const pool = stale ? inj.finished : inj.current;
        const body = pool[Math.floor(random() * pool.length)];
        if (!body) break;
        redeliveries += 1;
        count(stale ? "queue_redelivered_finished_run" : "queue_redelivered_current_run");
        trace(`redeliver ${body.batch_id}${stale ? " (finished run)" : ""}`);
        await redeliver(body, `redelivery-${runId}-${redeliveries}`, between(random, 1, 3));
        trace("redelivered");
        break;
      }
    }
  }
}

describe("faults: a mirror sync of tens of thousands of rows under a seeded fault schedule", () => {
  afterAll(() => {
    inj.armed = false;
    removeWraps();
  });

  it("ends with the destination equal to the model: 0 lost, 0 wrong, 0 duplicate creates", async () => {
    console.log(
      `faults scenario: seed ${SEED} (replay with STRESS_SEED=${SEED}), ${ROWS} rows, ${CHANGE_RUNS} changed runs after the first`,
    );
    const started = Date.now();
    const schedule = seeded(SEED);
    const driver = seeded(SEED ^ 0xd71e);

    // Model, source, webhook destination on the receiver (idempotent by Idempotency-Key), mirror sync.
    const tableName = await customersTable(ROWS);
    const model = new Model(tableName, ROWS);
    const endpoint = `faults_${tableName}`;
    const { syncId } = await webhookSync(tableName, "mirror", {
      endpoint,
      destination: { batch_size: BATCH_SIZE, timeout_ms: TIMEOUT_MS, rate_limit: { requests_per_second: 500, concurrency: 25 } },
    });

    installWraps();
    const perRun: (string | number)[][] = [["run", "ops planned", "created", "updated", "deleted", "failed", "status", "faults", "s"]];
    const totalFaults = () => Object.values(injected).reduce((a, b) => a + b, 0);
    let receiverBefore = (await receiverSummary(endpoint)).stats;
    const receiverCounted = (stats: ReceiverStats) => {
      const served = Object.entries(stats.faults_served);
      const delta: Record<string, number> = {};
      for (const [k, v] of served) delta[k] = v - (receiverBefore.faults_served[k] ?? 0);
      delta.record_rejected = stats.record_rejections - receiverBefore.record_rejections;
      delta.batch_rejected_400 = stats.batch_rejections - receiverBefore.batch_rejections;
      receiverBefore = stats;
      return delta;
    };

    for (let r = 0; r <= CHANGE_RUNS; r++) {
      const runStarted = Date.now();
      let changedKeys: number[] = [];
      if (r > 0) {
        const c = await model.change(schedule, r);
        changedKeys = [...c.inserted, ...c.updated, ...c.deleted];
      } else {
        changedKeys = sample(schedule, [...model.present], 2_000);
      }
      // This run's schedule at the destination: transient faults, refused records, poison records.
      const planned = r === 0 ? Math.ceil(ROWS / BATCH_SIZE) : Math.ceil(changedKeys.length / BATCH_SIZE) + 4;
      const failKeys = Object.fromEntries(
        sample(schedule, changedKeys, between(schedule, 10, 40)).map((k) => [String(k), `${REJECTED}: record ${k}`]),
      );
      const poisonKeys = Object.fromEntries(
        sample(
          schedule,
          changedKeys.filter((k) => !(String(k) in failKeys)),
          between(schedule, 1, 3),
        ).map((k) => [String(k), `${POISON} (record ${k})`]),
      );
      await configure(endpoint, { faults: receiverFaults(schedule, planned), fail_keys: failKeys, reject_keys: poisonKeys });
      inj.finished.push(...inj.current.splice(0));
      inj.finished.splice(0, Math.max(0, inj.finished.length - 200));
      inj.armed = true;

      const run = await faultedRun(syncId, driver, true, 4);
      inj.armed = false;
      for (const [kind, n] of Object.entries(receiverCounted((await receiverSummary(endpoint)).stats))) if (n > 0) count(kind, n);

      const summary = JSON.stringify(run);
      // A fault never fails a run: everything transient is retried, only refused records fail.
      expect(["succeeded", "partial"], summary).toContain(run.status);
      // Every planned operation ended acknowledged or failed: none lost in between.
      expect(run.rows_created + run.rows_updated + run.rows_deleted + run.rows_failed, summary).toBe(run.progress.operations_planned);
      // Failed rows are only the records the destination refused; no transient fault surfaced as a row error.
      const errors = await runErrors(syncId, run.id);
      expect(errors.length, summary).toBe(run.rows_failed);
      const unexpected = errors.filter((e) => !e.message.startsWith(REJECTED) && !e.message.includes(POISON));
      expect(unexpected.slice(0, 5), `${unexpected.length} rows failed for another reason than a refusal`).toEqual([]);
      perRun.push([
        r === 0 ? "0 (initial)" : String(r),
        run.progress.operations_planned ?? 0,
        run.rows_created,
        run.rows_updated,
        run.rows_deleted,
        run.rows_failed,
        run.status,
        totalFaults(),
        ((Date.now() - runStarted) / 1000).toFixed(1),
      ]);
    }

    // The faults stop: no wraps, no refusals. Runs send again what failed until one is clean.
    removeWraps();
    await configure(endpoint, {});
    const clean: Run[] = [];
    for (let i = 0; i < 3; i++) {
      const run = await faultedRun(syncId, driver, false, 0);
      clean.push(run);
      perRun.push([
        `clean ${i + 1}`,
        run.progress.operations_planned ?? 0,
        run.rows_created,
        run.rows_updated,
        run.rows_deleted,
        run.rows_failed,
        run.status,
        totalFaults(),
        "",
      ]);
      if (run.status === "succeeded" && run.rows_failed === 0) break;
    }
    const lastClean = clean.at(-1) as Run;
    expect(lastClean, JSON.stringify(lastClean)).toMatchObject({ status: "succeeded", rows_failed: 0 });
    // One more run finds nothing to do: the committed snapshot matches the destination.
    const idle = await faultedRun(syncId, driver, false, 0);
    perRun.push([
      "idle",
      idle.progress.operations_planned ?? 0,
      idle.rows_created,
      idle.rows_updated,
      idle.rows_deleted,
      idle.rows_failed,
      idle.status,
      totalFaults(),
      "",
    ]);

    // ---- the end check ----
    const expected = await modelRows(tableName);
    const state = await webhookState(endpoint);
    const lost = Object.keys(expected).filter((k) => !(k in state.rows));
    const unexpectedRows = Object.keys(state.rows).filter((k) => !(k in expected));
    const wrong = Object.keys(expected).filter((k) => k in state.rows && JSON.stringify(state.rows[k]) !== JSON.stringify(expected[k]));
    // Keys created more often than they entered the model (1 unless deleted and re-inserted).
    const duplicateCreates = Object.entries(state.creates).filter(([k, n]) => n > (model.episodes.get(Number(k)) ?? 1));
    const neverDeletedCreatedTwice = Object.entries(state.creates).filter(
      ([k, n]) => (model.episodes.get(Number(k)) ?? 1) === 1 && n !== 1,
    );
    const stats = state.stats;

    const kinds = Object.entries(injected).sort(([a], [b]) => a.localeCompare(b));
    console.log(
      [
        "",
        `FAULTS — seed ${SEED}, ${ROWS} rows, mirror, batch ${BATCH_SIZE}, ${CHANGE_RUNS + 1} faulted runs, ${((Date.now() - started) / 1000).toFixed(0)} s`,
        table([["fault injected", "count"], ...kinds.map(([k, v]) => [k, v]), ["total", totalFaults()]]),
        "",
        table(perRun),
        "",
        table([
          ["end check (destination vs model)", "value"],
          ["model rows", Object.keys(expected).length],
          ["destination rows", Object.keys(state.rows).length],
          ["lost (in model, not in destination)", lost.length],
          ["unexpected (in destination, not in model)", unexpectedRows.length],
          ["wrong values", wrong.length],
          ["duplicate creates (create of a held key)", stats.duplicate_creates],
          ["keys created more than they entered the model", duplicateCreates.length],
          ["updates of missing keys", stats.updates_of_missing],
          ["deletes of missing keys", stats.deletes_of_missing],
          ["Idempotency-Key reused for other data", stats.idempotency_conflicts],
          ["resends absorbed by Idempotency-Key", stats.replays],
          ["keys deleted and re-created by the model", [...model.episodes.values()].filter((n) => n > 1).length],
        ]),
      ].join("\n"),
    );

    expect(lost.slice(0, 10), `${lost.length} rows lost`).toEqual([]);
    expect(unexpectedRows.slice(0, 10), `${unexpectedRows.length} rows that the model does not hold`).toEqual([]);
    expect(
      wrong.slice(0, 5).map((k) => ({ key: k, destination: state.rows[k], model: expected[k] })),
      `${wrong.length} rows with wrong values`,
    ).toEqual([]);
    expect(stats.duplicate_creates, "creates of keys the destination already held").toBe(0);
    expect(duplicateCreates.slice(0, 10), "keys created more often than the model inserted them").toEqual([]);
    expect(neverDeletedCreatedTwice.slice(0, 10)).toEqual([]);
    expect(stats.updates_of_missing, "updates of keys the destination did not hold").toBe(0);
    expect(stats.idempotency_conflicts, "an Idempotency-Key reused for different operations").toBe(0);
    expect(idle, JSON.stringify(idle)).toMatchObject({
      status: "succeeded",
      rows_created: 0,
      rows_updated: 0,
      rows_deleted: 0,
      rows_failed: 0,
    });
    // The schedule really injected every kind, and enough of them.
    expect(totalFaults(), "faults injected").toBeGreaterThanOrEqual(MIN_FAULTS);
    for (const kind of [
      "http_5xx",
      "http_429_retry_after",
      "timeout_not_applied",
      "timeout_applied",
      "reset_before_apply",
      "reset_after_apply",
      "record_rejected",
      "batch_rejected_400",
      "queue_message_duplicated",
      "queue_redelivered_current_run",
      "alarm_throws_before_step",
      "alarm_throws_after_step",
      "object_aborted_between_steps",
      "object_aborted_inside_step",
      "queue_redelivered_finished_run",
      "r2_put_failed",
      "r2_delete_failed",
    ]) {
      expect(injected[kind] ?? 0, `no ${kind} was injected`).toBeGreaterThan(0);
    }
  });
});
