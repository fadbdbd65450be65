import type { Operation as DestinationOperation } from "../../destinations/destination";
import type { DeliveryMessage } from "../../delivery/message";
import { DeliveryProducer, deliveryMessage, MAX_BATCH_BYTES, messageSize, type BatchEnvelope } from "../../delivery/producer";
import { operationAt, operationBatches } from "../../engine/plan";
import { emptySnapshot, joinRunChunks } from "../../engine/snapshot";
import { sourcePlugin } from "../../sources/registry";
import { fieldMaker } from "../../sync/mapping";
import { TemplateError } from "../../sync/template";
import { changedFieldsOf, keepFields } from "../changed-fields";
import { loadPlannedPartition } from "../plan-file";
import type { OpenBatch } from "../ledger";
import { RunFailure, type RunState, valuesPerRow } from "../state";
import { loadRunRows, loadSnapshot, paths } from "../storage";
import { budgetSpent, type StepContext, type StepOutcome } from "./context";

/**
 * Enqueues the stored plans' operations as destination batches, partition by partition. After each
 * sendBatch the checkpoint records the next operation, so a crash never sends a batch twice under
 * two ids (a batch resent under its own id is settled once).
 */
export async function run(ctx: StepContext, s: RunState): Promise<StepOutcome> {
  const { run, bucket, syncId, ledger } = ctx;
  const producer = new DeliveryProducer(ctx.env.DELIVERIES);
  const envelope = envelopeOf(syncId, run.id, s);
  while (s.partition < s.partitions && !budgetSpent(ctx)) {
    if (s.abort || ctx.stopRequested()) return stopEnqueueing(ctx, s);
    const p = s.partition;
    const { diff, plan } = await loadPlannedPartition(bucket, syncId, run.id, p);
    // Deletes come first in a plan and read the snapshot; the rest read this run's rows (and the
    // snapshot's field hashes when only changed fields are sent). Only what the operations still to
    // send need is loaded (a partition without changes loads nothing).
    const needsPrev = s.operation < plan.counts.delete || (s.config.send === "changed_fields" && s.operation < plan.count);
    const [prev, rows] = await Promise.all([
      needsPrev ? loadSnapshot(bucket, syncId, ctx.pointer, p, s.partitions) : emptySnapshot(),
      Math.max(s.operation, plan.counts.delete) < plan.count
        ? loadRunRows(bucket, syncId, run.id, p, s.chunks[p] ?? 0, valuesPerRow(s))
        : joinRunChunks([], valuesPerRow(s)),
    ]);
    const fields = fieldsOf(s);
    const changed = await changedFieldsOf(s, run.options.full_resync === true, { diff, plan, rows, prev });
    const checkpoint = (nextOperation: number) => {
      s.operation = nextOperation;
      ctx.checkpoint(s);
    };
    let next = s.operation;
    for (const batch of operationBatches(
      plan,
      rows,
      prev,
      { maxOperations: s.config.maxBatchSize, maxBytes: MAX_BATCH_BYTES },
      s.operation,
    )) {
      const first = batch[0];
      if (!first) continue;
      const batchId = `${run.id}.${p}.${first.index}`;
      const operations = batch.map(
        (op): DestinationOperation => ({ op: op.kind, key: op.key, fields: keepFields(fields(op.values), changed(op)) }),
      );
      const body = await deliveryMessage(bucket, envelope, batchId, operations, paths.batch(syncId, run.id, batchId));
      const size = messageSize(body);
      if (!producer.fits(size)) {
        await producer.flush();
        checkpoint(first.index);
      }
      producer.push(body, size);
      ledger.addBatch(run.id, batchId, p, first.index, first.index + batch.length - 1);
      s.totals.batches += 1;
      next = (batch.at(-1)?.index ?? first.index) + 1;
      if (producer.full) {
        await producer.flush();
        checkpoint(next);
      }
      if (budgetSpent(ctx) || ctx.stopRequested()) break;
    }
    await producer.flush();
    checkpoint(next);
    if (next < plan.count) break; // budget spent inside the partition; continue next alarm
    s.partition = p + 1;
    s.operation = 0;
    run.progress = { ...run.progress, batches_sent: s.totals.batches };
    ctx.checkpoint(s);
  }
  return { state: s, next: s.partition < s.partitions ? "deliver" : "await" };
}

/**
 * The run was stopped (cancel, time limit, credentials refused): nothing more is enqueued, and what
 * was not is recorded as unsent, so commit keeps those rows' old state.
 */
function stopEnqueueing(ctx: StepContext, s: RunState): StepOutcome {
  for (let p = s.partition; p < s.partitions; p++) {
    ctx.ledger.addUnsent(ctx.run.id, p, p === s.partition ? s.operation : 0, Number.MAX_SAFE_INTEGER);
  }
  s.partition = s.partitions;
  s.operation = 0;
  return { state: s, next: "await" };
}

/**
 * The messages of batches already in the ledger, rebuilt from the stored plans (a batch is a
 * contiguous range of its partition's plan), so a batch whose message was lost can be sent again
 * under its own id.
 */
export async function rebuildMessages(ctx: StepContext, s: RunState, batches: readonly OpenBatch[]): Promise<DeliveryMessage[]> {
  const { run, bucket, syncId } = ctx;
  const envelope = envelopeOf(syncId, run.id, s);
  const out: DeliveryMessage[] = [];
  const partitions = [...new Set(batches.map((b) => b.partition))].sort((a, b) => a - b);
  const fields = fieldsOf(s);
  for (const p of partitions) {
    const { diff, plan } = await loadPlannedPartition(bucket, syncId, run.id, p);
    const [prev, rows] = await Promise.all([
      loadSnapshot(bucket, syncId, ctx.pointer, p, s.partitions),
      loadRunRows(bucket, syncId, run.id, p, s.chunks[p] ?? 0, valuesPerRow(s)),
    ]);
    const changed = await changedFieldsOf(s, run.options.full_resync === true, { diff, plan, rows, prev });
    for (const batch of batches) {
      if (batch.partition !== p) continue;
      const operations: DestinationOperation[] = [];
      for (let k = batch.firstOp; k <= batch.lastOp && k < plan.count; k++) {
        const op = operationAt(plan, k, rows, prev);
        operations.push({ op: op.kind, key: op.key, fields: keepFields(fields(op.values), changed(op)) });
      }
      out.push(await deliveryMessage(bucket, envelope, batch.batchId, operations, paths.batch(syncId, run.id, batch.batchId)));
    }
  }
  return out;
}

/** What every delivery message of this run carries. */
export function envelopeOf(syncId: string, runId: string, s: RunState): BatchEnvelope {
  return {
    sync_id: syncId,
    run_id: runId,
    destination_id: s.config.destinationId,
    workspace_id: s.config.workspaceId,
    mode: s.config.mode,
  };
}

/**
 * Maps a row's values to the destination's fields: each value typed by the source's column type (the
 * plug-in looked up once), then the sync's mappings (columns, constants, templates) applied.
 */
export function fieldsOf(s: RunState): (values: (string | null)[] | null) => Record<string, unknown> {
  const plugin = sourcePlugin(s.config.sourceType ?? "postgres");
  const make = fieldMaker(s.config.mappings, s.config.nullValues ?? "send");
  return (values) => {
    if (!values) return {};
    try {
      return make(values.map((v, i) => plugin.jsonValue(s.fieldTypes[i] ?? 25, v ?? null)));
    } catch (err) {
      if (!(err instanceof TemplateError)) throw err;
      throw new RunFailure("mapping_template_failed", `a field mapping's template failed on a row: ${err.message}`);
    }
  };
}
