import { z } from "zod";
import { OPERATION_KINDS, type OperationKind, type RowResult } from "../destinations/destination";
import { isRecord } from "../lib/http";
import { SYNC_MODES } from "../sync/mode";

const OperationSchema = z.object({
  op: z.enum(OPERATION_KINDS),
  key: z.string(),
  // An object, its values as they are: z.record walks (and copies) every field of every operation,
  // 12× the cost of the rest of this schema, on the consumer's one thread (README "Benchmarks").
  fields: z.custom<Record<string, unknown>>(isRecord, "fields must be an object"),
});

/** A batch's operations, inline in a message or spilled to R2: both are checked against this. */
export const OperationsSchema = z.array(OperationSchema);

/**
 * One queue message per destination batch. Operations travel inline (as JSON, or compressed when
 * only that fits), or in R2 under `operations_key` when even compressed they would exceed the
 * queue's message size limit.
 */
export const DeliveryMessageSchema = z
  .object({
    sync_id: z.string(),
    run_id: z.string(),
    batch_id: z.string(),
    destination_id: z.string(),
    workspace_id: z.string(),
    operations: OperationsSchema.optional(),
    /**
     * The operations' JSON, gzip-compressed and base64-encoded: a batch too big to travel as plain
     * JSON (1,000 operations are ~125 KB) but small enough compressed, so it needs no R2 put and get.
     */
    operations_gzip: z.string().optional(),
    operations_key: z.string().optional(),
    /** The sync's mode: in `update` mode an update never creates (absent in messages of older runs). */
    mode: z.enum(SYNC_MODES).optional(),
    /**
     * Failed attempts before this message was (re-)enqueued: a batch deferred by the rate limiter
     * is sent again as a new message, which must not restart its backoff.
     */
    failures: z.number().int().min(0).optional(),
    /**
     * Times this batch waited for the destination's account quota (Salesforce's daily API limit):
     * waits are not failed attempts; a batch that waited clears the wait's reason when it lands.
     */
    quota_waits: z.number().int().min(0).optional(),
  })
  .refine((m) => [m.operations, m.operations_gzip, m.operations_key].filter((o) => o !== undefined).length === 1, {
    message: "exactly one of operations, operations_gzip or operations_key",
  });
export type DeliveryMessage = z.infer<typeof DeliveryMessageSchema>;

/** Queue messages are limited to 128 KB; leave headroom for the envelope. */
export const MAX_INLINE_BYTES = 100 * 1024;

/** A row's result as the consumer reports it to the run, with the operation it was. */
export type BatchRowResult = RowResult & { op: OperationKind };
