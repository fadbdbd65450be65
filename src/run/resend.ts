import { ATTEMPT_SECONDS, backoffPolicy, type BackoffPolicy, reportOverdueAt } from "../delivery/backoff";
import { DeliveryProducer, messageSize } from "../delivery/producer";
import { log } from "../lib/log";
import type { OpenBatch } from "./ledger";
import type { RunState } from "./state";
import type { StepContext } from "./steps/context";
import { rebuildMessages } from "./steps/deliver";

/** Most batches enqueued again in one pass (the rest follow at the next). */
const RESEND_PER_PASS = 500;

/** What decides whether a batch's report is overdue. */
export interface OverdueInput {
  now: number;
  /** When the consumer last told the run anything (epoch ms, 0 when never). */
  lastProgress: number;
  /** When this instance of the SyncObject started (epoch ms). */
  bootAt: number;
  policy: BackoffPolicy;
}

/**
 * Open batches to enqueue again:
 * - after a restart with no word from the consumer since: every batch last heard of before the
 *   restart whose announced wait is over (the local queue, for one, loses its messages with the process);
 * - otherwise, batches past {@link reportOverdueAt}, once the consumer has been silent about the run
 *   for an attempt's time (while it reports other batches, the rest are queued behind them).
 */
export function overdueBatches(open: readonly OpenBatch[], input: OverdueInput): OpenBatch[] {
  const { now, lastProgress, bootAt, policy } = input;
  const restarted = lastProgress < bootAt;
  const quiet = now - lastProgress >= ATTEMPT_SECONDS * 1000;
  return open.filter((b) => {
    const sign = { at: b.signAt, waitSeconds: b.waitSeconds };
    if (restarted && b.signAt < bootAt && b.signAt + b.waitSeconds * 1000 <= now) return true;
    return quiet && now >= reportOverdueAt(sign, policy);
  });
}

/** Enqueues overdue batches again under their own ids (delivery is idempotent by batch id); returns how many. */
export async function resendOverdue(ctx: StepContext, s: RunState): Promise<number> {
  const { ledger, run } = ctx;
  const overdue = overdueBatches(ledger.openBatchList(run.id), {
    now: Date.now(),
    lastProgress: ledger.lastProgress(run.id),
    bootAt: ctx.bootAt,
    policy: backoffPolicy(ctx.env),
  }).slice(0, RESEND_PER_PASS);
  if (overdue.length === 0) return 0;
  const messages = await rebuildMessages(ctx, s, overdue);
  const producer = new DeliveryProducer(ctx.env.DELIVERIES);
  for (const body of messages) {
    const size = messageSize(body);
    if (!producer.fits(size) || producer.full) await producer.flush();
    producer.push(body, size);
  }
  await producer.flush();
  ledger.markResent(
    run.id,
    overdue.map((b) => b.batchId),
  );
  log("batches_resent", { sync_id: ctx.syncId, run_id: run.id, batches: overdue.length, first: overdue[0]?.batchId }, "warn");
  return overdue.length;
}
