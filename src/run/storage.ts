import {
  decodeRunChunk,
  decodeSnapshot,
  emptySnapshot,
  joinRunChunks,
  restrictSnapshot,
  snapshotHashWords,
  type RunRows,
  type SnapshotPartition,
} from "../engine/snapshot";
import type { ReadyChunk } from "../engine/extract";
import type { FieldLayout } from "../engine/field-hashes";
import { KnownRows } from "../engine/known-rows";
import { sourcePartitions } from "../engine/partition";

/** Where a sync's objects live in the SNAPSHOTS bucket. */
export const paths = {
  sync: (syncId: string) => `syncs/${syncId}/`,
  run: (syncId: string, runId: string) => `syncs/${syncId}/runs/${runId}/`,
  chunk: (syncId: string, runId: string, p: number, n: number) => `syncs/${syncId}/runs/${runId}/part-${p}-${n}`,
  /** Partition p's diff and plan, written by the diff step (see plan-file.ts). */
  plan: (syncId: string, runId: string, p: number) => `syncs/${syncId}/runs/${runId}/plan-${p}`,
  batch: (syncId: string, runId: string, batchId: string) => `syncs/${syncId}/runs/${runId}/batch-${batchId}.json`,
  snapshots: (syncId: string, runId: string) => `syncs/${syncId}/snapshots/${runId}/`,
  snapshot: (syncId: string, runId: string, p: number) => `syncs/${syncId}/snapshots/${runId}/part-${p}`,
};

/** The committed snapshot a sync's next run compares against: written by run `runId` with P partitions. */
export interface SnapshotPointer {
  runId: string;
  partitions: number;
  /** Entries over all partitions: rows the destination holds from this sync. */
  rows: number;
}

async function bytesOf(bucket: R2Bucket, key: string): Promise<Uint8Array> {
  const object = await bucket.get(key);
  if (!object) throw new Error(`R2 object ${key} is missing`);
  return new Uint8Array(await object.arrayBuffer());
}

/** This run's rows of partition p, from its chunks. */
export async function loadRunRows(
  bucket: R2Bucket,
  syncId: string,
  runId: string,
  p: number,
  chunks: number,
  columns: number,
): Promise<RunRows> {
  const parts = await Promise.all(Array.from({ length: chunks }, (_, n) => bytesOf(bucket, paths.chunk(syncId, runId, p, n))));
  return joinRunChunks(parts.map(decodeRunChunk), columns);
}

/** Partition p (of `partitions`) of the committed snapshot, cut from the pointer's layout when P changed. */
export async function loadSnapshot(
  bucket: R2Bucket,
  syncId: string,
  pointer: SnapshotPointer | null,
  p: number,
  partitions: number,
): Promise<SnapshotPartition> {
  if (!pointer) return emptySnapshot();
  const sources = sourcePartitions(p, partitions, pointer.partitions);
  const parts = await Promise.all(
    sources.map(async (q) => decodeSnapshot(await bytesOf(bucket, paths.snapshot(syncId, pointer.runId, q)))),
  );
  return pointer.partitions === partitions ? (parts[0] ?? emptySnapshot()) : restrictSnapshot(parts, p, partitions);
}

/**
 * The committed snapshot's (key hash, row hash) pairs, for extraction to store unchanged rows
 * without their values; null without a snapshot or when it is too big to hold (see KnownRows).
 * With `fields` (a sync that keeps field hashes), also null when the snapshot lacks them under that
 * layout: every value is stored so the commit can hash the fields of unchanged rows too.
 */
export async function loadKnownRows(
  bucket: R2Bucket,
  syncId: string,
  pointer: SnapshotPointer | null,
  fields: FieldLayout | null = null,
): Promise<KnownRows | null> {
  if (!pointer) return null;
  const keys = Array.from({ length: pointer.partitions }, (_, p) => paths.snapshot(syncId, pointer.runId, p));
  return knownRowsOf(bucket, keys, pointer.rows, KnownRows.MAX_ROWS, fields);
}

/** {@link loadKnownRows} from the snapshot partitions at `keys`, holding `rows` entries in all. */
export async function knownRowsOf(
  bucket: R2Bucket,
  keys: readonly string[],
  rows: number,
  maxRows = KnownRows.MAX_ROWS,
  fields: FieldLayout | null = null,
): Promise<KnownRows | null> {
  // Above maxRows every value is stored: a partial set (some partitions' pairs) was tried, and its
  // one 10M-row bench ran at 0.29× COPY against 0.49× without a set; the cause is not found yet.
  if (rows === 0 || rows > maxRows) return null;
  const known = new KnownRows(rows);
  for (const key of keys) {
    const { keyWords, rowWords, fields: kept } = snapshotHashWords(await bytesOf(bucket, key));
    if (fields !== null && (kept?.count !== fields.count || kept.seed !== fields.seed)) return null;
    // More entries than the pointer said: store every value rather than fail the run.
    if (known.size + keyWords.length / 2 > rows) return null;
    known.addWords(keyWords, rowWords);
  }
  return known;
}

/** Deletes every object under `prefix`. */
export async function deletePrefix(bucket: R2Bucket, prefix: string): Promise<void> {
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix, cursor });
    if (page.objects.length) await bucket.delete(page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
}

/**
 * R2 puts of finished run chunks, in flight while extraction reads on. Past `maxBytes` in flight,
 * {@link ChunkUploads.add} returns a promise to wait on (the reader pauses the warehouse meanwhile),
 * so memory stays bounded however fast rows arrive. The first failed put fails the extraction.
 */
export class ChunkUploads {
  private readonly inflight = new Set<Promise<void>>();
  private bytes = 0;
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly bucket: R2Bucket,
    private readonly key: (chunk: ReadyChunk) => string,
    private readonly maxBytes: number,
  ) {}

  /** Starts the chunks' puts; returns a promise when the caller should wait before adding more. */
  add(chunks: readonly ReadyChunk[]): Promise<void> | undefined {
    for (const chunk of chunks) {
      const size = chunk.bytes.length;
      this.bytes += size;
      const put: Promise<void> = this.bucket.put(this.key(chunk), chunk.bytes).then(
        () => undefined,
        (error: unknown) => {
          this.failure ??= { error };
        },
      );
      this.inflight.add(put);
      void put.finally(() => {
        this.inflight.delete(put);
        this.bytes -= size;
      });
    }
    if (this.failure) return Promise.reject(this.failure.error);
    return this.bytes > this.maxBytes ? this.belowLimit() : undefined;
  }

  /** Waits for every put; throws the first failure. */
  async drain(): Promise<void> {
    await Promise.all(this.inflight);
    if (this.failure) throw this.failure.error;
  }

  /** Waits for the puts started so far (not later ones); throws the first failure. */
  async flushed(): Promise<void> {
    await Promise.all([...this.inflight]);
    if (this.failure) throw this.failure.error;
  }

  /** Waits for every put, failed or not (an extraction that failed, before it is tried again). */
  async settle(): Promise<void> {
    await Promise.all(this.inflight);
  }

  private async belowLimit(): Promise<void> {
    while (this.bytes > this.maxBytes && this.inflight.size > 0) await Promise.race(this.inflight);
    if (this.failure) throw this.failure.error;
  }
}
