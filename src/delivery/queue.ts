import { createDb } from "../db/client";
import type { Operation, SendOutcome } from "../destinations/destination";
import { openDestination } from "../destinations/open";
import type { DestinationLimiter, Permit } from "../../durable-objects/destination-limiter";
import { MAX_AHEAD_MS } from "./adaptive-rate";
import type { RateLimit } from "../destinations/destination";
import type { RateSignal } from "../lib/http";
import { log } from "../lib/log";
import { type BatchAnswer, settledEntries } from "../run-log/entry";
import { writeBatchLog } from "../run-log/store";

import { backoffPolicy, MAX_QUEUE_DELAY_SECONDS, QUEUE_MAX_ATTEMPTS, retryDelaySeconds } from "./backoff";
import { type CastBatch, castBatch } from "./cast";
import { type BatchRowResult, type DeliveryMessage, DeliveryMessageSchema, OperationsSchema } from "./message";
import { gunzipped } from "./producer";

/** A destination opened for the messages of one queue batch. */
type Opened = ReturnType<typeof openDestination>;

/** Longest the consumer polls in-process (a pause, the concurrency cap) before handing the wait to the queue. */
const MAX_INLINE_WAIT_MS = 5_000;
/** 429s a message answers with in-process sends on the limiter's next slot before the queue's retry takes over. */
const MAX_INLINE_THROTTLED_RETRIES = 3;
/** A batch that waited longer than this for its slot is claimed again before it is sent. */
const RECLAIM_AFTER_MS = 1_000;
/**
 * How long a deferred batch may take to come back beyond its queue delay (whole seconds, the
 * dispatch, an invocation still running where the queue runs one at a time): a batch deferred until
 * its slot comes back this much sooner, so it finds its slot within the limiter's horizon and the
 * destination is not left idle.
 */
const QUEUE_RETURN_MS = 1_500;
function syncStub(env: Env, syncId: string) {
  return env.SYNC.get(env.SYNC.idFromName(syncId));
}

/** The queue() handler: `deliveries` sends batches; `deliveries-dlq` turns exhausted batches into failed rows. */
export async function handleDeliveries(batch: MessageBatch<unknown>, env: Env, ctx?: ExecutionContext): Promise<void> {
  const deadLetters = batch.queue.endsWith("-dlq");
  const later = laterOf(ctx);
  // Each destination is read from D1 and its credentials decrypted once per queue batch, not per message.
  const opened = new Map<string, Opened>();
  const open = (m: DeliveryMessage) => {
    const id = `${m.workspace_id}/${m.destination_id}`;
    let result = opened.get(id);
    if (!result) {
      result = openDestination(createDb(env.DB), env, m.workspace_id, m.destination_id);
      // A failed read is not kept: the next message of the batch tries again.
      result.catch(() => opened.delete(id));
      opened.set(id, result);
    }
    return result;
  };
  const brokers = new Map<string, SlotBroker>();
  const slots = (destinationId: string) => {
    let broker = brokers.get(destinationId);
    if (!broker) {
      broker = new SlotBroker(env.DESTINATION_LIMITER.get(env.DESTINATION_LIMITER.idFromName(destinationId)));
      brokers.set(destinationId, broker);
    }
    return broker;
  };
  // Copies of one destination batch (the run resent it after a restart, a deferral crossed a retry)
  // in one queue batch would all claim it before any settles it: the first is attempted, and it
  // settles, retries or defers the batch itself, so the others are dropped.
  const attempted = new Set<string>();
  const copies = new Set<Message<unknown>>();
  for (const msg of batch.messages) {
    const id = batchIdOf(msg.body);
    if (id === undefined) continue;
    if (attempted.has(id)) copies.add(msg);
    attempted.add(id);
  }
  await Promise.all(
    batch.messages.map(async (msg) => {
      if (copies.has(msg)) {
        log("batch_copy_dropped", { batch_id: batchIdOf(msg.body), attempts: msg.attempts });
        return msg.ack();
      }
      try {
        if (deadLetters) await settleDeadLetter(msg, env, later);
        else await deliver(msg, env, later, open, slots);
      } catch (err) {
        // Our own failure (RPC, D1, R2): the batch is unharmed; try it again later.
        log("delivery_error", { error: String(err), attempts: msg.attempts }, "error");
        msg.retry({ delaySeconds: retryDelaySeconds(msg.attempts, undefined, backoffPolicy(env)) });
      }
    }),
  );
}

