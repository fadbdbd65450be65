import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ApiError } from "../../src/api/errors";
import { checkReachable } from "../../src/routes/destinations/schema";
import { parsedConfig } from "../destinations/helpers";
import { api, expectError, expectStatus, newWorkspace, tokenFor, WAREHOUSE_URL } from "../harness";
import { configureWebhook, createDestination, pg, uniqueName, webhookState, webhookUrl } from "../harness/run";

const post = (body: Record<string, unknown>) => api.post("/api/v1/destinations", { body: { name: "d", ...body } });

const valid = {
  webhook: { type: "webhook", config: { url: "https://hooks.example.com/in" } },
  postgres: {
    type: "postgres",
    config: { table: "t", key_column: "id" },
    credentials: { connection_string: "postgres://u:p@db.example.com/x" },
  },
  salesforce: {
    type: "salesforce",
    config: { instance_url: "https://acme.my.salesforce.com", object: "Contact", external_id_field: "External_Id__c" },
    credentials: { access_token: "00Dtoken" },
  },
  hubspot: { type: "hubspot", config: { object_type: "contacts", id_property: "email" }, credentials: { access_token: "pat-x" } },
} as const;

function refusal(fn: () => void): ApiError | undefined {
  try {
    fn();
  } catch (err) {
    return err as ApiError;
  }
  return undefined;
}

describe("destination config: rate_limit and local vendor URLs", () => {
  it("takes an optional rate_limit on every type and returns it with the config", async () => {
    for (const body of Object.values(valid)) {
      const rate_limit = { requests_per_second: 2.5, concurrency: 3 };
      const res = await post({ ...body, config: { ...body.config, rate_limit } });
      expectStatus(res, 201);
      expect(res.body.config.rate_limit, JSON.stringify(res.body)).toEqual(rate_limit);
      const partial = await post({ ...body, config: { ...body.config, rate_limit: { concurrency: 1 } } });
      expectStatus(partial, 201);
      expect(partial.body.config.rate_limit).toEqual({ concurrency: 1 });
      const none = await post(body);
      expectStatus(none, 201);
      expect(none.body.config).not.toHaveProperty("rate_limit");
    }
  });

  it("refuses rate limits out of range, fractional concurrency and unknown fields, naming the field", async () => {
    const bad = async (rate_limit: unknown, path: string) =>
      expectError(await post({ ...valid.webhook, config: { ...valid.webhook.config, rate_limit } }), 400, "validation_failed", path);
    await bad({ requests_per_second: 0 }, "config.rate_limit.requests_per_second");
    await bad({ requests_per_second: 0.05 }, "config.rate_limit.requests_per_second");
    await bad({ requests_per_second: 1001 }, "config.rate_limit.requests_per_second");
    await bad({ requests_per_second: "10" }, "config.rate_limit.requests_per_second");
    await bad({ concurrency: 0 }, "config.rate_limit.concurrency");
    await bad({ concurrency: 101 }, "config.rate_limit.concurrency");
    await bad({ concurrency: 1.5 }, "config.rate_limit.concurrency");
    await bad({ burst: 5 }, "config.rate_limit.burst");
    await bad(5, "config.rate_limit");
    // Updates validate it too, against the stored type.
    const id = await createDestination({ ...valid.hubspot });
    const put = await api.put(`/api/v1/destinations/${id}`, {
      body: { config: { ...valid.hubspot.config, rate_limit: { concurrency: 0 } } },
    });
    expectError(put, 400, "validation_failed", "config.rate_limit.concurrency");
  });

  it("accepts a private/loopback Salesforce instance_url and HubSpot api_base where private destinations are allowed (as here)", async () => {
    const sf = await post({ ...valid.salesforce, config: { ...valid.salesforce.config, instance_url: "http://127.0.0.1:9999/t/org" } });
    expectStatus(sf, 201);
    expect(sf.body.config.instance_url).toBe("http://127.0.0.1:9999/t/org");
    const hs = await post({ ...valid.hubspot, config: { ...valid.hubspot.config, api_base: "http://localhost:9999/t/portal" } });
    expectStatus(hs, 201);
    expect(hs.body.config.api_base).toBe("http://localhost:9999/t/portal");
  });

  it("still refuses public non-Salesforce hosts, clear-text Salesforce, and a public api_base (the token must only reach the vendor)", async () => {
    const sf = (instance_url: string) => post({ ...valid.salesforce, config: { ...valid.salesforce.config, instance_url } });
    expectError(await sf("https://evil.example.com"), 400, "validation_failed", "config.instance_url");
    expectError(await sf("http://acme.my.salesforce.com"), 400, "validation_failed", "config.instance_url");
    expectError(await sf("ftp://127.0.0.1/x"), 400, "validation_failed", "config.instance_url");
    expectError(await sf("http://user:pw@127.0.0.1/x"), 400, "validation_failed", "config.instance_url");
    const hs = (api_base: string) => post({ ...valid.hubspot, config: { ...valid.hubspot.config, api_base } });
    expectError(await hs("https://api.hubapi.com.evil.example.com"), 400, "validation_failed", "config.api_base");
    expectError(await hs("https://api.hubapi.com"), 400, "validation_failed", "config.api_base");
    expectError(await hs("not a url"), 400, "validation_failed", "config.api_base");
  });

  it("refuses the local overrides where private destinations are not allowed (production)", () => {
    const strict = { ...env, ALLOW_PRIVATE_DESTINATIONS: "false" };
    const sf = refusal(() =>
      checkReachable(
        strict,
        "salesforce",
        parsedConfig("salesforce", { ...valid.salesforce.config, instance_url: "http://127.0.0.1:9/t/x" }),
        null,
      ),
    );
    expect(sf?.code).toBe("validation_failed");
    expect(sf?.details).toEqual([expect.objectContaining({ path: "config.instance_url" })]);
    const hs = refusal(() =>
      checkReachable(strict, "hubspot", parsedConfig("hubspot", { ...valid.hubspot.config, api_base: "http://127.0.0.1:9/t/x" }), null),
    );
    expect(hs?.details, JSON.stringify(hs)).toEqual([
      expect.objectContaining({ path: "config.api_base", message: expect.stringMatching(/local development only/) }),
    ]);
    // The real vendors pass.
    expect(refusal(() => checkReachable(strict, "salesforce", parsedConfig("salesforce", valid.salesforce.config), null))).toBeUndefined();
    expect(refusal(() => checkReachable(strict, "hubspot", parsedConfig("hubspot", valid.hubspot.config), null))).toBeUndefined();
  });
});

