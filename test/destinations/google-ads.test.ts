import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ConnectorContext, Operation } from "../../src/destinations/destination";
import { type GoogleAdsConnectorConfig, googleAdsConnector } from "../../src/destinations/google_ads/connector";
import type { GoogleAdsCredentials } from "../../src/destinations/google_ads/schema";
import { sha256Hex } from "../../src/lib/crypto";
import { batchOf, control, expectKind, forbiddenFetch, rowsOf, stateOf, uniqueName } from "./helpers";

/** The fake Google Ads API (test/servers/google-ads.ts): jobs, list members, requests. */
interface AccountState {
  jobs: {
    resourceName: string;
    status: string;
    failureReason?: string;
    operations: { kind: string; ids: string[] }[];
    consent?: unknown;
  }[];
  members: Record<string, string[][]>;
  requests: { method: string; path: string; status: number; operations?: number }[];
  token_requests: number;
}

const LIST = "customers/1234567890/userLists/555";
const CREDENTIALS: GoogleAdsCredentials = {
  client_id: "google-client",
  client_secret: "google-secret",
  refresh_token: "1//google-refresh",
  developer_token: "google-dev-token",
};

/** A fresh fake account and a context pointing at it (a fresh refresh token, so no token is cached yet). */
async function setup(config: Partial<GoogleAdsConnectorConfig> = {}, accountConfig: Record<string, unknown> = {}) {
  const base = `${env.GOOGLE_ADS_URL}/t/${uniqueName("gads")}`;
  const refresh = `1//${uniqueName("refresh")}`;
  await control(`${base}/_config`, { refresh_token: refresh, ...accountConfig });
  const ctx: ConnectorContext<GoogleAdsConnectorConfig, GoogleAdsCredentials> = {
    config: {
      customer_id: "1234567890",
      user_list_id: "555",
      key_identifier: "email",
      api_version: "v22",
      batch_size: 10_000,
      api_base: base,
      token_url: `${base}/token`,
      timeout_ms: 5_000,
      poll_attempts: 3,
      poll_interval_ms: 10,
      ...config,
    },
    credentials: { ...CREDENTIALS, refresh_token: refresh },
    allowPrivate: true,
    fetch,
  };
  return {
    ctx,
    base,
    state: () => stateOf<AccountState>(`${base}/_state`),
    configure: (body: Record<string, unknown>) => control(`${base}/_config`, { refresh_token: refresh, ...body }),
  };
}

const people = (n: number, from = 0): Operation[] =>
  Array.from({ length: n }, (_, i) => ({ op: "upsert", key: String(from + i), fields: { email: `Person${from + i}@Example.com ` } }));
const hashedEmail = async (email: string) => `hashedEmail:${await sha256Hex(email)}`;