/** A message's run and batch, read without validating the rest (parse() does that). */
function batchIdOf(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const { run_id, batch_id } = body as { run_id?: unknown; batch_id?: unknown };
  return typeof run_id === "string" && typeof batch_id === "string" ? `${run_id}/${batch_id}` : undefined;
}

function parse(msg: Message<unknown>): DeliveryMessage | undefined {
  const parsed = DeliveryMessageSchema.safeParse(msg.body);
  if (!parsed.success) {
    log("delivery_message_invalid", { id: msg.id, issues: parsed.error.issues.map((i) => i.message) }, "error");
    msg.ack();
    return undefined;
  }
  return parsed.data;
}

/**
 * The batch's operations: inline, compressed inline, or read from R2, and checked against the same schema as inline
 * ones. `missing` when the spilled object is gone (its run was deleted), `invalid` when it does not
 * parse (the run resends the batch, rebuilt from its plan, if its report never comes).
 */
async function operationsOf(env: Env, m: DeliveryMessage): Promise<Operation[] | "missing" | "invalid"> {
  if (m.operations) return m.operations;
  let json: unknown;
  if (m.operations_gzip !== undefined) {
    try {
      json = JSON.parse(await gunzipped(m.operations_gzip));
    } catch {
      json = undefined;
    }
  } else {
    if (!m.operations_key) return "missing";
    const object = await env.SNAPSHOTS.get(m.operations_key);
    if (!object) return "missing";
    try {
      json = await object.json();
    } catch {
      json = undefined;
    }
  }
  const parsed = OperationsSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  log(
    "delivery_operations_invalid",
    {
      sync_id: m.sync_id,
      run_id: m.run_id,
      batch_id: m.batch_id,
      key: m.operations_key,
      issues: parsed.error.issues.slice(0, 5).map((i) => i.message),
    },
    "error",
  );
  return "invalid";
}

