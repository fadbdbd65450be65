import type { OperationKind } from "../destinations/destination";

/**
 * Who found a failed row: the diff (`validate`: the row can never be sent), a stopped run (`abort`:
 * not sent), the destination (`deliver`: rejected), or an update-only destination (`not_found`:
 * the record does not exist; committed like a delivered row, so it is not retried until it changes).
 */
const FAILURE_STEPS = ["validate", "abort", "deliver", "not_found"] as const;
export type FailureStep = (typeof FAILURE_STEPS)[number];

/** A row that did not reach the destination, and why. */
export interface FailedRowRecord {
  partition: number;
  key: string | null;
  operation: OperationKind | "validate";
  message: string;
}

/** An open batch and the last the run heard of it. */
export type OpenBatch = {
  batchId: string;
  partition: number;
  firstOp: number;
  lastOp: number;
  /** Epoch ms: enqueued, claimed for an attempt, or a wait announced. */
  signAt: number;
  waitSeconds: number;
};

/** Columns of `batches` that followed its first version: the last sign of a batch, whether an attempt is under way, resends. */
const BATCH_SIGN_COLUMNS = [
  ["sign_at", "INTEGER NOT NULL DEFAULT 0"],
  ["wait_s", "INTEGER NOT NULL DEFAULT 0"],
  ["attempting", "INTEGER NOT NULL DEFAULT 0"],
  ["resends", "INTEGER NOT NULL DEFAULT 0"],
] as const;

/**
 * The run's delivery ledger in the SyncObject's SQLite storage: every batch sent (settled or not,
 * with its last transient error) and every failed row. Reports are idempotent by batch id, so an
 * at-least-once redelivery never counts a row twice; failed rows are what commit leaves out.
 */
