/**
 * Alerts end to end: runs of real syncs (the local warehouse, the fake webhook destination) fire
 * each event once per state change at local receivers (signatures verified), through the alerts
 * queue with its retries; the cron scan finds a late sync whose object is broken and a slow run.
 */
import { createScheduledController, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import type { AlertPayload } from "../../src/alerts/events";
import { api, expectStatus } from "../harness";
import { configureWebhook, customersTable, pg, runSync, stubOf, waitForRun, webhookSync } from "../harness/run";
import type { FakeState } from "../servers/alert-types";
import {
  answerPagerDuty,
  answerReceiver,
  configureSlack,
  pagerDutyChannel,
  pagerDutyState,
  receiverState,
  slackChannel,
  slackState,
  until,
  verifiedPayload,
  webhookChannel,
} from "./helpers";

/** The payloads an endpoint received (each signature checked), once `count` arrived and nothing more came for a while. */
async function alertsAt(channel: { endpoint: string; secret: string }, count: number): Promise<AlertPayload[]> {
  await until(
    () => receiverState(channel.endpoint),
    (s) => s.requests.filter((r) => r.status === 200).length >= count,
  );
  // Late duplicates would arrive within the queue's batch timeout (1 s).
  await new Promise((r) => setTimeout(r, 2500));
  const { requests } = await receiverState(channel.endpoint);
  return Promise.all(requests.filter((r) => r.status === 200).map((r) => verifiedPayload(r, channel.secret)));
}

/** Runs the Worker's Cron Trigger handler at `time`. */
async function cron(time = Date.now()): Promise<void> {
  await worker.scheduled(createScheduledController({ scheduledTime: time, cron: "* * * * *" }), env);
}

const okCount = (s: FakeState) => s.requests.filter((r) => r.status === 200 || r.status === 202).length;

describe("alerts fired by runs", () => {
  it("a sync failing again and again alerts run_failed once and sync_error once, then recovered once, on every channel", async () => {
    const hook = await webhookChannel();
    const slack = await slackChannel();
    const pd = await pagerDutyChannel();
    // Retried by the queue: two 503s, then accepted. Refusing: a 400 is not retried.
    const flaky = await webhookChannel();
    await answerReceiver(flaky.endpoint, [{ status: 503, body: "busy", times: 2 }]);
    const refusing = await webhookChannel();
    await answerReceiver(refusing.endpoint, [{ status: 400, body: "no such hook", times: 100 }]);

    // Slack and PagerDuty throttle the first alert (429, Slack with Retry-After: 1): the queue sends it again.
    await configureSlack(slack.hook, { answers: [{ status: 429, body: "rate_limited", retry_after: "1" }] });
    await answerPagerDuty(pd.routingKey, [{ status: 429 }]);

    const table = await customersTable(10);
    const channel_ids = [hook.id, slack.id, pd.id, flaky.id, refusing.id];
    const { syncId } = await webhookSync(table, "upsert", { sync: { alerts: { channel_ids } } });
    expect((await runSync(syncId)).status).toBe("succeeded");

    // The model's table disappears: every run fails; the third in a row puts the sync in error.
    await pg(`ALTER TABLE ${table} RENAME TO ${table}_gone`);
    const failed = [];
    for (let i = 0; i < 5; i++) failed.push(await runSync(syncId));
    expect(failed.map((r) => r.status)).toEqual(["failed", "failed", "failed", "failed", "failed"]);
    expect((await api.get(`/api/v1/syncs/${syncId}`)).body.status).toBe("error");

    // Fixed, but still in error: the failure ended, the error state not yet.
    await pg(`ALTER TABLE ${table}_gone RENAME TO ${table}`);
    expect((await runSync(syncId)).status).toBe("succeeded");
    expectStatus(await api.post(`/api/v1/syncs/${syncId}/resume`), 200);
    expect((await runSync(syncId)).status).toBe("succeeded");
    expect((await runSync(syncId)).status).toBe("succeeded");

    const payloads = await alertsAt(hook, 3);
    expect(payloads.map((p) => p.event)).toEqual(["run_failed", "sync_error", "recovered"]);
    const [first, error, recovered] = payloads;
    expect(first?.run?.id).toBe(failed[0]?.id);
    expect(first?.run?.status).toBe("failed");
    expect(first?.sync).toEqual({ id: syncId, name: `sync ${table}` });
    expect(first?.message).toContain("does not exist");
    expect(first?.console_url).toBe(`http://127.0.0.1:8787/#/syncs/${syncId}/runs/${failed[0]?.id}`);
    expect(error?.run?.id).toBe(failed[2]?.id);
    expect(error?.message).toContain("3 consecutive runs failed");
    expect(recovered?.message).toContain("healthy again");

    // Slack: the same three, as Block Kit messages the fake accepted (a 429 is retried after its Retry-After).
    const slackMessages = await until(
      () => slackState(slack.hook),
      (s) => okCount(s) >= 3,
    );
    // The throttled alert came again after its Retry-After (a later alert may have gone first meanwhile).
    const [throttled] = slackMessages.requests;
    expect(throttled?.status).toBe(429);
    const retried = slackMessages.requests.find((r) => r.status === 200 && r.raw === throttled?.raw);
    expect((retried?.at ?? 0) - (throttled?.at ?? 0)).toBeGreaterThanOrEqual(1000);
    const titles = slackMessages.requests
      .filter((r) => r.status === 200)
      .map((r) => (JSON.parse(r.raw) as { text: string }).text.split(":")[0]);
    expect(titles.sort()).toEqual(["Recovered", "Run failed", "Sync in error"]);
    expect(slackMessages.requests.length).toBe(4);

    // PagerDuty: one incident per sync, triggered twice, then resolved.
    const incident = await until(
      () => pagerDutyState(pd.routingKey),
      (s) => s.alerts[`retl-${syncId}`]?.status === "resolved",
    );
    expect(incident.requests.map((r) => [r.status, JSON.parse(r.raw).event_action])).toEqual([
      [429, "trigger"],
      [202, "trigger"],
      [202, "trigger"],
      [202, "resolve"],
    ]);
    expect(incident.alerts[`retl-${syncId}`]).toMatchObject({ status: "resolved", severity: "error", events: 3 });

    // Retries: the flaky channel's two 503s were answered to attempts that the queue retried under the
    // same Idempotency-Key (the alert's id) until accepted: three alerts, each accepted once.
    const flakyState = await until(
      () => receiverState(flaky.endpoint),
      (s) => s.requests.length >= 5,
    );
    const byAlert = new Map<string, number[]>();
    for (const r of flakyState.requests)
      byAlert.set(r.headers["idempotency-key"] ?? "", [...(byAlert.get(r.headers["idempotency-key"] ?? "") ?? []), r.status]);
    expect(byAlert.size).toBe(3);
    expect([...byAlert.values()].map((statuses) => statuses.filter((s) => s === 200).length)).toEqual([1, 1, 1]);
    expect([...byAlert.values()].map((statuses) => statuses.at(-1))).toEqual([200, 200, 200]);
    expect(flakyState.requests.filter((r) => r.status === 503).length).toBe(2);
    const flakyChannel = (await api.get(`/api/v1/alert-channels/${flaky.id}`)).body;
    expect(flakyChannel.last_error).toBeNull();
    expect(flakyChannel.last_sent_at).not.toBeNull();

    // A refusal is not retried and shows as the channel's last_error.
    const refused = await until(
      () => receiverState(refusing.endpoint),
      (s) => s.requests.length >= 3,
    );
    expect(refused.requests.map((r) => r.status)).toEqual([400, 400, 400]);
    const refusingChannel = (await api.get(`/api/v1/alert-channels/${refusing.id}`)).body;
    expect(refusingChannel.last_error).toBe("HTTP 400: no such hook");
    expect(refusingChannel.last_sent_at).toBeNull();
  });

  it("rows_failed and row_count_change alert once per state change and recover", async () => {
    const hook = await webhookChannel();
    const table = await customersTable(40);
    const { syncId, endpoint } = await webhookSync(table, "upsert", {
      sync: { alerts: { channel_ids: [hook.id], rows_failed_pct: 5, row_count_change_pct: 50 } },
    });
    // 3 of 40 rows (7.5%) refused, twice: one alert.
    await configureWebhook(endpoint, { fail_keys: { "1": "bad email", "2": "bad email", "3": "bad email" } });
    expect((await runSync(syncId)).status).toBe("partial");
    expect((await runSync(syncId)).status).toBe("partial");
    await configureWebhook(endpoint, {});
    expect((await runSync(syncId)).status).toBe("succeeded");
    // The model loses three quarters of its rows (an upsert sync deletes nothing): one alert, then recovery.
    await pg(`DELETE FROM ${table} WHERE id::int > 10`);
    expect((await runSync(syncId)).rows_processed).toBe(10);
    expect((await runSync(syncId)).status).toBe("succeeded");

    const payloads = await alertsAt(hook, 4);
    expect(payloads.map((p) => p.event)).toEqual(["rows_failed", "recovered", "row_count_change", "recovered"]);
    expect(payloads[0]?.message).toContain("3 of 40 rows (7.5%)");
    expect(payloads[2]?.message).toContain("the model returned 10 rows");
    expect(payloads[2]?.message).toContain("75% fewer than the 40");
  });

  it("a sync without its own alerts alerts the workspace's default channels", async () => {
    const hook = await webhookChannel({ default: true });
    const other = await webhookChannel();
    const table = await customersTable(5);
    const { syncId } = await webhookSync(table, "upsert");
    // `channel_ids: []` alerts nobody, not even the defaults.
    const silent = await webhookSync(table, "upsert", { sync: { alerts: { channel_ids: [] } } });
    await pg(`DROP TABLE ${table}`);
    expect((await runSync(syncId)).status).toBe("failed");
    expect((await runSync(silent.syncId)).status).toBe("failed");
    const alerts = await alertsAt(hook, 1);
    expect(alerts.length).toBe(1);
    const [payload] = alerts;
    expect(payload?.event).toBe("run_failed");
    expect(payload?.sync?.id).toBe(syncId);
    expect((await receiverState(other.endpoint)).requests).toEqual([]);
    expectStatus(await api.put(`/api/v1/alert-channels/${hook.id}`, { body: { default: false } }), 200);
  });
});

describe("alerts found by the cron scan", () => {
  it("late fires for a sync whose object is broken, once, and recovered when it runs on time again", async () => {
    const hook = await webhookChannel();
    const table = await customersTable(5);
    const { syncId } = await webhookSync(table, "upsert", {
      sync: { schedule: { type: "interval", interval_minutes: 60 }, alerts: { channel_ids: [hook.id], late_minutes: 30 } },
    });
    // The object breaks: its alarm is gone and its storage wiped, so it never runs the tick due 45 minutes ago.
    await runInDurableObject(stubOf(syncId), async (_instance, state) => {
      await state.storage.deleteAlarm();
      await state.storage.deleteAll();
    });
    const due = new Date(Date.now() - 45 * 60_000).toISOString();
    await env.DB.prepare("UPDATE syncs SET next_run_at = ? WHERE id = ?").bind(due, syncId).run();

    await cron();
    await cron();
    const [late] = await alertsAt(hook, 1);
    expect(late).toMatchObject({ event: "late", sync: { id: syncId }, run: null });
    expect(late?.message).toContain(`the run due at ${due} has not started 45 minutes later`);
    expect((await receiverState(hook.endpoint)).requests.length).toBe(1);

    // Its schedule moves on again (the object repaired): the next scan ends the state.
    await env.DB.prepare("UPDATE syncs SET next_run_at = ? WHERE id = ?")
      .bind(new Date(Date.now() + 86_400_000).toISOString(), syncId)
      .run();
    await cron();
    expect((await alertsAt(hook, 2)).map((p) => p.event)).toEqual(["late", "recovered"]);
    expectStatus(await api.delete(`/api/v1/syncs/${syncId}?permanent=true`), 204);
  });

  it("slow fires for a run running past max_duration_minutes, once, and recovered when it ends", async () => {
    const hook = await webhookChannel();
    const table = await customersTable(5);
    const { syncId, endpoint } = await webhookSync(table, "upsert", {
      sync: { alerts: { channel_ids: [hook.id], max_duration_minutes: 120, late_minutes: null } },
    });
    // The destination holds each batch 3 s: the run is still running when the scan looks, "3 hours later".
    await configureWebhook(endpoint, { delay_ms: 3000 });
    const trigger = await api.post(`/api/v1/syncs/${syncId}/trigger`);
    expectStatus(trigger, 202);
    await runDurableObjectAlarm(stubOf(syncId));
    expect((await api.get(`/api/v1/syncs/${syncId}/runs/${trigger.body.id}`)).body.status).toBe("running");
    await cron(Date.now() + 3 * 3_600_000);
    await cron(Date.now() + 3 * 3_600_000);
    const [slow] = await alertsAt(hook, 1);
    expect(slow).toMatchObject({ event: "slow", run: { id: trigger.body.id, status: "running" } });
    expect(slow?.message).toMatch(/has been running for 1[89]\d minutes \(threshold 120 minutes\)/);
    expect((await waitForRun(syncId, trigger.body.id)).status).toBe("succeeded");
    expect((await alertsAt(hook, 2)).map((p) => p.event)).toEqual(["slow", "recovered"]);
  });
});
