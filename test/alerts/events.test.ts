/** The pure alert decisions (src/alerts/events.ts): which states a run begins and ends, late, slow, recovery, payload. */
import { describe, expect, it } from "vitest";
import { alertPayload, type FinishedRun, judgeRun, lateness, recovery, slowness } from "../../src/alerts/events";
import { DEFAULT_ALERT_RULES, rulesOf } from "../../src/alerts/rules";
import type { RunRecord } from "../../src/run/record";

const run = (over: Partial<RunRecord> = {}): RunRecord => ({
  id: "run_1",
  sync_id: "syn_1",
  workspace_id: "wsp_1",
  status: "succeeded",
  trigger: "schedule",
  phase: "done",
  progress: { rows_read: 100, partitions: 1 },
  options: {},
  started_at: "2026-12-01T10:00:00.000Z",
  finished_at: "2026-12-01T10:01:00.000Z",
  duration_ms: 60_000,
  rows_processed: 100,
  rows_created: 0,
  rows_updated: 0,
  rows_deleted: 0,
  rows_unchanged: 100,
  rows_failed: 0,
  error: null,
  created_at: "2026-12-01T10:00:00.000Z",
  ...over,
});

const finished = (over: Partial<FinishedRun> = {}): FinishedRun => ({
  run: run(),
  syncName: "customers",
  rules: rulesOf(null),
  status: "active",
  enteredError: null,
  lastGoodRows: 100,
  ...over,
});

const events = (v: { open: { event: string }[] }) => v.open.map((p) => p.event);

describe("judgeRun", () => {
  it("opens run_failed for a failed run and closes nothing it does not know ended", () => {
    const v = judgeRun(finished({ run: run({ status: "failed", error: { code: "source_error", message: "relation does not exist" } }) }));
    expect(events(v)).toEqual(["run_failed"]);
    expect(v.open[0]?.message).toContain("relation does not exist");
    expect(v.close).toEqual(["late", "slow"]);
  });

  it("a successful run ends run_failed, rows_failed and, once the sync left error, sync_error", () => {
    expect(judgeRun(finished()).close).toEqual(["late", "slow", "run_failed", "sync_error", "rows_failed"]);
    // Still in error (a manual run of a sync in error): sync_error stays open.
    expect(judgeRun(finished({ status: "error" })).close).not.toContain("sync_error");
  });

  it("opens sync_error when the run put the sync in error, unless the rules turn it off", () => {
    const failed = run({ status: "failed", error: { code: "auth_failed", message: "refused" } });
    expect(events(judgeRun(finished({ run: failed, status: "error", enteredError: { reason: "authentication failed" } })))).toEqual([
      "sync_error",
      "run_failed",
    ]);
    const quiet = { ...DEFAULT_ALERT_RULES, on_error_state: false, on_failure: false };
    expect(events(judgeRun(finished({ run: failed, rules: quiet, status: "error", enteredError: { reason: "x" } })))).toEqual([]);
  });

  it("opens rows_failed only over the threshold", () => {
    const rules = { ...DEFAULT_ALERT_RULES, rows_failed_pct: 5 };
    const at5 = judgeRun(finished({ rules, run: run({ status: "partial", rows_failed: 5 }) }));
    expect(events(at5)).toEqual([]);
    expect(at5.close).toContain("rows_failed");
    const over = judgeRun(finished({ rules, run: run({ status: "partial", rows_failed: 6 }) }));
    expect(events(over)).toEqual(["rows_failed"]);
    expect(over.open[0]?.message).toContain("6 of 100 rows (6%)");
    expect(over.close).not.toContain("rows_failed");
  });

  it("opens row_count_change against the last successful run, both ways, and from zero", () => {
    const rules = { ...DEFAULT_ALERT_RULES, row_count_change_pct: 50 };
    expect(events(judgeRun(finished({ rules, run: run({ rows_processed: 49 }) })))).toEqual(["row_count_change"]);
    expect(judgeRun(finished({ rules, run: run({ rows_processed: 49 }) })).open[0]?.message).toContain("51% fewer");
    expect(events(judgeRun(finished({ rules, run: run({ rows_processed: 151 }) })))).toEqual(["row_count_change"]);
    expect(events(judgeRun(finished({ rules, run: run({ rows_processed: 150 }) })))).toEqual([]);
    expect(judgeRun(finished({ rules, run: run({ rows_processed: 150 }) })).close).toContain("row_count_change");
    expect(events(judgeRun(finished({ rules, lastGoodRows: 0, run: run({ rows_processed: 3 }) })))).toEqual(["row_count_change"]);
    // No earlier successful run: nothing to compare with.
    expect(events(judgeRun(finished({ rules, lastGoodRows: null, run: run({ rows_processed: 1 }) })))).toEqual([]);
  });

  it("counts the row count of a failed run only when it read the whole model (the mass-delete guard)", () => {
    const rules = { ...DEFAULT_ALERT_RULES, row_count_change_pct: 50 };
    const blocked = run({
      status: "failed",
      rows_processed: 0,
      progress: { partitions: 1 },
      error: { code: "mass_delete_blocked", message: "m" },
    });
    expect(events(judgeRun(finished({ rules, run: blocked })))).toEqual(["run_failed", "row_count_change"]);
    const unread = run({ status: "failed", rows_processed: 0, progress: {}, error: { code: "source_error", message: "m" } });
    expect(events(judgeRun(finished({ rules, run: unread })))).toEqual(["run_failed"]);
  });

  it("ignores cancelled runs and dry runs but for sync_error", () => {
    expect(judgeRun(finished({ run: run({ status: "cancelled" }) }))).toEqual({ open: [], close: ["late", "slow"] });
    const dry = run({ status: "failed", options: { dry_run: true }, error: { code: "x", message: "y" } });
    expect(events(judgeRun(finished({ run: dry, status: "error", enteredError: { reason: "3 failed" } })))).toEqual(["sync_error"]);
  });
});

