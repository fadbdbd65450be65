import { copyColumns, PartitionWriter, resolveColumns, type ReadyChunk } from "../engine/extract";
import type { Hasher } from "../engine/hash";
import type { KnownRows } from "../engine/known-rows";
import type { Source } from "../sources/source";
import { ChunkUploads } from "./storage";

/** Chunk bytes on their way to R2 before extraction pauses the warehouse. */
const MAX_UPLOAD_BYTES = 16 * 1024 * 1024;

/** What {@link extractModel} reads and where it writes. */
export interface ExtractionJob {
  /** The model's source (src/sources/registry.ts `openSource`). */
  source: Source;
  sql: string;
  primaryKey: string;
  /** Source columns of the mapping, in mapping order. */
  mapped: readonly string[];
  hasher: Hasher;
  /** `hasher.mappingSeed(destination fields)`: a changed mapping changes every row hash. */
  rowSeed: bigint;
  partitions: number;
  bucket: R2Bucket;
  /** R2 key of a finished chunk. */
  chunkKey: (chunk: ReadyChunk) => string;
  /** Called every `progressEvery` rows; reading waits for it. */
  onProgress?: (rows: number) => Promise<void>;
  progressEvery?: number;
  /** The last snapshot's (key hash, row hash) pairs: rows it holds are stored without values. */
  known?: KnownRows | null;
}

/** What extraction wrote: rows, chunks per partition, bytes, and the mapped columns' type ids. */
export interface Extraction {
  rows: number;
  /** Rows stored without values (unchanged since the last snapshot). */
  unchanged: number;
  chunkCounts: number[];
  /** The source's type ids of the mapped columns, in mapping order (see SourcePlugin.jsonValue). */
  fieldTypes: number[];
  bytes: number;
}

/**
 * Step 1 of a run: the model's rows, as COPY text lines of the key and the mapped values, hashed
 * and routed to partitions as bytes (no string per value) and stored as R2 chunks while reading
 * goes on. Memory: the writer's buffers plus at most 16 MiB of uploads, then the warehouse waits.
 * Throws WarehouseError, MissingColumnError, or the R2 error.
 */
export async function extractModel(job: ExtractionJob): Promise<Extraction> {
  const uploads = new ChunkUploads(job.bucket, job.chunkKey, MAX_UPLOAD_BYTES);
  const writer = new PartitionWriter(job.hasher, job.partitions, copyColumns(job.mapped.length), job.rowSeed, {}, job.known ?? null);
  const every = job.progressEvery ?? 50_000;
  let nextProgress = every;
  let fieldTypes: number[] = [];
  let bytes = 0;
  const store = (chunks: readonly ReadyChunk[]) => {
    for (const c of chunks) bytes += c.bytes.length;
    return uploads.add(chunks);
  };
  const reading = job.source.extract(job.sql, {
    columns: (fields) => {
      const columns = resolveColumns(
        fields.map((f) => f.name),
        job.primaryKey,
        job.mapped,
      );
      fieldTypes = columns.values.map((i) => fields[i]?.typeId ?? 25);
      return [job.primaryKey, ...job.mapped];
    },
    line: (line) => {
      writer.addCopyLine(line);
      const backlog = store(writer.takeReady());
      if (writer.rows < nextProgress || !job.onProgress) return backlog;
      nextProgress += every;
      return Promise.all([backlog, job.onProgress(writer.rows)]).then(() => undefined);
    },
  });
  try {
    await reading;
  } catch (err) {
    // A retry starts over under the same chunk keys: no put of this attempt may land after it began.
    await uploads.settle();
    throw err;
  }
  // Its failure, if any, is the one drain() throws.
  store(writer.finishAll())?.catch(() => undefined);
  await uploads.drain();
  return { rows: writer.rows, unchanged: writer.unchanged, chunkCounts: writer.chunkCounts(), fieldTypes, bytes };
}