async function deliver(
  msg: Message<unknown>,
  env: Env,
  later: Later,
  open: (m: DeliveryMessage) => Opened,
  slots: (destinationId: string) => SlotBroker,
): Promise<void> {
  const m = parse(msg);
  if (!m) return;
  const sync = syncStub(env, m.sync_id);
  // A redelivery of a batch already settled (reported, then the ack was lost) must not send again.
  // Claiming also tells the run an attempt is under way (a cancel waits for it).
  if (!(await sync.claimBatch(m.run_id, m.batch_id))) return msg.ack();
  const operations = await operationsOf(env, m);
  // Gone: the run is gone (sync deleted), nothing to settle. Invalid: never sent as it is.
  if (typeof operations === "string") return msg.ack();

  const opened = await open(m);
  // Attempts of this batch that failed before this one, across re-enqueued copies of the message.
  let failures = (m.failures ?? 0) + msg.attempts - 1;
  /** The destination's last response to this batch: the run log keeps it with every operation. */
  let lastResponse: { status: number; body: string } | undefined;
  const settle = (results: BatchRowResult[]) =>
    settleBatch(env, later, m, operations, results, { batchId: m.batch_id, attempts: failures + 1, response: lastResponse, at: now() });
  if (!opened.ok && opened.reason === "not_found") {
    await settle(failAll(operations, "the destination was deleted"));
    return msg.ack();
  }
  // Unreadable settings are retried like any failure of ours, until the batch dead-letters.
  if (!opened.ok) throw new Error(`destination ${m.destination_id}: ${opened.error}`);
  const { destination } = opened;
  const limit = destination.rateLimit;
  const broker = slots(destination.id);
  const limiter = broker.limiter;

  // Waits count from here, or from the last reserved slot a pause voided (its wait was not in vain
  // for lack of patience: everyone's slot was voided, and the queue would only add its own delay).
  // Slots are reserved at most the limiter's horizon ahead (MAX_AHEAD_MS): this consumer waits for
  // no slot longer than that, so the messages queued behind its batch are not held back.
  let claimedAt = Date.now();
  // While this batch waits for a slot its run may stop (credentials refused): it is claimed again
  // before it is sent, which also tells its sync's object the consumer is still at work (a
  // restarted object then does not send it again at once). A slot reserved a few milliseconds
  // ahead (a fast destination's) is no such wait.
  const stillClaimed = async () => {
    if (Date.now() - claimedAt <= RECLAIM_AFTER_MS) return true;
    claimedAt = Date.now();
    return sync.claimBatch(m.run_id, m.batch_id);
  };
  /**
   * Waits for this batch's request slot: the permit to send on, `done` when the message was
   * settled meanwhile (run stopped, or deferred to the queue), or `far` when the slot is beyond
   * the inline wait and `deferrable` is false (the caller then retries through the queue).
   */
  const waitForSlot = async (deferrable: boolean): Promise<Extract<Permit, { granted: true }> | "done" | "far"> => {
    let started = Date.now();
    const ahead = () => Math.max(0, MAX_AHEAD_MS - (Date.now() - started));
    let permit = await broker.acquire(limit, ahead());
    for (;;) {
      if (permit.granted) {
        if (permit.delayMs <= 0) break;
        // A slot reserved a little ahead: at its time, a pause begun meanwhile (a 429, a spent quota) voids it.
        await new Promise((r) => setTimeout(r, permit.granted ? permit.delayMs : 0));
        // Claimed before the confirm, not between it and the send: the request leaves at its slot's time.
        if (!(await stillClaimed())) {
          await later(releaseSlot(limiter.release(permit.leaseId)));
          msg.ack();
          return "done";
        }
        permit = await limiter.confirm(permit.leaseId, limit);
        if (!permit.granted && permit.voided) started = Date.now();
        continue;
      }
      if (permit.slotInMs !== undefined || Date.now() - started + permit.waitMs > MAX_INLINE_WAIT_MS) {
        if (!deferrable) return "far";
        // Waiting for a slot is not a failed attempt: retry() would spend the batch's retries (and a
        // busy destination would dead-letter healthy batches), so enqueue it again and ack this copy.
        // Come back when the limiter says a slot may be free: the pause's end, the slot beyond the
        // horizon (a little before it, for the queue's own delay), or at once (1 s) for the concurrency cap.
        const waitMs = permit.slotInMs !== undefined ? permit.slotInMs - QUEUE_RETURN_MS : permit.waitMs;
        const delaySeconds = Math.min(MAX_QUEUE_DELAY_SECONDS, Math.max(1, Math.ceil(waitMs / 1000)));
        await env.DELIVERIES.send({ ...m, failures }, { delaySeconds });
        await sync.noteBatchWait(m.run_id, m.batch_id, delaySeconds);
        log("batch_deferred", { sync_id: m.sync_id, run_id: m.run_id, batch_id: m.batch_id, wait_ms: permit.slotInMs ?? permit.waitMs });
        msg.ack();
        return "done";
      }
      await new Promise((r) => setTimeout(r, permit.granted ? 0 : permit.waitMs));
      permit = await broker.acquire(limit, ahead());
    }
    if (!(await stillClaimed())) {
      await later(releaseSlot(limiter.release(permit.leaseId)));
      msg.ack();
      return "done";
    }
    return permit;
  };

  // Set by the first send: the loop leaves without one of its own only after a 429 ("far").
  let outcome!: SendOutcome;
  // Values cast to the destination's field types (see cast.ts); a row that cannot be cast fails alone.
  let cast: CastBatch = { send: operations, failed: [] };
  for (let throttled = 0; ; throttled++) {
    // After a 429 the batch is not deferred to the queue as a new message (that would restart the
    // queue's count of its attempts): a slot too far off goes through the queue's retry instead.
    const permit = await waitForSlot(throttled === 0);
    if (permit === "done") return;
    if (permit === "far") break;
    // What each response said about the rate limit: the limiter learns the rate the destination accepts.
    const signals: RateSignal[] = [];
    let sent: SendOutcome | undefined;
    let released: Promise<void> | undefined;
    try {
      cast = await castBatch(destination, operations, { sync_id: m.sync_id, run_id: m.run_id, batch_id: m.batch_id });
      if (cast.outcome) sent = cast.outcome;
      else if (cast.send.length === 0) sent = { kind: "results", results: [] };
      else
        sent = await destination.send(
          { sync_id: m.sync_id, run_id: m.run_id, batch_id: m.batch_id, operations: cast.send, ...(m.mode ? { mode: m.mode } : {}) },
          (signal) => signals.push(signal),
          (status, body) => {
            lastResponse = { status, body };
          },
        );
    } finally {
      // A spent quota holds every sender of this destination, not only this batch.
      const pauseSeconds = sent?.kind === "quota_exhausted" ? sent.retryAfterSeconds : undefined;
      // Off the batch's path: the limiter learns from it, the sender needs no answer.
      released = releaseSlot(limiter.release(permit.leaseId, { signals, limit, ...(pauseSeconds ? { pauseSeconds } : {}) }));
      await later(released);
    }
    outcome = sent;
    // A 429 refused the whole request, so nothing of it landed: it is sent again on the next slot
    // the limiter gives (after the pause the 429 started), in-process, instead of waiting for the
    // queue's retry and its next batch (seconds at a low rate). Each such send is a failed attempt.
    if (outcome.kind !== "retry" || !signals.some((x) => x.throttled) || throttled >= MAX_INLINE_THROTTLED_RETRIES) break;
    failures += 1;
    log(
      "batch_throttled",
      { sync_id: m.sync_id, run_id: m.run_id, batch_id: m.batch_id, error: outcome.error, attempts: failures },
      "warn",
    );
    // The limiter must know the pause before this sender asks again.
    await released;
  }

  const fields = { sync_id: m.sync_id, run_id: m.run_id, batch_id: m.batch_id, rows: operations.length, attempts: msg.attempts };
  switch (outcome.kind) {
    case "results": {
      const opOf = new Map(operations.map((o) => [o.key, o.op]));
      await settle([...cast.failed, ...outcome.results.map((r) => ({ ...r, op: opOf.get(r.key) ?? "upsert" }))]);
      log("batch_delivered", { ...fields, failed: cast.failed.length + outcome.results.filter((r) => !r.ok).length });
      if ((m.quota_waits ?? 0) > 0) await sync.noteDestinationWait(m.run_id, null, null);
      return msg.ack();
    }
    case "quota_exhausted": {
      // Retrying in seconds cannot help, and waiting is not a failed attempt: enqueue the batch
      // again for when the quota allows (the backoff when the vendor shows room), and ack this copy.
      const waits = (m.quota_waits ?? 0) + 1;
      const delaySeconds = Math.min(
        MAX_QUEUE_DELAY_SECONDS,
        outcome.retryAfterSeconds > 0 ? outcome.retryAfterSeconds : retryDelaySeconds(waits, undefined, backoffPolicy(env)),
      );
      const until = Date.now() + delaySeconds * 1000;
      await sync.noteBatchWait(m.run_id, m.batch_id, delaySeconds, outcome.error);
      await sync.noteDestinationWait(m.run_id, `${outcome.error}; the next attempt is at ${new Date(until).toISOString()}`, until);
      await env.DELIVERIES.send({ ...m, failures, quota_waits: waits }, { delaySeconds });
      log("batch_quota_wait", { ...fields, error: outcome.error, delay_seconds: delaySeconds }, "warn");
      return msg.ack();
    }
    case "retry": {
      const delaySeconds = retryDelaySeconds(failures + 1, outcome.retryAfterSeconds, backoffPolicy(env));
      await sync.noteBatchWait(m.run_id, m.batch_id, delaySeconds, outcome.error);
      log("batch_retry", { ...fields, error: outcome.error, delay_seconds: delaySeconds }, "warn");
      return msg.retry({ delaySeconds });
    }
    case "rejected": {
      if (operations.length > 1) {
        // One bad record can sink a whole batch: split it so the good rows still go through.
        const half = Math.ceil(operations.length / 2);
        await sync.splitBatch(m.run_id, m.batch_id, [operations.slice(0, half), operations.slice(half)]);
        log("batch_split", { ...fields, error: outcome.error }, "warn");
      } else {
        await settle(failAll(operations, outcome.error));
        log("batch_rejected", { ...fields, error: outcome.error }, "warn");
      }
      return msg.ack();
    }
    case "auth_failed": {
      await Promise.all([
        sync.reportAuthFailure(m.run_id, m.batch_id, outcome.error),
        later(
          logBatch(env, m, operations, failAll(operations, outcome.error), {
            batchId: m.batch_id,
            attempts: failures + 1,
            response: lastResponse,
            at: now(),
          }),
        ),
      ]);
      log("batch_auth_failed", { ...fields, error: outcome.error }, "error");
      return msg.ack();
    }
  }
}

