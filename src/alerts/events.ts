/**
 * What fires an alert, decided without I/O: the problems a finished run shows, whether a sync is
 * late or a run slow, when the end of its problems is a recovery, and the payload every channel
 * gets. The effects (D1 states, the queue) are in notify.ts.
 */
import type { RunRecord } from "../run/record";
import type { AlertRules } from "./rules";

const ALERT_EVENTS = ["run_failed", "sync_error", "rows_failed", "row_count_change", "late", "slow", "recovered", "test"] as const;
export type AlertEvent = (typeof ALERT_EVENTS)[number];

/** The events that are states of a sync: each alerts once when it begins; `recovered` when the last one ends. */
export type AlertState = Exclude<AlertEvent, "recovered" | "test">;

/** An alert to send: its event and what it says. */
export interface Alert {
  event: AlertEvent;
  message: string;
}

/** A state that begins, with what its alert says. */
export interface Problem extends Alert {
  event: AlertState;
}

/** What a finished run changes: states that begin (alerted if new) and states that end. */
export interface RunVerdict {
  open: Problem[];
  close: AlertState[];
}

/** What {@link judgeRun} reads. */
export interface FinishedRun {
  run: RunRecord;
  syncName: string;
  rules: AlertRules;
  /** The sync's status after the run. */
  status: string;
  /** The run put the sync in `error` (with this reason). */
  enteredError: { reason: string } | null;
  /** Rows read by the last successful run before this one; null when there is none. */
  lastGoodRows: number | null;
}

const pct = (part: number, whole: number) => (whole === 0 ? 0 : (part / whole) * 100);
const round = (n: number) => Math.round(n * 10) / 10;

/**
 * The states a finished run begins and ends. A run that ended, whatever its outcome, is neither
 * late nor slow any more; a run that succeeded (or failed only some rows) ends `run_failed`, and
 * `sync_error` once the sync has left `error`. A cancelled run or a dry run says nothing about the
 * sync's health, except that it may still have put the sync in `error`.
 */
export function judgeRun(f: FinishedRun): RunVerdict {
  const { run, rules } = f;
  const open: Problem[] = [];
  const close: AlertState[] = ["late", "slow"];
  if (f.enteredError && rules.on_error_state) {
    open.push({
      event: "sync_error",
      message: `sync "${f.syncName}" entered error: ${f.enteredError.reason}; its schedule is stopped until it is resumed`,
    });
  }
  if (run.status === "cancelled" || run.options.dry_run === true) return { open, close };

  if (run.status === "failed") {
    if (rules.on_failure) {
      open.push({ event: "run_failed", message: `run ${run.id} of sync "${f.syncName}" failed: ${run.error?.message ?? "unknown error"}` });
    }
  } else {
    close.push("run_failed");
    if (f.status !== "error") close.push("sync_error");
  }

  const failedPct = pct(run.rows_failed, run.rows_processed);
  if (run.status !== "failed" && rules.rows_failed_pct !== null && run.rows_failed > 0 && failedPct > rules.rows_failed_pct) {
    open.push({
      event: "rows_failed",
      message: `${run.rows_failed} of ${run.rows_processed} rows (${round(failedPct)}%) of run ${run.id} failed, over the ${rules.rows_failed_pct}% threshold`,
    });
  } else if (run.status !== "failed") close.push("rows_failed");

  // A failed run counts only if it read the whole model (a mirror run stopped by the mass-delete guard).
  const modelRead = run.status !== "failed" || typeof run.progress.partitions === "number";
  if (modelRead && rules.row_count_change_pct !== null && f.lastGoodRows !== null) {
    const rows = run.rows_processed;
    const change =
      f.lastGoodRows === 0 ? (rows === 0 ? 0 : Number.POSITIVE_INFINITY) : pct(Math.abs(rows - f.lastGoodRows), f.lastGoodRows);
    if (change > rules.row_count_change_pct) {
      const how = Number.isFinite(change) ? `${round(change)}% ${rows < f.lastGoodRows ? "fewer" : "more"}` : "rows where there were none";
      open.push({
        event: "row_count_change",
        message: `the model returned ${rows} rows in run ${run.id}, ${how} than the ${f.lastGoodRows} of the last successful run (threshold ${rules.row_count_change_pct}%)`,
      });
    } else close.push("row_count_change");
  }
  return { open, close };
}

/** A scheduled run not started `late_minutes` after it was due; null when not late (or not watched). */
export function lateness(nextRunAt: string | null, rules: AlertRules, now: number): Problem | null {
  if (rules.late_minutes === null || nextRunAt === null) return null;
  const due = Date.parse(nextRunAt);
  const minutes = Math.floor((now - due) / 60_000);
  if (Number.isNaN(due) || minutes < rules.late_minutes) return null;
  return {
    event: "late",
    message: `the run due at ${nextRunAt} has not started ${minutes} minutes later (threshold ${rules.late_minutes} minutes)`,
  };
}

/** A run running past `max_duration_minutes`; null when not slow (or not watched). */
export function slowness(run: Pick<RunRecord, "id" | "started_at">, rules: AlertRules, now: number): Problem | null {
  if (rules.max_duration_minutes === null || run.started_at === null) return null;
  const minutes = Math.floor((now - Date.parse(run.started_at)) / 60_000);
  if (Number.isNaN(minutes) || minutes < rules.max_duration_minutes) return null;
  return {
    event: "slow",
    message: `run ${run.id} has been running for ${minutes} minutes (threshold ${rules.max_duration_minutes} minutes)`,
  };
}

/**
 * `recovered` when states ended and none is left open: a sync failing every 5 minutes then
 * succeeding alerts twice in all. Null otherwise.
 */
export function recovery(syncName: string, ended: readonly string[], stillOpen: number, rules: AlertRules): Alert | null {
  if (!rules.on_recovery || ended.length === 0 || stillOpen > 0) return null;
  return { event: "recovered", message: `sync "${syncName}" is healthy again (ended: ${ended.join(", ")})` };
}

/** The JSON every channel gets (a webhook's body; Slack, email and PagerDuty render it). */
export interface AlertPayload {
  event: AlertEvent;
  sync: { id: string; name: string } | null;
  /** The run as the API returns it, or null. */
  run: Omit<RunRecord, "workspace_id"> | null;
  message: string;
  occurred_at: string;
  console_url: string;
}

/** The payload of one alert. `consoleBase` is the console's origin (CONSOLE_URL). */
export function alertPayload(
  event: AlertEvent,
  sync: { id: string; name: string } | null,
  run: RunRecord | null,
  message: string,
  consoleBase: string,
  now = new Date(),
): AlertPayload {
  const base = consoleBase.replace(/\/+$/, "");
  const path = sync ? (run ? `#/syncs/${sync.id}/runs/${run.id}` : `#/syncs/${sync.id}`) : "#/alert-channels";
  // The run as the API shows it (src/routes/syncs/run-schema.ts serializeRun): no workspace id.
  const shown = run ? (({ workspace_id: _ws, ...rest }) => rest)(run) : null;
  return { event, sync, run: shown, message, occurred_at: now.toISOString(), console_url: `${base}/${path}` };
}