describe("google_ads connector: jobs", () => {
  it("creates a job on the list, adds hashed members, runs it, watches it to SUCCESS: the members are in the list", async () => {
    const { ctx, state } = await setup();
    const outcome = await googleAdsConnector.send(
      ctx,
      batchOf([
        ...people(3),
        {
          op: "create",
          key: "ada",
          fields: {
            email: "ada@example.com",
            phone: "+44 20 7946 0958",
            first_name: "Ada",
            last_name: "Lovelace",
            country: "gb",
            zip: "SW1A 1AA",
          },
        },
      ]),
    );
    expect([...rowsOf(outcome).values()].every((r) => r.ok)).toBe(true);
    const s = await state();
    expect(s.requests.map((r) => `${r.method} ${r.path.replace(/\d{4,}/g, "N")}`)).toEqual([
      "POST /v22/customers/N/offlineUserDataJobs:create",
      "POST /v22/customers/N/offlineUserDataJobs/N:addOperations",
      "POST /v22/customers/N/offlineUserDataJobs/N:run",
      "POST /v22/customers/N/googleAds:search",
    ]);
    expect(s.jobs).toHaveLength(1);
    expect(s.jobs[0]?.status).toBe("SUCCESS");
    const members = s.members[LIST] ?? [];
    expect(members).toHaveLength(4);
    // Normalised (trimmed, lower-cased) then hashed on the wire: no clear email reaches Google.
    expect(members).toContainEqual([await hashedEmail("person0@example.com")]);
    const phone = `hashedPhoneNumber:${await sha256Hex("+442079460958")}`;
    const ada = members.find((m) => m.includes(phone));
    expect(ada).toContain(await hashedEmail("ada@example.com"));
    expect(ada?.find((id) => id.startsWith("addressInfo:"))).toBe(
      `addressInfo:${JSON.stringify({ hashedFirstName: await sha256Hex("ada"), hashedLastName: await sha256Hex("lovelace"), countryCode: "GB", postalCode: "SW1A 1AA" })}`,
    );
    expect(JSON.stringify(s)).not.toMatch(/person0@example\.com|ada@example\.com/i);
  });

  it("mirror deletes go as remove operations in their own job, matched by the key as key_identifier", async () => {
    const { ctx, state } = await setup();
    rowsOf(await googleAdsConnector.send(ctx, batchOf(people(4))));
    const outcome = await googleAdsConnector.send(
      ctx,
      batchOf([
        { op: "delete", key: "person1@example.com", fields: {} },
        { op: "delete", key: "person2@example.com", fields: {} },
        { op: "create", key: "new", fields: { email: "new@example.com" } },
      ]),
    );
    expect([...rowsOf(outcome).values()].every((r) => r.ok)).toBe(true);
    const s = await state();
    expect(s.jobs.map((j) => j.operations.map((o) => o.kind).join(","))).toEqual([
      "create,create,create,create",
      "remove,remove",
      "create",
    ]);
    const members = (s.members[LIST] ?? []).map((m) => m[0]);
    expect(members.sort()).toEqual(
      [await hashedEmail("person0@example.com"), await hashedEmail("person3@example.com"), await hashedEmail("new@example.com")].sort(),
    );
  });

  it("Google's partialFailureError (operations[i]) fails only those rows; rows that cannot be normalised fail before sending", async () => {
    const { ctx, state } = await setup();
    const outcome = await googleAdsConnector.send(
      ctx,
      batchOf([
        { op: "upsert", key: "good", fields: { email: "good@example.com" } },
        // Already a SHA-256 (upper-case hex): passed through lower-cased.
        { op: "upsert", key: "prehashed", fields: { email: (await sha256Hex("pre@example.com")).toUpperCase() } },
        { op: "upsert", key: "partial-address", fields: { first_name: "Ada", last_name: "Lovelace" } },
        { op: "upsert", key: "bad-email", fields: { email: "nobody" } },
        // A mobile id on a CONTACT_INFO list: Google refuses that operation alone.
        { op: "upsert", key: "device", fields: { email: "d@example.com", mobile_advertiser_id: "ab12" } },
        { op: "upsert", key: "last", fields: { email: "last@example.com" } },
      ]),
    );
    const rows = rowsOf(outcome);
    expect(rows.get("good")).toEqual({ ok: true });
    expect(rows.get("prehashed")).toEqual({ ok: true });
    expect(rows.get("last")).toEqual({ ok: true });
    expect(rows.get("partial-address")?.error).toMatch(/first_name, last_name, country and zip together/);
    expect(rows.get("bad-email")?.error).toMatch(/email "nobody" is not an email address/);
    expect(rows.get("device")?.error).toMatch(
      /offlineUserDataJobError\.INCOMPATIBLE_UPLOAD_KEY_TYPE: The user identifier is not compatible/,
    );
    const s = await state();
    // Only rows that could be sent were: good, prehashed, device, last.
    expect(s.requests.find((r) => r.path.endsWith(":addOperations"))?.operations).toBe(4);
    expect((s.members[LIST] ?? []).flat().sort()).toEqual(
      [await hashedEmail("good@example.com"), await hashedEmail("pre@example.com"), await hashedEmail("last@example.com")].sort(),
    );
  });
});

