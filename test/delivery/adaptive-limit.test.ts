import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DestinationDetailSchema } from "../../src/routes/destinations/schema";
import { api, expectStatus } from "../harness";
import { createDestination, createSync, customersTable, modelOf, type Run, uniqueName, waitForRun } from "../harness/run";

/**
 * The destination's limiter learns an account's real limit (issue 18): a HubSpot portal that takes
 * 5 requests per second, a destination left at the connector's default of 10. HubSpot asks that
 * errors stay under 5% of requests; the run should take no more than 1.2× a run configured at 5.
 * 429s are counted by the fake portal; durations are the runs' own (printed, not asserted: a
 * shared test machine makes wall-clock ratios noisy).
 */
const ROWS = 800;
const BATCH = 5;
const HUBSPOT_FIELDS = { email: "email", name: "firstname", plan: "company", score: "amount" };

interface Outcome {
  run: Run;
  requests: number;
  throttled: number;
  observed: unknown;
}

/** Syncs ROWS rows in batches of BATCH to a fresh portal limited as `portalLimit`, the destination configured with `rateLimit`. */
async function syncUnder(portalLimit: Record<string, unknown>, rateLimit?: { requests_per_second: number }): Promise<Outcome> {
  const table = await customersTable(ROWS);
  const portal = `${env.HUBSPOT_URL}/t/${uniqueName("portal")}`;
  const configured = await fetch(`${portal}/_config`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ rate_limit: portalLimit }),
  });
  expect(configured.status).toBe(200);
  await configured.body?.cancel();
  const destinationId = await createDestination({
    type: "hubspot",
    config: {
      object_type: "contacts",
      id_property: "email",
      api_base: portal,
      batch_size: BATCH,
      ...(rateLimit ? { rate_limit: rateLimit } : {}),
    },
    credentials: { access_token: "hubspot-test-token" },
  });
  const before = await api.get(`/api/v1/destinations/${destinationId}`);
  expectStatus(before, 200);
  expect(DestinationDetailSchema.parse(before.body).rate_limit_observed, "nothing learned before the first request").toBeNull();

  const syncId = await createSync(await modelOf(table), destinationId, "upsert", HUBSPOT_FIELDS);
  const trigger = await api.post(`/api/v1/syncs/${syncId}/trigger`, {});
  expectStatus(trigger, 202);
  const run = await waitForRun(syncId, trigger.body.id, { timeoutMs: 120_000 });
  expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_created: ROWS, rows_failed: 0 });

  const state = (await (await fetch(`${portal}/_state`)).json()) as {
    objects: Record<string, unknown[]>;
    requests: { status: number }[];
  };
  expect(state.objects.contacts).toHaveLength(ROWS);
  const after = await api.get(`/api/v1/destinations/${destinationId}`);
  expectStatus(after, 200);
  return {
    run,
    requests: state.requests.length,
    throttled: state.requests.filter((r) => r.status === 429).length,
    // The harness types GET like the list; the detail schema checks the extra field.
    observed: DestinationDetailSchema.parse(after.body).rate_limit_observed,
  };
}

const share = (o: Outcome) => o.throttled / o.requests;
const summary = (o: Outcome) =>
  `${o.throttled}/${o.requests} answered 429 (${(100 * share(o)).toFixed(1)}%) in ${o.run.duration_ms} ms, learned ${JSON.stringify(o.observed)}`;

describe("the destination limiter learns the account's limit from its answers", () => {
  it("a 5 req/s HubSpot portal under the default of 10: under 5% of requests answered 429, about as fast as a run configured at 5", async () => {
    // One after the other: runs side by side would share the local queue consumer, which then
    // binds before the portal's limit does.
    // HubSpot leaves its rate-limit headers out when it cannot gather them: only the 429s teach.
    const learnedFrom429s = await syncUnder({ max: 5, interval_ms: 1000, headers: false });
    // The documented case: X-HubSpot-RateLimit-Max per -Interval-Milliseconds on every response.
    const learnedFromHeaders = await syncUnder({ max: 5, interval_ms: 1000 });
    const configuredAt5 = await syncUnder({ max: 5, interval_ms: 1000, headers: false }, { requests_per_second: 5 });
    const ratio = (o: Outcome) => (o.run.duration_ms ?? 0) / (configuredAt5.run.duration_ms ?? 1);
    console.log(
      [
        `429s only:      ${summary(learnedFrom429s)}; time ratio ${ratio(learnedFrom429s).toFixed(2)}× the run configured at 5`,
        `with headers:   ${summary(learnedFromHeaders)}; time ratio ${ratio(learnedFromHeaders).toFixed(2)}×`,
        `configured at 5: ${summary(configuredAt5)}`,
      ].join("\n"),
    );
    expect(share(learnedFrom429s), summary(learnedFrom429s)).toBeLessThan(0.05);
    expect(share(learnedFromHeaders), summary(learnedFromHeaders)).toBeLessThan(0.05);
    // What was learned shows on the destination, never above the default of 10.
    expect(learnedFrom429s.observed, summary(learnedFrom429s)).toEqual({
      requests_per_second: expect.any(Number),
      updated_at: expect.any(String),
    });
    const learned = (learnedFrom429s.observed as { requests_per_second: number }).requests_per_second;
    expect(learned).toBeGreaterThan(2);
    expect(learned).toBeLessThan(6);
    // The advertised 5 per second caps it from the first answer; a 429 from trip jitter may cut it a little below.
    const advertised = (learnedFromHeaders.observed as { requests_per_second: number } | null)?.requests_per_second;
    expect(advertised, summary(learnedFromHeaders)).toBeGreaterThan(3);
    expect(advertised, summary(learnedFromHeaders)).toBeLessThanOrEqual(5);
  }, 400_000);
});
