/**
 * The cron scan (a Worker Cron Trigger, every minute): `late` for syncs whose scheduled run has
 * not started `late_minutes` after it was due, `slow` for runs running past
 * `max_duration_minutes`. It reads D1 only, never a sync's object: a broken object (its alarm
 * never fires) cannot report itself, but it leaves `next_run_at` in the past, which is found here.
 */
import { and, eq, inArray, isNotNull, lt, or } from "drizzle-orm";
import { createDb } from "../db/client";
import { syncAlertStates, syncRuns, syncs } from "../db/schema";
import { log } from "../lib/log";
import { runFromRow } from "../run/record";
import { lateness, slowness } from "./events";
import { applyStates } from "./notify";
import { rulesOf } from "./rules";

/** Syncs looked at per scan (the most overdue first). */
const SCAN_LIMIT = 500;

export async function scanAlerts(env: Env, now: number): Promise<{ late: number; slow: number }> {
  const db = createDb(env.DB);
  const iso = new Date(now).toISOString();
  const counts = { late: 0, slow: 0 };

  // Overdue syncs that should run on schedule, and syncs marked late (to close it once they run again).
  const markedLate = db.select({ id: syncAlertStates.syncId }).from(syncAlertStates).where(eq(syncAlertStates.event, "late"));
  const candidates = await db
    .select({
      id: syncs.id,
      workspaceId: syncs.workspaceId,
      name: syncs.name,
      alerts: syncs.alerts,
      status: syncs.status,
      nextRunAt: syncs.nextRunAt,
    })
    .from(syncs)
    .where(
      or(
        and(inArray(syncs.status, ["created", "active"]), isNotNull(syncs.nextRunAt), lt(syncs.nextRunAt, iso)),
        inArray(syncs.id, markedLate),
      ),
    )
    .orderBy(syncs.nextRunAt)
    .limit(SCAN_LIMIT);
  for (const sync of candidates) {
    const scheduled = sync.status === "created" || sync.status === "active";
    const late = scheduled ? lateness(sync.nextRunAt, rulesOf(sync.alerts), now) : null;
    if (late) counts.late++;
    await applyStates(env, db, sync, null, late ? [late] : [], late ? [] : ["late"]);
  }

  const running = await db
    .select({ run: syncRuns, sync: { id: syncs.id, workspaceId: syncs.workspaceId, name: syncs.name, alerts: syncs.alerts } })
    .from(syncRuns)
    .innerJoin(syncs, eq(syncs.id, syncRuns.syncId))
    .where(and(eq(syncRuns.status, "running"), isNotNull(syncRuns.startedAt)))
    .limit(SCAN_LIMIT);
  for (const { run, sync } of running) {
    const record = runFromRow(run);
    const slow = slowness(record, rulesOf(sync.alerts), now);
    if (!slow) continue;
    counts.slow++;
    await applyStates(env, db, sync, record, [slow], []);
  }
  log("alert_scan", { at: iso, syncs: candidates.length, running: running.length, ...counts });
  return counts;
}
