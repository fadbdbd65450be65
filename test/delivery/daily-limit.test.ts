import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, expectStatus } from "../harness";
import { createDestination, createSync, customersTable, modelOf, runSync, stubOf, uniqueName, waitForRun } from "../harness/run";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";

/**
 * Salesforce's 403 REQUEST_LIMIT_EXCEEDED is the org's rolling 24-hour API allocation (issue 18):
 * retrying in seconds cannot help, so batches wait (until Sforce-Limit-Info shows room, else an
 * hour) without spending their retries, and the sync says why it waits.
 */
const ROWS = 30;
const BATCH = 10;
const SF_FIELDS = { email: "Email", name: "LastName", plan: "Plan__c", score: "Score__c" };
const LIMIT_EXCEEDED = [{ message: "TotalRequests Limit exceeded.", errorCode: "REQUEST_LIMIT_EXCEEDED" }];

interface OrgState {
  records: Record<string, unknown[]>;
  requests: { status: number }[];
}

async function org(config: Record<string, unknown>) {
  const base = `${env.SALESFORCE_URL}/t/${uniqueName("org")}`;
  const res = await fetch(`${base}/_config`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(config),
  });
  expect(res.status).toBe(200);
  await res.body?.cancel();
  const destinationId = await createDestination({
    type: "salesforce",
    config: { instance_url: base, object: "Contact", external_id_field: "External_Id__c", batch_size: BATCH },
    credentials: { access_token: "sf-test-token" },
  });
  const state = async () => (await (await fetch(`${base}/_state`)).json()) as OrgState;
  return { destinationId, state };
}

describe("Salesforce's daily API limit", () => {
  it.concurrent("batches wait while Sforce-Limit-Info shows room again, without spending retries: more refusals than retries, nothing lost", async () => {
    // 30 refusals over 3 batches: at least one batch is refused 10 times, more than the queue's 8 retries.
    const { destinationId, state } = await org({
      faults: [{ status: 403, body: LIMIT_EXCEEDED, headers: { "sforce-limit-info": "api-usage=99990/100000" }, times: 30 }],
    });
    const syncId = await createSync(await modelOf(await customersTable(ROWS)), destinationId, "upsert", SF_FIELDS);
    const run = await runSync(syncId);
    expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_created: ROWS, rows_failed: 0 });
    expect(run.progress).not.toHaveProperty("destination_wait_until");
    const seen = await state();
    expect(seen.requests.filter((r) => r.status === 403)).toHaveLength(30);
    expect(seen.records.Contact).toHaveLength(ROWS);
    // The wait's reason is gone once its batches landed.
    const sync = await api.get(`/api/v1/syncs/${syncId}`);
    expect(sync.body.status_reason, JSON.stringify(sync.body)).toBeNull();
  }, 90_000);

  it.concurrent("at the limit (no room in Sforce-Limit-Info): the batches wait an hour, the run shows until when, the sync says why", async () => {
    const { destinationId, state } = await org({ daily_limit: { max: 15_000, used: 15_000 } });
    const syncId = await createSync(await modelOf(await customersTable(ROWS)), destinationId, "upsert", SF_FIELDS);
    const trigger = await api.post(`/api/v1/syncs/${syncId}/trigger`, {});
    expectStatus(trigger, 202);
    const started = Date.now();

    let reason: string | null = null;
    while (reason === null && Date.now() - started < 30_000) {
      await runDurableObjectAlarm(stubOf(syncId));
      reason = (await api.get(`/api/v1/syncs/${syncId}`)).body.status_reason;
      if (reason === null) await new Promise((r) => setTimeout(r, 200));
    }
    expect(reason).toMatch(
      /^waiting for the destination: HTTP 403: REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded\.; the next attempt is at \d{4}-\d\d-\d\dT/,
    );
    const run = (await api.get(`/api/v1/syncs/${syncId}/runs/${trigger.body.id}`)).body;
    expect(run, JSON.stringify(run)).toMatchObject({ status: "running", rows_failed: 0 });
    const until = run.progress.destination_wait_until ?? 0;
    expect(until - started, JSON.stringify(run)).toBeGreaterThan(3500_000);
    expect(until - started, JSON.stringify(run)).toBeLessThan(3700_000);

    // The limiter holds every batch of the destination: no more refused calls while the org is at its limit.
    const refused = (await state()).requests.filter((r) => r.status === 403).length;
    expect(refused).toBeGreaterThan(0);
    expect(refused).toBeLessThanOrEqual(ROWS / BATCH);
    await new Promise((r) => setTimeout(r, 3000));
    expect((await state()).requests.filter((r) => r.status === 403)).toHaveLength(refused);
    // Not a failure: the run is still waiting, nothing failed, the sync is not in error.
    await expect(waitForRun(syncId, trigger.body.id, { timeoutMs: 1500 })).rejects.toThrow(/not final/);
    const sync = (await api.get(`/api/v1/syncs/${syncId}`)).body;
    expect(sync.status).not.toBe("error");
  }, 90_000);

  it.concurrent("a run whose time limit passes while its batches wait for the daily limit fails with destination_daily_limit", async () => {
    const { destinationId } = await org({ daily_limit: { max: 15_000, used: 15_000 } });
    const syncId = await createSync(await modelOf(await customersTable(ROWS)), destinationId, "upsert", SF_FIELDS);
    expectStatus(await api.put(`/api/v1/syncs/${syncId}`, { body: { max_run_minutes: 1 } }), 200);
    const trigger = await api.post(`/api/v1/syncs/${syncId}/trigger`, {});
    expectStatus(trigger, 202);
    const runId = trigger.body.id;
    const started = Date.now();
    let waiting = false;
    while (!waiting && Date.now() - started < 30_000) {
      await runDurableObjectAlarm(stubOf(syncId));
      waiting = (await api.get(`/api/v1/syncs/${syncId}/runs/${runId}`)).body.progress.destination_wait_until !== undefined;
      if (!waiting) await new Promise((r) => setTimeout(r, 200));
    }
    expect(waiting, "the run waits for the daily limit").toBe(true);
    // The clock, moved past the limit: the run started 3 minutes ago.
    await runInDurableObject(stubOf(syncId), (instance) => {
      const current = (instance as unknown as { state?: { current: { id: string; started_at: string | null } | null } }).state?.current;
      if (current?.id === runId) current.started_at = new Date(Date.now() - 3 * 60_000).toISOString();
    });
    await runDurableObjectAlarm(stubOf(syncId));
    const run = await waitForRun(syncId, runId);
    expect(run, JSON.stringify(run)).toMatchObject({ status: "failed", error: { code: "destination_daily_limit" }, rows_created: 0 });
    expect(run.error?.message).toMatch(/time limit of 1 minute .*daily API limit/);
  }, 90_000);
});