export class RunLedger {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS batches (
      batch_id TEXT PRIMARY KEY,
      run_id TEXT NOT NULL,
      partition INTEGER NOT NULL,
      first_op INTEGER NOT NULL,
      last_op INTEGER NOT NULL,
      settled INTEGER NOT NULL DEFAULT 0,
      aborted INTEGER NOT NULL DEFAULT 0,
      last_error TEXT
    )`);
    sql.exec(`CREATE TABLE IF NOT EXISTS failures (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      run_id TEXT NOT NULL,
      partition INTEGER NOT NULL,
      key TEXT,
      operation TEXT NOT NULL,
      message TEXT NOT NULL,
      step TEXT NOT NULL DEFAULT 'deliver'
    )`);
    sql.exec("CREATE INDEX IF NOT EXISTS failures_run_partition ON failures (run_id, partition)");
    // Batches that ran out of retries (dead-lettered), as opposed to records the destination rejected.
    sql.exec("CREATE TABLE IF NOT EXISTS exhausted (batch_id TEXT PRIMARY KEY, run_id TEXT NOT NULL)");
    // Columns added after the table's first version (objects that already hold a ledger).
    const columns = new Set(
      sql
        .exec<{ name: string }>("SELECT name FROM pragma_table_info('batches')")
        .toArray()
        .map((c) => c.name),
    );
    for (const [name, type] of BATCH_SIGN_COLUMNS) if (!columns.has(name)) sql.exec(`ALTER TABLE batches ADD COLUMN ${name} ${type}`);
    // When the consumer last told the run anything (a report, a transient failure, a wait).
    sql.exec("CREATE TABLE IF NOT EXISTS progress (run_id TEXT PRIMARY KEY, at INTEGER NOT NULL)");
  }

  /** The consumer told the run something about its batches just now. */
  noteProgress(runId: string, at = Date.now()): void {
    this.sql.exec("INSERT INTO progress (run_id, at) VALUES (?, ?) ON CONFLICT (run_id) DO UPDATE SET at = excluded.at", runId, at);
  }

  /** When the consumer last told the run anything (epoch ms; 0 when never). */
  lastProgress(runId: string): number {
    return this.sql.exec<{ at: number }>("SELECT at FROM progress WHERE run_id = ?", runId).toArray()[0]?.at ?? 0;
  }

  /**
   * Marks an open batch as being attempted by the consumer; false when it needs no sending (settled,
   * aborted, cancelled or unknown). A cancel waits for the batches being attempted.
   */
  claim(runId: string, batchId: string, at = Date.now()): boolean {
    const claimed = this.sql.exec(
      "UPDATE batches SET attempting = 1, sign_at = ?, wait_s = 0 WHERE batch_id = ? AND run_id = ? AND settled = 0",
      at,
      batchId,
      runId,
    ).rowsWritten;
    if (claimed > 0) this.noteProgress(runId, at);
    return claimed > 0;
  }

  /** The consumer will attempt the batch again in `waitSeconds` (backoff, Retry-After or a rate-limit wait). */
  noteWait(runId: string, batchId: string, waitSeconds: number, at = Date.now()): void {
    this.sql.exec(
      "UPDATE batches SET attempting = 0, sign_at = ?, wait_s = ? WHERE batch_id = ? AND run_id = ?",
      at,
      Math.max(0, Math.ceil(waitSeconds)),
      batchId,
      runId,
    );
    this.noteProgress(runId, at);
  }

  /** Open batches of the run with their last sign, oldest first. */
  openBatchList(runId: string): OpenBatch[] {
    return this.sql
      .exec<OpenBatch>(
        `SELECT batch_id AS batchId, partition, first_op AS firstOp, last_op AS lastOp, sign_at AS signAt, wait_s AS waitSeconds
         FROM batches WHERE run_id = ? AND settled = 0 ORDER BY sign_at`,
        runId,
      )
      .toArray();
  }

  /** Batches enqueued again: their clock restarts. */
  markResent(runId: string, batchIds: readonly string[], at = Date.now()): void {
    for (const id of batchIds) {
      this.sql.exec(
        "UPDATE batches SET sign_at = ?, wait_s = 0, attempting = 0, resends = resends + 1 WHERE batch_id = ? AND run_id = ?",
        at,
        id,
        runId,
      );
    }
  }

  /**
   * The run stops: every open batch the consumer is not attempting right now is settled as aborted
   * (never sent, or its next attempt will find it settled); returns how many stay open.
   */
  abortIdle(runId: string): number {
    this.sql.exec("UPDATE batches SET settled = 1, aborted = 1 WHERE run_id = ? AND settled = 0 AND attempting = 0", runId);
    return this.openBatches(runId);
  }

  /** Settles one open batch as aborted (never sent); false when it was not open. */
  abortBatch(runId: string, batchId: string): boolean {
    return (
      this.sql.exec("UPDATE batches SET settled = 1, aborted = 1 WHERE batch_id = ? AND run_id = ? AND settled = 0", batchId, runId)
        .rowsWritten > 0
    );
  }

  /** Records operations `firstOp..lastOp` of a partition as never sent (the run stopped before enqueueing them). */
  addUnsent(runId: string, partition: number, firstOp: number, lastOp: number): void {
    this.sql.exec(
      "INSERT OR IGNORE INTO batches (batch_id, run_id, partition, first_op, last_op, settled, aborted, sign_at) VALUES (?, ?, ?, ?, ?, 1, 1, ?)",
      `${runId}.${partition}.${firstOp}.unsent`,
      runId,
      partition,
      firstOp,
      lastOp,
      Date.now(),
    );
  }

  /** Notes that a batch failed because its retries ran out (the destination never answered it usefully). */
  markExhausted(runId: string, batchId: string): void {
    this.sql.exec("INSERT OR IGNORE INTO exhausted (batch_id, run_id) VALUES (?, ?)", batchId, runId);
  }

  /** Batches of the run that ran out of retries. */
  exhaustedCount(runId: string): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM exhausted WHERE run_id = ?", runId).one().n;
  }

  /** The first error the destination gave in this run, if any. */
  firstDeliveryError(runId: string): string | null {
    const rows = this.sql
      .exec<{ message: string }>("SELECT message FROM failures WHERE run_id = ? AND step = 'deliver' ORDER BY seq LIMIT 1", runId)
      .toArray();
    return rows[0]?.message ?? null;
  }

  /**
   * Records a batch about to be enqueued: operations `firstOp..lastOp` of the partition's plan
   * (batches are contiguous runs of the plan). A repeat (step retried) is ignored.
   */
  addBatch(runId: string, batchId: string, partition: number, firstOp: number, lastOp: number, at = Date.now()): void {
    this.sql.exec(
      "INSERT OR IGNORE INTO batches (batch_id, run_id, partition, first_op, last_op, sign_at) VALUES (?, ?, ?, ?, ?, ?)",
      batchId,
      runId,
      partition,
      firstOp,
      lastOp,
      at,
    );
  }

  /** The open batch `batchId` of the run, or undefined when it is settled or unknown. */
  pendingBatch(runId: string, batchId: string): { partition: number; firstOp: number; lastOp: number } | undefined {
    return this.sql
      .exec<{ partition: number; firstOp: number; lastOp: number }>(
        "SELECT partition, first_op AS firstOp, last_op AS lastOp FROM batches WHERE batch_id = ? AND run_id = ? AND settled = 0",
        batchId,
        runId,
      )
      .toArray()[0];
  }

  settle(batchId: string): void {
    this.sql.exec("UPDATE batches SET settled = 1 WHERE batch_id = ?", batchId);
  }

  /** Settles every open batch of the run as aborted: never sent, its operations fail at commit. */
  abortOpen(runId: string): void {
    this.sql.exec("UPDATE batches SET settled = 1, aborted = 1 WHERE run_id = ? AND settled = 0", runId);
  }

  /** Operation ranges of the partition's aborted batches. */
  abortedRanges(runId: string, partition: number): { firstOp: number; lastOp: number }[] {
    return this.sql
      .exec<{ firstOp: number; lastOp: number }>(
        "SELECT first_op AS firstOp, last_op AS lastOp FROM batches WHERE run_id = ? AND partition = ? AND aborted = 1",
        runId,
        partition,
      )
      .toArray();
  }

  noteError(batchId: string, error: string): void {
    this.sql.exec("UPDATE batches SET last_error = ? WHERE batch_id = ?", error.slice(0, 2000), batchId);
  }

  lastError(batchId: string): string | null {
    return (
      this.sql.exec<{ last_error: string | null }>("SELECT last_error FROM batches WHERE batch_id = ?", batchId).toArray()[0]?.last_error ??
      null
    );
  }

  /** Batches of the run not yet settled. */
  openBatches(runId: string): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM batches WHERE run_id = ? AND settled = 0", runId).one().n;
  }

  /** Records failed rows; `step` tags who found them (the diff, an abort, or the destination). */
  addFailures(runId: string, rows: readonly FailedRowRecord[], step: FailureStep = "deliver"): void {
    for (const r of rows) {
      this.sql.exec(
        "INSERT INTO failures (run_id, partition, key, operation, message, step) VALUES (?, ?, ?, ?, ?, ?)",
        runId,
        r.partition,
        r.key,
        r.operation,
        r.message.slice(0, 2000),
        step,
      );
    }
  }

  /** Drops failures of one partition recorded by a step (by message tag), so a retried step records them once. */
  clearStepFailures(runId: string, partition: number, step: "validate" | "abort"): void {
    this.sql.exec("DELETE FROM failures WHERE run_id = ? AND partition = ? AND step = ?", runId, partition, step);
  }

  /** Keys the destination failed in one partition, by who found them (`deliver` or `not_found`). */
  failedKeys(runId: string, partition: number): Map<string, FailureStep> {
    const out = new Map<string, FailureStep>();
    for (const row of this.sql.exec<{ key: string; step: FailureStep }>(
      "SELECT key, step FROM failures WHERE run_id = ? AND partition = ? AND step IN ('deliver', 'not_found') AND key IS NOT NULL",
      runId,
      partition,
    )) {
      out.set(row.key, row.step);
    }
    return out;
  }

  /** Failed rows of the run. */
  failureCount(runId: string): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM failures WHERE run_id = ?", runId).one().n;
  }

  /** A page of the run's failed rows after `afterSeq`, for copying into D1. */
  failurePage(runId: string, afterSeq: number, limit: number): (FailedRowRecord & { seq: number; step: FailureStep })[] {
    return this.sql
      .exec<{ seq: number; partition: number; key: string | null; operation: string; message: string; step: FailureStep }>(
        "SELECT seq, partition, key, operation, message, step FROM failures WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        runId,
        afterSeq,
        limit,
      )
      .toArray()
      .map((r) => ({ ...r, operation: r.operation as FailedRowRecord["operation"] }));
  }

  /** Batches of the run enqueued again because their reports were overdue. */
  resentCount(runId: string): number {
    return this.sql.exec<{ n: number }>("SELECT coalesce(sum(resends), 0) AS n FROM batches WHERE run_id = ?", runId).one().n;
  }

  /** Forgets a finished run. */
  clear(runId: string): void {
    this.sql.exec("DELETE FROM progress WHERE run_id = ?", runId);
    this.sql.exec("DELETE FROM batches WHERE run_id = ?", runId);
    this.sql.exec("DELETE FROM failures WHERE run_id = ?", runId);
    this.sql.exec("DELETE FROM exhausted WHERE run_id = ?", runId);
  }
}
