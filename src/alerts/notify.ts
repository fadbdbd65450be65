/**
 * The alert effects: a sync's alert states in D1 (`sync_alert_states`, one row per open state) and
 * the fan-out of each alert to the sync's channels through the `alerts` queue. What to open and
 * close is decided by events.ts; here the row insert decides whether a state is new, so two
 * writers (the sync's object, the cron scan) never alert twice for one state.
 */
import { and, eq, inArray, sql } from "drizzle-orm";
import { createDb, type Database } from "../db/client";
import { alertChannels, syncAlertStates, syncRuns, syncs } from "../db/schema";
import { newId } from "../lib/ids";
import { log } from "../lib/log";
import { runFromRow, type RunRecord } from "../run/record";
import { type Alert, type AlertState, alertPayload, judgeRun, type Problem, recovery } from "./events";
import type { AlertMessage } from "./queue";
import { rulesOf } from "./rules";

/** What the alert code reads of a sync. */
export type AlertSync = Pick<typeof syncs.$inferSelect, "id" | "workspaceId" | "name" | "alerts">;

/** Opens `problems` and closes `ended` states of a sync; alerts each state that began and, when the last one ended, `recovered`. */
export async function applyStates(
  env: Env,
  db: Database,
  sync: AlertSync,
  run: RunRecord | null,
  problems: Problem[],
  ended: AlertState[],
) {
  const rules = rulesOf(sync.alerts);
  const now = new Date().toISOString();
  const alerts: Alert[] = [];
  for (const p of problems) {
    const inserted = await db
      .insert(syncAlertStates)
      .values({ syncId: sync.id, workspaceId: sync.workspaceId, event: p.event, openedAt: now })
      .onConflictDoNothing()
      .returning({ event: syncAlertStates.event });
    if (inserted.length > 0) alerts.push(p);
  }
  const openNow = new Set(problems.map((p) => p.event));
  const toClose = ended.filter((e) => !openNow.has(e));
  if (toClose.length > 0) {
    const closed = await db
      .delete(syncAlertStates)
      .where(and(eq(syncAlertStates.syncId, sync.id), inArray(syncAlertStates.event, toClose)))
      .returning({ event: syncAlertStates.event });
    const [left] = await db.select({ n: sql<number>`count(*)` }).from(syncAlertStates).where(eq(syncAlertStates.syncId, sync.id));
    const recovered = recovery(
      sync.name,
      closed.map((c) => c.event),
      left?.n ?? 0,
      rules,
    );
    if (recovered) alerts.push(recovered);
  }
  for (const alert of alerts) await fanOut(env, db, sync, run, alert);
}

/** Sends one alert to each of the sync's channels (its own, or the workspace's defaults) through the queue. */
async function fanOut(env: Env, db: Database, sync: AlertSync, run: RunRecord | null, alert: Alert): Promise<void> {
  const { channel_ids } = rulesOf(sync.alerts);
  const channels =
    channel_ids?.length === 0
      ? []
      : await db
          .select({ id: alertChannels.id })
          .from(alertChannels)
          .where(
            and(
              eq(alertChannels.workspaceId, sync.workspaceId),
              channel_ids === null ? eq(alertChannels.isDefault, true) : inArray(alertChannels.id, channel_ids),
            ),
          );
  log("alert", { sync_id: sync.id, event: alert.event, run_id: run?.id, channels: channels.length });
  if (channels.length === 0) return;
  const payload = alertPayload(alert.event, { id: sync.id, name: sync.name }, run, alert.message, env.CONSOLE_URL ?? "");
  const alertId = newId("alert");
  await env.ALERTS.sendBatch(
    channels.map((c): { body: AlertMessage } => ({
      body: { alert_id: alertId, channel_id: c.id, workspace_id: sync.workspaceId, payload },
    })),
  );
}

/** What a sync's object knows when a run has ended (and been written to D1). */
export interface RunEnded {
  run: RunRecord;
  /** The sync's status after the run. */
  status: string;
  /** Set when this run put the sync in `error`. */
  enteredError: { reason: string } | null;
}

/**
 * The one hook of the run engine: called by the sync's object after a run's end is in D1. Decides
 * the run's alerts and sends them; never throws (an alert must not fail a run).
 */
export async function noteRunEnded(env: Env, ended: RunEnded): Promise<void> {
  try {
    const db = createDb(env.DB);
    const sync = await db.query.syncs.findFirst({
      where: eq(syncs.id, ended.run.sync_id),
      columns: { id: true, workspaceId: true, name: true, alerts: true },
    });
    if (!sync) return;
    const verdict = judgeRun({
      run: ended.run,
      syncName: sync.name,
      rules: rulesOf(sync.alerts),
      status: ended.status,
      enteredError: ended.enteredError,
      lastGoodRows: await lastGoodRows(db, ended.run),
    });
    await applyStates(env, db, sync, ended.run, verdict.open, verdict.close);
  } catch (err) {
    log("alert_error", { sync_id: ended.run.sync_id, run_id: ended.run.id, error: String(err) }, "error");
  }
}

/** Rows read by the sync's last successful real run before `run`, or null. */
async function lastGoodRows(db: Database, run: RunRecord): Promise<number | null> {
  const rows = await db
    .select()
    .from(syncRuns)
    .where(and(eq(syncRuns.syncId, run.sync_id), inArray(syncRuns.status, ["succeeded", "partial"]), sql`${syncRuns.id} < ${run.id}`))
    .orderBy(sql`${syncRuns.id} desc`)
    .limit(20);
  const good = rows.map(runFromRow).find((r) => r.options.dry_run !== true);
  return good ? good.rows_processed : null;
}
