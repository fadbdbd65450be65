import { copyColumns, PartitionWriter, resolveColumns, type ReadyChunk } from "../engine/extract";
import type { Hasher } from "../engine/hash";
import type { KnownRows } from "../engine/known-rows";
import type { ExtractHandler, PageCursor, Source } from "../sources/source";
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
  /** Read in pages of the key's order (the source's `keyset`), resumable after any page; absent: in one go. */
  pages?: ExtractionPages;
}

/** How a paged extraction goes: page size, where it resumes, and its checkpoint after each page. */
interface ExtractionPages {
  rows: number;
  /** The extraction so far (a checkpoint's mark), or null to start at the first page. */
  resume: ExtractionMark | null;
  /** A page's chunks are all stored: `mark` is where a later extraction may resume. Called in page order. */
  onPage(mark: ExtractionMark): void;
  /** Asked after each page: true stops the extraction there (to continue later from its mark). */
  stop?(): boolean;
  /** The extraction failed with `rows` read past its last finished page: the next try reads them again. */
  onLost?(rows: number): void;
}

/**
 * A paged extraction as far as its finished pages: where the next page starts (null once the model
 * is read) and what was written before it. JSON, for the run's checkpoint.
 */
export interface ExtractionMark {
  next: PageCursor | null;
  pages: number;
  rows: number;
  unchanged: number;
  /** Chunks per partition: the next chunk of partition p is number chunkCounts[p]. */
  chunkCounts: number[];
  bytes: number;
  /** The mapped columns' type ids (see {@link Extraction.fieldTypes}). */
  fieldTypes: number[];
}

/** What extraction wrote: rows, chunks per partition, bytes, and the mapped columns' type ids (all of it, resumed pages included). */
export interface Extraction {
  rows: number;
  /** Rows stored without values (unchanged since the last snapshot). */
  unchanged: number;
  chunkCounts: number[];
  /** The source's type ids of the mapped columns, in mapping order (see SourcePlugin.jsonValue). */
  fieldTypes: number[];
  bytes: number;
  /** A paged extraction asked to stop (`pages.stop`) before the model's end: where it continues. */
  next?: PageCursor;
}

/**
 * Step 1 of a run: the model's rows, as COPY text lines of the key and the mapped values, hashed
 * and routed to partitions as bytes (no string per value) and stored as R2 chunks while reading
 * goes on. Memory: the writer's buffers plus at most 16 MiB of uploads, then the warehouse waits.
 *
 * With `job.pages` (and a source with `keyset`) the model is read in key ranges: after each page
 * every partition's pending rows become a chunk, and once the page's chunks are stored its mark
 * goes to `pages.onPage` while the next page is already being read. A resumed extraction numbers
 * its chunks after the mark's, so a page's chunks are never written twice under two names, and
 * chunks of a page that did not finish are replaced or ignored (past the mark's counts).
 * Throws WarehouseError, MissingColumnError, or the R2 error.
 */
export async function extractModel(job: ExtractionJob): Promise<Extraction> {
  const pages = job.pages && job.source.keyset ? job.pages : undefined;
  const base = pages?.resume ?? null;
  const baseCounts = base?.chunkCounts ?? [];
  const seqBase = (p: number) => baseCounts[p] ?? 0;
  const uploads = new ChunkUploads(
    job.bucket,
    (c) => job.chunkKey(seqBase(c.partition) === 0 ? c : { ...c, seq: seqBase(c.partition) + c.seq }),
    MAX_UPLOAD_BYTES,
  );
  const writer = new PartitionWriter(job.hasher, job.partitions, copyColumns(job.mapped.length), job.rowSeed, {}, job.known ?? null);
  const baseRows = base?.rows ?? 0;
  const every = job.progressEvery ?? 50_000;
  let nextProgress = baseRows + every;
  let fieldTypes: number[] = [];
  let bytes = base?.bytes ?? 0;
  const store = (chunks: readonly ReadyChunk[]) => {
    for (const c of chunks) bytes += c.bytes.length;
    return uploads.add(chunks);
  };
  const mark = (next: PageCursor | null, done: number): ExtractionMark => ({
    next,
    pages: done,
    rows: baseRows + writer.rows,
    unchanged: (base?.unchanged ?? 0) + writer.unchanged,
    chunkCounts: writer.chunkCounts().map((n, p) => n + seqBase(p)),
    bytes,
    fieldTypes,
  });
  // After a batch of rows: the chunks it finished stored, progress reported past each mark it crossed.
  const afterMany = (): Promise<void> | undefined => {
    const backlog = store(writer.takeReady());
    const rows = baseRows + writer.rows;
    if (rows < nextProgress || !job.onProgress) return backlog;
    while (nextProgress <= rows) nextProgress += every;
    return Promise.all([backlog, job.onProgress(rows)]).then(() => undefined);
  };
  const handler: ExtractHandler = {
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
      const rows = baseRows + writer.rows;
      if (rows < nextProgress || !job.onProgress) return backlog;
      nextProgress += every;
      return Promise.all([backlog, job.onProgress(rows)]).then(() => undefined);
    },
    lines: (bytes) => {
      const taken = writer.addCopyLines(bytes);
      const wait = afterMany();
      return wait ? wait.then(() => taken) : taken;
    },
    lineRanges: (bytes, starts, ends, count) => {
      writer.addCopyLineRanges(bytes, starts, ends, count);
      return afterMany();
    },
  };
  // Page marks wait for their chunks' puts, in page order; a failed put writes no more marks.
  let marks: Promise<void> = Promise.resolve();
  let marked = { rows: 0, pages: base?.pages ?? 0 };
  let stopped: PageCursor | undefined;
  const reading =
    pages && job.source.keyset
      ? job.source.keyset.extract(
          job.sql,
          {
            key: job.primaryKey,
            from: base?.next ?? null,
            pageRows: pages.rows,
            pageDone: (next) => {
              const backlog = store(writer.finishAll());
              const m = mark(next, marked.pages + 1);
              marked = { rows: writer.rows, pages: m.pages };
              const flushed = uploads.flushed();
              flushed.catch(() => undefined);
              marks = marks
                .then(() => flushed)
                .then(
                  () => pages.onPage(m),
                  () => undefined,
                );
              const more = next !== null && !pages.stop?.();
              if (!more && next !== null) stopped = next;
              return backlog ? backlog.then(() => more) : more;
            },
          },
          handler,
        )
      : job.source.extract(job.sql, handler);
  try {
    await reading;
  } catch (err) {
    // A retry starts over (or resumes) under the same chunk keys: no put of this attempt may land after it began.
    await uploads.settle();
    await marks;
    if (writer.rows > marked.rows) pages?.onLost?.(writer.rows - marked.rows);
    throw err;
  }
  // Its failure, if any, is the one drain() throws.
  store(writer.finishAll())?.catch(() => undefined);
  await uploads.drain();
  await marks;
  const end = mark(stopped ?? null, marked.pages);
  return {
    rows: end.rows,
    unchanged: end.unchanged,
    chunkCounts: end.chunkCounts,
    fieldTypes,
    bytes,
    ...(stopped ? { next: stopped } : {}),
  };
}
