import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, expectStatus } from "../harness";
import {
  configureWebhook,
  createDestination,
  createSync,
  customersTable,
  modelNow,
  modelOf,
  peakPerWindow,
  type Run,
  runErrors,
  runSync,
  uniqueName,
  WEBHOOK_FIELDS,
  webhookRows,
  webhookState,
  webhookUrl,
} from "../harness/run";

/** An interval-scheduled sync to `destination`, so "the schedule stops" can be checked. */
async function scheduledSync(table: string, destinationId: string, fields = WEBHOOK_FIELDS, keyField?: string): Promise<string> {
  const mappings = (["email", "name", "plan", "score"] as const).map((source) => ({ source, destination: fields[source] }));
  const syncId = await createSync(await modelOf(table), destinationId, "mirror", fields, {
    schedule: { type: "interval", interval_minutes: 60 },
    // A destination that matches records by a mapped field (HubSpot's id_property) gets the key column there.
    ...(keyField ? { field_mappings: [...mappings, { source: "id", destination: keyField }] } : {}),
  });
  const sync = await api.get(`/api/v1/syncs/${syncId}`);
  expect(sync.body.next_run_at, JSON.stringify(sync.body)).not.toBeNull();
  return syncId;
}

/** The run failed on refused credentials: every row listed as not sent, the sync in `error`, its schedule stopped. */
async function expectAuthFailure(syncId: string, run: Run, rows: number, vendorText: RegExp) {
  const summary = JSON.stringify(run);
  expect(run.status, summary).toBe("failed");
  expect(run.error?.code, summary).toBe("auth_failed");
  expect(run.error?.message, summary).toMatch(vendorText);
  expect(run, summary).toMatchObject({ rows_created: 0, rows_failed: rows });
  const errors = await runErrors(syncId, run.id);
  expect(errors.map((e) => e.primary_key).sort(), "every row is listed").toEqual(
    Array.from({ length: rows }, (_, i) => String(i + 1)).sort(),
  );
  for (const e of errors)
    expect(e.message, JSON.stringify(e)).toMatch(new RegExp(`^not sent: the destination refused the credentials: .*${vendorText.source}`));
  const sync = await api.get(`/api/v1/syncs/${syncId}`);
  expectStatus(sync, 200);
  expect(sync.body, JSON.stringify(sync.body)).toMatchObject({ status: "error", next_run_at: null });
  expect(sync.body.status_reason, JSON.stringify(sync.body)).toMatch(/^authentication failed: .*/);
  expect(sync.body.status_reason).toMatch(vendorText);
}

