import { Buffer } from "node:buffer";
import type { Operation } from "../destinations/destination";
import type { SyncMode } from "../sync/mode";
import { MAX_INLINE_BYTES, type DeliveryMessage } from "./message";

/** Queue sendBatch accepts up to 100 messages and 256 KB in all (the byte cap leaves headroom). */
const SEND_BATCH_MESSAGES = 100;
const SEND_BATCH_BYTES = 200 * 1024;

/** Most bytes of keys and values in one destination batch, so its message stays inline. */
export const MAX_BATCH_BYTES = MAX_INLINE_BYTES / 2;

/** What every message of a run carries besides its batch. */
export interface BatchEnvelope {
  sync_id: string;
  run_id: string;
  destination_id: string;
  workspace_id: string;
  mode?: SyncMode;
}

/**
 * The queue message of one destination batch: operations inline, compressed inline when only that
 * fits (a put here and a get in the consumer cost more than gzip both ways: README "Benchmarks"),
 * or spilled to R2 under `spillKey` when even compressed they would pass the queue's message size limit.
 */
export async function deliveryMessage(
  bucket: R2Bucket,
  envelope: BatchEnvelope,
  batchId: string,
  operations: Operation[],
  spillKey: string,
): Promise<DeliveryMessage> {
  const json = JSON.stringify(operations);
  if (json.length <= MAX_INLINE_BYTES) return { ...envelope, batch_id: batchId, operations };
  const gzip = Buffer.from(await gzipped(json)).toString("base64");
  if (gzip.length <= MAX_INLINE_BYTES) return { ...envelope, batch_id: batchId, operations_gzip: gzip };
  await bucket.put(spillKey, json);
  return { ...envelope, batch_id: batchId, operations_key: spillKey };
}

async function gzipped(text: string): Promise<ArrayBuffer> {
  return new Response(new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer();
}

/** The operations' JSON of an `operations_gzip` field. */
export async function gunzipped(base64: string): Promise<string> {
  return new Response(new Blob([Buffer.from(base64, "base64")]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
}

/**
 * Buffers delivery messages and sends them with `sendBatch` within its limits. The caller flushes:
 * before a message that does not fit, and when the buffer is full, so it can checkpoint what was sent.
 */
export class DeliveryProducer {
  private messages: MessageSendRequest<DeliveryMessage>[] = [];
  private bytes = 0;

  constructor(private readonly queue: Queue<DeliveryMessage>) {}

  /** Whether a message of `size` bytes ({@link messageSize}) fits in the current sendBatch. */
  fits(size: number): boolean {
    return this.bytes + size <= SEND_BATCH_BYTES;
  }

  push(body: DeliveryMessage, size: number): void {
    this.messages.push({ body });
    this.bytes += size;
  }

  /** The buffer holds as many messages as one sendBatch takes. */
  get full(): boolean {
    return this.messages.length >= SEND_BATCH_MESSAGES;
  }

  /** Sends the buffered messages (if any) in one sendBatch. */
  async flush(): Promise<void> {
    const messages = this.messages;
    this.messages = [];
    this.bytes = 0;
    if (messages.length) await this.queue.sendBatch(messages);
  }
}

/** A message's size as counted against the sendBatch byte limit. */
export function messageSize(body: DeliveryMessage): number {
  return JSON.stringify(body).length;
}