describe("POST /api/v1/destinations/{id}/test", () => {
  const test = (id: string, token?: string) => api.post(`/api/v1/destinations/${id}/test`, { token });

  it("webhook: ok when the endpoint answers 2xx, the destination's own error otherwise", async () => {
    const name = uniqueName("conn");
    const id = await createDestination({ type: "webhook", config: { url: webhookUrl(name) } });
    const ok = await test(id);
    expectStatus(ok, 200);
    expect(ok.body).toEqual({ ok: true });
    expect((await webhookState(name)).deliveries, "the test really reached the endpoint").toHaveLength(1);

    await configureWebhook(name, { idempotent: true, always: { status: 503, body: { error: "maintenance window" } } });
    const down = await test(id);
    expectStatus(down, 200);
    expect(down.body, JSON.stringify(down.body)).toEqual({ ok: false, error: expect.stringMatching(/HTTP 503.*maintenance window/) });
  });

  it("webhook: uses the stored, decrypted credentials (the receiver verifies the signature)", async () => {
    const endpoint = uniqueName("signed");
    const secret = "whsec_connection_test_0001";
    await configureWebhook(endpoint, { signing_secret: secret });
    const url = `${env.WEBHOOK_RECEIVER_URL}/hook/${endpoint}`;
    const right = await createDestination({ type: "webhook", config: { url }, credentials: { signing_secret: secret } });
    const wrong = await createDestination({
      type: "webhook",
      config: { url },
      credentials: { signing_secret: "whsec_some_other_secret_01" },
    });
    expect((await test(right)).body).toEqual({ ok: true });
    const refused = await test(wrong);
    expect(refused.body, JSON.stringify(refused.body)).toEqual({ ok: false, error: expect.stringMatching(/HTTP 401/) });
  });

  it("postgres: checks the table, its key and the role's rights", async () => {
    const table = uniqueName("conn");
    await pg(`CREATE TABLE ${table} (id text PRIMARY KEY, email text)`);
    const ok = await createDestination({
      type: "postgres",
      config: { table, key_column: "id" },
      credentials: { connection_string: WAREHOUSE_URL },
    });
    expect((await test(ok)).body).toEqual({ ok: true });
    const missing = await createDestination({
      type: "postgres",
      config: { table: `${table}_nope`, key_column: "id" },
      credentials: { connection_string: WAREHOUSE_URL },
    });
    const res = await test(missing);
    expect(res.body, JSON.stringify(res.body)).toEqual({ ok: false, error: expect.stringMatching(/does not exist/) });
    const unkeyed = await createDestination({
      type: "postgres",
      config: { table, key_column: "email" },
      credentials: { connection_string: WAREHOUSE_URL },
    });
    expect((await test(unkeyed)).body).toEqual({ ok: false, error: expect.stringMatching(/unique/) });
  });

  it("salesforce and hubspot: ok with the right token, the vendor's refusal with a wrong one", async () => {
    const org = `${env.SALESFORCE_URL}/t/${uniqueName("org")}`;
    const sfConfig = { instance_url: org, object: "Contact", external_id_field: "External_Id__c" };
    expect(
      (await test(await createDestination({ type: "salesforce", config: sfConfig, credentials: { access_token: "sf-test-token" } }))).body,
    ).toEqual({ ok: true });
    const sfBad = await test(await createDestination({ type: "salesforce", config: sfConfig, credentials: { access_token: "expired" } }));
    expect(sfBad.body, JSON.stringify(sfBad.body)).toEqual({ ok: false, error: expect.stringMatching(/401.*INVALID_SESSION_ID/) });

    const portal = `${env.HUBSPOT_URL}/t/${uniqueName("portal")}`;
    const hsConfig = { object_type: "contacts", id_property: "external_id", api_base: portal };
    expect(
      (await test(await createDestination({ type: "hubspot", config: hsConfig, credentials: { access_token: "hubspot-test-token" } })))
        .body,
    ).toEqual({ ok: true });
    const hsBad = await test(await createDestination({ type: "hubspot", config: hsConfig, credentials: { access_token: "pat-revoked" } }));
    expect(hsBad.body, JSON.stringify(hsBad.body)).toEqual({ ok: false, error: expect.stringMatching(/401.*INVALID_AUTHENTICATION/) });
  });

  it("is a write: 404 for unknown or other workspaces' destinations, 403 for read tokens", async () => {
    const id = await createDestination({ type: "webhook", config: { url: webhookUrl(uniqueName("conn")) } });
    expectError(await test("dst_01jd0000000000000000000000"), 404, "not_found");
    const other = await newWorkspace("write");
    expectError(await test(id, other.token), 404, "not_found");
    expectError(await test(id, await tokenFor("wsp_default", "read")), 403, "forbidden");
    expectError(await test(id, "nope"), 401, "unauthorized");
  });
});
