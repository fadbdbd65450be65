import type { OperationKind } from "../destinations/destination";

/** A row that did not reach the destination, and why. */
export interface FailedRowRecord {
  partition: number;
  key: string | null;
  operation: OperationKind | "validate";
  message: string;
}

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
  addBatch(runId: string, batchId: string, partition: number, firstOp: number, lastOp: number): void {
    this.sql.exec(
      "INSERT OR IGNORE INTO batches (batch_id, run_id, partition, first_op, last_op) VALUES (?, ?, ?, ?, ?)",
      batchId,
      runId,
      partition,
      firstOp,
      lastOp,
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
  addFailures(runId: string, rows: readonly FailedRowRecord[], step: "validate" | "abort" | "deliver" = "deliver"): void {
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

  /** Keys whose delivery failed in one partition, by operation. */
  failedKeys(runId: string, partition: number): Map<string, string> {
    const out = new Map<string, string>();
    for (const row of this.sql.exec<{ key: string; operation: string }>(
      "SELECT key, operation FROM failures WHERE run_id = ? AND partition = ? AND step = 'deliver' AND key IS NOT NULL",
      runId,
      partition,
    )) {
      out.set(row.key, row.operation);
    }
    return out;
  }

  /** Failed rows of the run. */
  failureCount(runId: string): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM failures WHERE run_id = ?", runId).one().n;
  }

  /** A page of the run's failed rows after `afterSeq`, for copying into D1. */
  failurePage(runId: string, afterSeq: number, limit: number): (FailedRowRecord & { seq: number })[] {
    return this.sql
      .exec<{ seq: number; partition: number; key: string | null; operation: string; message: string }>(
        "SELECT seq, partition, key, operation, message FROM failures WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        runId,
        afterSeq,
        limit,
      )
      .toArray()
      .map((r) => ({ ...r, operation: r.operation as FailedRowRecord["operation"] }));
  }

  /** Forgets a finished run. */
  clear(runId: string): void {
    this.sql.exec("DELETE FROM batches WHERE run_id = ?", runId);
    this.sql.exec("DELETE FROM failures WHERE run_id = ?", runId);
    this.sql.exec("DELETE FROM exhausted WHERE run_id = ?", runId);
  }
}