/** A batch that used up its retries: every row fails with the last error the destination gave. */
async function settleDeadLetter(msg: Message<unknown>, env: Env, later: Later): Promise<void> {
  const m = parse(msg);
  if (!m) return;
  const sync = syncStub(env, m.sync_id);
  if (await sync.batchSettled(m.run_id, m.batch_id)) return msg.ack();
  const found = await operationsOf(env, m);
  const operations = typeof found === "string" ? [] : found;
  const last = await sync.lastBatchError(m.run_id, m.batch_id);
  const results = failAll(operations, `retries exhausted${last ? `; last error: ${last}` : ""}`);
  // Every attempt the queue allowed was spent (max_retries + 1), after the ones before re-enqueueing.
  const attempts = (m.failures ?? 0) + QUEUE_MAX_ATTEMPTS;
  await settleBatch(env, later, m, operations, results, { batchId: m.batch_id, attempts, at: now() }, true);
  log("batch_dead_lettered", { sync_id: m.sync_id, run_id: m.run_id, batch_id: m.batch_id, rows: operations.length }, "error");
  msg.ack();
}

const now = () => new Date().toISOString();

/**
 * Asks the destination's limiter for the slots of every message of a queue batch that asks at about
 * the same time in one call (acquireMany), instead of one round trip each, which the limiter
 * answers one after another (100 of them took ~1.4 s of a 2 s batch: README "Benchmarks").
 */
