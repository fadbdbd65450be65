import { loadHasher } from "../engine/hash";
import { partitionOf } from "../engine/partition";
import { log } from "../lib/log";
import { batchLogName, decodeEntries, encodeEntries, type LogCursor, matches, type OperationFilter, type OperationLogEntry } from "./entry";

/**
 * The run debugger's storage: every operation of a run, in R2 (not D1: a run may send millions),
 * under `run-logs/<sync>/<run>/`. One NDJSON object per settled batch, named by the batch id, so a
 * batch settled twice overwrites its object instead of adding lines; a small manifest names the
 * run's partition count, so one key's operations are found in one partition's folder.
 */
const ROOT = "run-logs/";
const paths = {
  sync: (syncId: string) => `${ROOT}${syncId}/`,
  run: (syncId: string, runId: string) => `${ROOT}${syncId}/${runId}/`,
  manifest: (syncId: string, runId: string) => `${ROOT}${syncId}/${runId}/run.json`,
  partition: (syncId: string, runId: string, p: number) => `${ROOT}${syncId}/${runId}/p${String(p).padStart(4, "0")}/`,
};

/** Retention of run logs unless RUN_LOG_RETENTION_DAYS says otherwise. */
const DEFAULT_RETENTION_DAYS = 7;

/** RUN_LOG_RETENTION_DAYS as a positive number of days (the default when unset or not a number). */
export function retentionDays(env: { RUN_LOG_RETENTION_DAYS?: string }): number {
  const days = Number(env.RUN_LOG_RETENTION_DAYS);
  return Number.isFinite(days) && days > 0 ? days : DEFAULT_RETENTION_DAYS;
}

interface RunManifest {
  partitions: number;
  dry_run: boolean;
}

/** Records the run's partition count (before any of its batches is logged). */
export async function writeRunManifest(bucket: R2Bucket, syncId: string, runId: string, manifest: RunManifest): Promise<void> {
  await bucket.put(paths.manifest(syncId, runId), JSON.stringify(manifest));
}

async function readManifest(bucket: R2Bucket, syncId: string, runId: string): Promise<RunManifest | null> {
  const object = await bucket.get(paths.manifest(syncId, runId));
  return object ? ((await object.json()) as RunManifest) : null;
}

/** Writes (or overwrites) one batch's entries. A batch id not of this run's form is not logged. */
export async function writeBatchLog(
  bucket: R2Bucket,
  syncId: string,
  runId: string,
  batchId: string,
  entries: readonly OperationLogEntry[],
): Promise<void> {
  const name = batchLogName(runId, batchId);
  if (!name || entries.length === 0) return;
  await bucket.put(`${paths.partition(syncId, runId, name.partition)}${name.name}.ndjson`, encodeEntries(entries), {
    httpMetadata: { contentType: "application/x-ndjson" },
  });
}

/** Log objects read for one page at most: a filter matching little returns a short page and a cursor, not a long wait. */
const MAX_OBJECTS_PER_PAGE = 200;

async function entriesOf(bucket: R2Bucket, key: string): Promise<OperationLogEntry[]> {
  const object = await bucket.get(key);
  return object ? decodeEntries(await object.text()) : [];
}

/**
 * One page of a run's operations in plan order, filtered, reading one batch object at a time.
 * A key filter reads only the key's partition. `null` when the run has no log (none kept, or purged).
 */
export async function operationsPage(
  bucket: R2Bucket,
  syncId: string,
  runId: string,
  filter: OperationFilter,
  limit: number,
  cursor: LogCursor | null,
): Promise<{ data: OperationLogEntry[]; next: LogCursor | null } | null> {
  const manifest = await readManifest(bucket, syncId, runId);
  if (!manifest) return null;
  const prefix =
    filter.key === undefined
      ? paths.run(syncId, runId)
      : paths.partition(syncId, runId, partitionOf((await loadHasher()).hashKey(filter.key), manifest.partitions));
  // A cursor from another run (or a key filter's other partition) does not apply here.
  if (cursor && !cursor.object.startsWith(prefix)) return { data: [], next: null };
  const data: OperationLogEntry[] = [];
  let objects = 0;
  /** Takes the object's matching entries from `skip`; the position of the first one left over, if any. */
  const take = async (key: string, skip: number): Promise<LogCursor | null> => {
    objects += 1;
    const found = (await entriesOf(bucket, key)).filter((e) => matches(e, filter));
    for (let i = skip; i < found.length; i++) {
      if (data.length === limit) return { object: key, skip: i };
      const entry = found[i];
      if (entry) data.push(entry);
    }
    return null;
  };
  if (cursor) {
    const rest = await take(cursor.object, cursor.skip);
    if (rest) return { data, next: rest };
  }
  let startAfter = cursor?.object;
  for (;;) {
    const listing = await bucket.list({ prefix, startAfter, limit: 100 });
    for (const o of listing.objects) {
      if (!o.key.endsWith(".ndjson")) continue;
      if (objects >= MAX_OBJECTS_PER_PAGE) return { data, next: { object: o.key, skip: 0 } };
      const rest = await take(o.key, 0);
      if (rest) return { data, next: rest };
    }
    const last = listing.objects.at(-1);
    if (!listing.truncated || !last) return { data, next: null };
    startAfter = last.key;
  }
}

/** One key's operations in one run (null when the run has no log): reads only the key's partition. */
export async function keyInRun(bucket: R2Bucket, syncId: string, runId: string, key: string): Promise<OperationLogEntry[] | null> {
  const page = await operationsPage(bucket, syncId, runId, { key }, 100, null);
  return page ? page.data : null;
}

/** Deletes a run's log (its sync or run was deleted). */
export async function deleteSyncLogs(bucket: R2Bucket, syncId: string): Promise<void> {
  await deleteWhere(bucket, paths.sync(syncId), () => true, Number.POSITIVE_INFINITY);
}

/**
 * Deletes run-log objects uploaded more than `days` before `now` (of every sync, or of `syncId`),
 * at most `maxObjects` listed per call (the next scheduled sweep goes on). The count deleted.
 */
export async function purgeRunLogs(
  bucket: R2Bucket,
  now: number,
  days: number,
  options: { syncId?: string; maxObjects?: number } = {},
): Promise<number> {
  const cutoff = now - days * 86_400_000;
  const prefix = options.syncId ? paths.sync(options.syncId) : ROOT;
  const deleted = await deleteWhere(bucket, prefix, (o) => o.uploaded.getTime() < cutoff, options.maxObjects ?? 50_000);
  if (deleted > 0) log("run_logs_purged", { objects: deleted, older_than: new Date(cutoff).toISOString() });
  return deleted;
}

async function deleteWhere(bucket: R2Bucket, prefix: string, old: (o: R2Object) => boolean, maxObjects: number): Promise<number> {
  let cursor: string | undefined;
  let listed = 0;
  let deleted = 0;
  do {
    const page = await bucket.list({ prefix, cursor });
    listed += page.objects.length;
    const keys = page.objects.filter(old).map((o) => o.key);
    // R2 deletes up to 1,000 keys per call; a list page holds at most 1,000.
    if (keys.length) await bucket.delete(keys);
    deleted += keys.length;
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor && listed < maxObjects);
  return deleted;
}