describe("delivery failures, end to end", () => {
  it.concurrent("webhook 401: the run fails with auth_failed, unsent rows are listed, the sync goes to error and stops sending", async () => {
    const rows = 200;
    const table = await customersTable(rows);
    const name = uniqueName("auth");
    await configureWebhook(name, { idempotent: true, always: { status: 401, body: { error: "bad api key" } } });
    const destinationId = await createDestination({ type: "webhook", config: { url: webhookUrl(name), batch_size: 10 } });
    const syncId = await scheduledSync(table, destinationId);
    const run = await runSync(syncId);
    await expectAuthFailure(syncId, run, rows, /HTTP 401.*bad api key/);
    // Sending stopped at the refusal: only batches already on their way reached the endpoint.
    const requests = (await webhookState(name)).deliveries.length;
    expect(requests, `${requests} of 20 batches were sent`).toBeLessThan(20);
  });

  it.concurrent("HubSpot with a revoked token: same outcome, with HubSpot's message", async () => {
    const rows = 30;
    const table = await customersTable(rows);
    const portal = `${env.HUBSPOT_URL}/t/${uniqueName("portal")}`;
    const destinationId = await createDestination({
      type: "hubspot",
      config: { object_type: "contacts", id_property: "external_id", api_base: portal, batch_size: 10 },
      credentials: { access_token: "pat-revoked-token" },
    });
    const syncId = await scheduledSync(
      table,
      destinationId,
      { email: "email", name: "firstname", plan: "company", score: "amount" },
      "external_id",
    );
    const run = await runSync(syncId);
    await expectAuthFailure(syncId, run, rows, /HTTP 401.*INVALID_AUTHENTICATION/);
  });

  it.concurrent("a batch refused whole (400) because of one bad record is split until the good rows land; the bad one fails with the destination's reason", async () => {
    const rows = 40;
    const table = await customersTable(rows);
    const name = uniqueName("split");
    await configureWebhook(name, { idempotent: true, reject_keys: { "17": "Email: invalid address" } });
    const destinationId = await createDestination({ type: "webhook", config: { url: webhookUrl(name), batch_size: 10 } });
    const syncId = await createSync(await modelOf(table), destinationId, "mirror", WEBHOOK_FIELDS);

    const run = await runSync(syncId);
    expect(run, JSON.stringify(run)).toMatchObject({ status: "partial", rows_created: rows - 1, rows_failed: 1 });
    const errors = await runErrors(syncId, run.id);
    expect(errors, JSON.stringify(errors)).toEqual([
      expect.objectContaining({
        primary_key: "17",
        operation: "create",
        message: expect.stringMatching(/^HTTP 400: .*Email: invalid address/),
      }),
    ]);
    const state = await webhookState(name);
    const { "17": bad, ...good } = await modelNow(table);
    expect(bad).toBeDefined();
    expect(webhookRows(state)).toEqual(good);
    // The refused batch was halved down to the bad record alone: every 400 carried key 17, each smaller than the last.
    const rejected = state.deliveries.filter((r) => r.outcome === "rejected");
    expect(
      rejected.map((r) => r.keys.length),
      JSON.stringify(rejected),
    ).toEqual([...rejected.map((r) => r.keys.length)].sort((a, b) => b - a));
    expect(rejected.every((r) => r.keys.includes("17"))).toBe(true);
    expect(rejected.at(0)?.keys).toHaveLength(10);
    expect(rejected.at(-1)?.keys).toEqual(["17"]);

    // Once the destination accepts it, the next run sends that row alone.
    await configureWebhook(name, { idempotent: true });
    const again = await runSync(syncId);
    expect(again, JSON.stringify(again)).toMatchObject({ status: "succeeded", rows_created: 1, rows_failed: 0, rows_unchanged: rows - 1 });
    expect(webhookRows(await webhookState(name))).toEqual(await modelNow(table));
  });

  it.concurrent("a batch that keeps failing transiently is retried with backoff, then dead-lettered: its rows fail with 'retries exhausted; last error: …'", async () => {
    const rows = 6;
    const table = await customersTable(rows);
    const name = uniqueName("dlq");
    await configureWebhook(name, { idempotent: true, always: { status: 503, retry_after: "1", body: { error: "down for maintenance" } } });
    const destinationId = await createDestination({ type: "webhook", config: { url: webhookUrl(name), batch_size: 10 } });
    const syncId = await createSync(await modelOf(table), destinationId, "mirror", WEBHOOK_FIELDS);

    const run = await runSync(syncId);
    // Nothing got through and the batch ran out of retries: the run failed, naming the destination's error.
    expect(run, JSON.stringify(run)).toMatchObject({
      status: "failed",
      rows_created: 0,
      rows_failed: rows,
      error: { code: "delivery_failed" },
    });
    expect(run.error?.message).toMatch(
      /accepted none of the 6 operations; 1 batch ran out of retries \(retries exhausted; last error: HTTP 503/,
    );
    const errors = await runErrors(syncId, run.id);
    expect(errors).toHaveLength(rows);
    for (const e of errors)
      expect(e.message, JSON.stringify(e)).toMatch(/^retries exhausted; last error: HTTP 503: .*down for maintenance/);

    // wrangler.toml: max_retries = 8, so 9 attempts, all under the same Idempotency-Key, each after the Retry-After.
    const state = await webhookState(name);
    const requests = state.deliveries;
    expect(requests.map((r) => r.status)).toEqual(Array(9).fill(503));
    expect(new Set(requests.map((r) => r.idempotency_key)).size).toBe(1);
    // Counted as the receiver saw them: never two attempts within one Retry-After second (less 50 ms of clock slack).
    const arrivals = requests.map((r) => r.at);
    expect(peakPerWindow(state, 950), `arrivals ${arrivals.join(", ")}`).toBe(1);

    // The rows were not committed: the next run sends them again.
    await configureWebhook(name, { idempotent: true });
    const again = await runSync(syncId);
    expect(again, JSON.stringify(again)).toMatchObject({ status: "succeeded", rows_created: rows });
  }, 90_000);
});