describe("lateness and slowness", () => {
  const now = Date.parse("2026-12-01T12:00:00.000Z");
  it("is late from late_minutes after the due time, not before, and never when off", () => {
    const rules = { ...DEFAULT_ALERT_RULES, late_minutes: 30 };
    expect(lateness("2026-12-01T11:31:00.000Z", rules, now)).toBeNull();
    expect(lateness("2026-12-01T11:30:00.000Z", rules, now)?.message).toContain("30 minutes later");
    expect(lateness("2026-12-01T11:30:00.000Z", { ...rules, late_minutes: null }, now)).toBeNull();
    expect(lateness(null, rules, now)).toBeNull();
  });
  it("is slow from max_duration_minutes of running", () => {
    const rules = { ...DEFAULT_ALERT_RULES, max_duration_minutes: 120 };
    expect(slowness({ id: "run_1", started_at: "2026-12-01T10:01:00.000Z" }, rules, now)).toBeNull();
    expect(slowness({ id: "run_1", started_at: "2026-12-01T10:00:00.000Z" }, rules, now)?.event).toBe("slow");
    expect(slowness({ id: "run_1", started_at: "2026-12-01T00:00:00.000Z" }, DEFAULT_ALERT_RULES, now)).toBeNull();
  });
});

describe("recovery", () => {
  it("fires only when states ended and none is left, and when the rules want it", () => {
    expect(recovery("s", ["run_failed"], 0, DEFAULT_ALERT_RULES)?.event).toBe("recovered");
    expect(recovery("s", ["run_failed"], 1, DEFAULT_ALERT_RULES)).toBeNull();
    expect(recovery("s", [], 0, DEFAULT_ALERT_RULES)).toBeNull();
    expect(recovery("s", ["late"], 0, { ...DEFAULT_ALERT_RULES, on_recovery: false })).toBeNull();
  });
});

describe("alertPayload", () => {
  it("carries the run as the API shows it and a console link to it", () => {
    const p = alertPayload("run_failed", { id: "syn_1", name: "customers" }, run(), "m", "https://retl.example.com/", new Date(0));
    expect(p).toMatchObject({
      event: "run_failed",
      sync: { id: "syn_1", name: "customers" },
      message: "m",
      occurred_at: "1970-01-01T00:00:00.000Z",
    });
    expect(p.console_url).toBe("https://retl.example.com/#/syncs/syn_1/runs/run_1");
    expect(p.run && "workspace_id" in p.run).toBe(false);
    expect(alertPayload("late", { id: "syn_1", name: "c" }, null, "m", "https://x.example.com").console_url).toBe(
      "https://x.example.com/#/syncs/syn_1",
    );
  });
});