class SlotBroker {
  private waiting: { limit: RateLimit; aheadMs: number; resolve: (p: Permit) => void; reject: (e: unknown) => void }[] = [];

  constructor(readonly limiter: DurableObjectStub<DestinationLimiter>) {}

  acquire(limit: RateLimit, aheadMs: number): Promise<Permit> {
    return new Promise((resolve, reject) => {
      if (this.waiting.push({ limit, aheadMs, resolve, reject }) === 1) setTimeout(() => this.flush(), 0);
    });
  }

  private async flush(): Promise<void> {
    const waiting = this.waiting;
    this.waiting = [];
    const [first] = waiting;
    if (!first) return;
    try {
      // Senders of one batch share the limit and wait about alike: the shortest wait applies to all.
      const aheadMs = Math.min(...waiting.map((w) => w.aheadMs));
      const permits = await this.limiter.acquireMany(first.limit, waiting.length, aheadMs);
      waiting.forEach((w, i) => {
        const permit = permits[i];
        if (permit) w.resolve(permit);
        else w.reject(new Error("the limiter answered fewer permits than asked"));
      });
    } catch (err) {
      for (const w of waiting) w.reject(err);
    }
  }
}

/** A release that failed only delays the slot's lease expiry: logged, never a reason to send again. */
async function releaseSlot(release: Promise<void>): Promise<void> {
  try {
    await release;
  } catch (err) {
    log("limiter_release_failed", { error: String(err) }, "warn");
  }
}

/** Work the message's ack need not wait for (the run log): to waitUntil when the runtime gives a context. */
type Later = (work: Promise<void>) => Promise<void>;

function laterOf(ctx: ExecutionContext | undefined): Later {
  return async (work) => {
    if (ctx) ctx.waitUntil(work);
    else await work;
  };
}

/**
 * Reports a batch's results to its run and logs its operations (run debugger) off the ack's path.
 * The log is named by batch id, so a batch settled again overwrites it.
 */
async function settleBatch(
  env: Env,
  later: Later,
  m: DeliveryMessage,
  operations: Operation[],
  results: BatchRowResult[],
  answer: BatchAnswer,
  exhausted = false,
): Promise<void> {
  // The run keeps only the failed rows (a batch's settlement says the rest were acknowledged).
  const failed = results.filter((r) => !r.ok);
  await Promise.all([
    syncStub(env, m.sync_id).reportBatch(m.run_id, m.batch_id, failed, exhausted),
    later(logBatch(env, m, operations, results, answer)),
  ]);
}

/** Writes a batch's run log; a failed write is logged, never a reason to send the batch again. */
async function logBatch(env: Env, m: DeliveryMessage, operations: Operation[], results: BatchRowResult[], answer: BatchAnswer) {
  try {
    await writeBatchLog(env.SNAPSHOTS, m.sync_id, m.run_id, m.batch_id, settledEntries(operations, results, answer));
  } catch (err) {
    log("run_log_write_failed", { sync_id: m.sync_id, run_id: m.run_id, batch_id: m.batch_id, error: String(err) }, "warn");
  }
}

function failAll(operations: Operation[], error: string): BatchRowResult[] {
  return operations.map((o) => ({ key: o.key, op: o.op, ok: false, error }));
}