describe("google_ads connector: auth and failures", () => {
  it("exchanges the refresh token once and reuses the cached access token across sends", async () => {
    const { ctx, state } = await setup();
    rowsOf(await googleAdsConnector.send(ctx, batchOf(people(2))));
    rowsOf(await googleAdsConnector.send(ctx, batchOf(people(2, 2))));
    expect((await state()).token_requests).toBe(1);
  });

  it("a cached token about to expire (under a minute left) is refreshed before the call", async () => {
    const { ctx, state } = await setup({}, { token_ttl_s: 30 });
    rowsOf(await googleAdsConnector.send(ctx, batchOf(people(1))));
    rowsOf(await googleAdsConnector.send(ctx, batchOf(people(1, 1))));
    const s = await state();
    expect(s.token_requests).toBe(2);
    expect(s.requests.filter((r) => r.status === 401)).toEqual([]);
  });

  it("batches hold at most 20,000 people (100,000 identifiers per request, 5 per person)", async () => {
    const { ctx } = await setup();
    expect(googleAdsConnector.maxBatchSize(ctx.config)).toBe(10_000);
    expect(googleAdsConnector.maxBatchSize({ ...ctx.config, batch_size: 50_000 })).toBe(20_000);
  });

  it("an access token Google no longer accepts (401) is refreshed once and the call repeated", async () => {
    const { ctx, state, base } = await setup();
    rowsOf(await googleAdsConnector.send(ctx, batchOf(people(1))));
    await control(`${base}/_expire_tokens`, {});
    const outcome = await googleAdsConnector.send(ctx, batchOf(people(1, 1)));
    expect([...rowsOf(outcome).values()]).toEqual([{ ok: true }]);
    const s = await state();
    expect(s.token_requests).toBe(2);
    expect(s.requests.filter((r) => r.status === 401)).toHaveLength(1);
  });

  it("a revoked refresh token (invalid_grant) or a bad developer token is auth_failed", async () => {
    const revoked = await setup();
    const outcome = await googleAdsConnector.send(
      { ...revoked.ctx, credentials: { ...revoked.ctx.credentials, refresh_token: "1//revoked" } },
      batchOf(people(1)),
    );
    expect(expectKind(outcome, "auth_failed").error).toMatch(/invalid_grant: Token has been expired or revoked/);
    const dev = await setup();
    const bad = await googleAdsConnector.send(
      { ...dev.ctx, credentials: { ...dev.ctx.credentials, developer_token: "wrong" } },
      batchOf(people(1)),
    );
    expect(expectKind(bad, "auth_failed").error).toMatch(/DEVELOPER_TOKEN_INVALID/);
  });

  it("a manager-reached account needs login-customer-id: 403 without it is auth_failed, with it the job runs", async () => {
    const { ctx } = await setup({}, { login_customer_id: "9876543210" });
    expect(expectKind(await googleAdsConnector.send(ctx, batchOf(people(1))), "auth_failed").error).toMatch(/USER_PERMISSION_DENIED/);
    const outcome = await googleAdsConnector.send(
      { ...ctx, config: { ...ctx.config, login_customer_id: "9876543210" } },
      batchOf(people(1)),
    );
    expect([...rowsOf(outcome).values()]).toEqual([{ ok: true }]);
  });

  it("429 RESOURCE_EXHAUSTED is retry after quotaErrorDetails.retryDelay; 5xx is retry", async () => {
    const { ctx } = await setup({}, { faults: [{ status: 429, path: ":create", retry_delay: "17s" }] });
    expect(expectKind(await googleAdsConnector.send(ctx, batchOf(people(1))), "retry")).toMatchObject({
      retryAfterSeconds: 17,
      error: expect.stringMatching(/RESOURCE_EXHAUSTED/),
    });
    const again = await setup({}, { faults: [{ status: 503, path: ":addOperations" }] });
    expect(expectKind(await googleAdsConnector.send(again.ctx, batchOf(people(1))), "retry").error).toMatch(/HTTP 503/);
    // The resent batch runs a new job; the one left unrun holds nothing.
    const outcome = await googleAdsConnector.send(again.ctx, batchOf(people(1)));
    expect([...rowsOf(outcome).values()]).toEqual([{ ok: true }]);
    const s = await again.state();
    expect(s.jobs.map((j) => j.status)).toEqual(["PENDING", "SUCCESS"]);
  });

  it("a job still running when the watch ends counts as delivered; one seen FAILED fails its rows with Google's reason", async () => {
    const slow = await setup({ poll_attempts: 2 }, { run_ms: 60_000 });
    expect([...rowsOf(await googleAdsConnector.send(slow.ctx, batchOf(people(2)))).values()]).toEqual([{ ok: true }, { ok: true }]);
    expect((await slow.state()).jobs[0]?.status).toBe("RUNNING");
    const failing = await setup({}, { job_failure: "INSUFFICIENT_MATCHED_TRANSACTIONS" });
    const rows = rowsOf(await googleAdsConnector.send(failing.ctx, batchOf(people(2))));
    expect(rows.get("0")?.error).toMatch(/job customers\/1234567890\/offlineUserDataJobs\/\d+ failed: INSUFFICIENT_MATCHED_TRANSACTIONS/);
  });

  it("an unknown user list is rejected, and test() says so; a good list passes test()", async () => {
    const { ctx } = await setup();
    const wrong = { ...ctx, config: { ...ctx.config, user_list_id: "999" } };
    expect(expectKind(await googleAdsConnector.send(wrong, batchOf(people(1))), "rejected").error).toMatch(/INVALID_USER_LIST_ID/);
    expect(await googleAdsConnector.test(wrong)).toMatchObject({ ok: false, error: expect.stringMatching(/no user list 999/) });
    expect(await googleAdsConnector.test(ctx)).toEqual({ ok: true });
  });

  it("describes its identifier fields, and ignores the local api_base/token_url overrides unless private destinations are allowed", async () => {
    const { ctx } = await setup();
    const fields = await googleAdsConnector.fields?.(ctx);
    expect(fields?.ok && fields.fields.map((f) => f.name)).toEqual([
      "email",
      "phone",
      "first_name",
      "last_name",
      "country",
      "zip",
      "mobile_advertiser_id",
      "external_id",
    ]);
    expect(fields?.ok && fields.fields.find((f) => f.identifier)?.name).toBe("email");
    // The credentials go to Google's own token endpoint, never to the configured local one.
    const outcome = await googleAdsConnector.send({ ...ctx, allowPrivate: false, fetch: forbiddenFetch }, batchOf(people(1)));
    expect(expectKind(outcome, "retry").error).toMatch(/called for https:\/\/oauth2\.googleapis\.com\/token$/);
  });
});
