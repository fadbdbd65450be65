// Over 400 lines: the HubSpot connector's contract in one place (upserts, id_property ≠ key, deletes, failures, limits, SSRF).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DestinationCredentials } from "../../src/destinations/registry";
import type { ConnectorContext, Operation } from "../../src/destinations/destination";
import {
  hubspotConnector,
  hubspotRateSignal,
  hubspotRetryAfter,
  type HubspotConnectorConfig,
} from "../../src/destinations/hubspot/connector";
import { batchOf, control, expectKind, forbiddenFetch, rowsOf, stateOf, uniqueName } from "./helpers";

type Credentials = DestinationCredentials<"hubspot">;

interface PortalState {
  objects: Record<string, { id: string; properties: Record<string, string> }[]>;
  requests: { method: string; path: string; size?: number; status: number }[];
}

const TOKEN = "hubspot-test-token";

/** A fresh fake portal and a context pointing at it. */
function setup(config: Partial<HubspotConnectorConfig> = {}, credentials: Credentials = { access_token: TOKEN }) {
  const portal = `${env.HUBSPOT_URL}/t/${uniqueName("portal")}`;
  const ctx: ConnectorContext<HubspotConnectorConfig, Credentials> = {
    config: { object_type: "contacts", id_property: "email", batch_size: 100, api_base: portal, timeout_ms: 5_000, ...config },
    credentials,
    allowPrivate: true,
    fetch,
  };
  const state = () => stateOf<PortalState>(`${portal}/_state`);
  return {
    ctx,
    portal,
    state,
    configure: (body: unknown) => control(`${portal}/_config`, body),
    records: async (type = "contacts", by = "email") =>
      Object.fromEntries(((await state()).objects[type] ?? []).map((r) => [r.properties[by] ?? "", r.properties])),
  };
}

const contacts = (n: number, from = 0): Operation[] =>
  Array.from({ length: n }, (_, i) => ({
    op: "upsert",
    key: `user${from + i}@example.com`,
    fields: { email: `user${from + i}@example.com`, firstname: `User ${from + i}`, lastname: "Test" },
  }));

describe("hubspot connector: upserts", () => {
  it("batch-upserts by idProperty, creating then updating, with values as HubSpot strings", async () => {
    const { ctx, records, state } = setup();
    const first = await hubspotConnector.send(
      ctx,
      batchOf([
        {
          op: "create",
          key: "ada@example.com",
          fields: { email: "ada@example.com", firstname: "Ada", lastname: "Lovelace", age: 36, vip: true, tags: ["a"] },
        },
        { op: "upsert", key: "bob@example.com", fields: { email: "bob@example.com", firstname: "Bob", phone: null } },
      ]),
    );
    expect([...rowsOf(first).values()]).toEqual([{ ok: true }, { ok: true }]);
    const second = await hubspotConnector.send(
      ctx,
      batchOf([{ op: "update", key: "ada@example.com", fields: { email: "ada@example.com", firstname: "Augusta Ada", age: null } }]),
    );
    expect(rowsOf(second).get("ada@example.com")).toEqual({ ok: true });
    const r = await records();
    expect(r["ada@example.com"]).toMatchObject({
      firstname: "Augusta Ada",
      lastname: "Lovelace",
      age: "",
      vip: "true",
      tags: '["a"]',
      email: "ada@example.com",
    });
    expect(r["bob@example.com"]).toMatchObject({ firstname: "Bob", phone: "" });
    expect((await state()).requests.map((q) => `${q.method} ${q.path} ${q.status}`)).toEqual([
      "POST /crm/v3/objects/contacts/batch/upsert 200",
      "POST /crm/v3/objects/contacts/batch/upsert 200",
    ]);
  });

  it("sends inputs as {idProperty, id: the id_property value, properties, objectWriteTraceId: the key} with the token as Bearer", async () => {
    const { ctx } = setup({ object_type: "companies", id_property: "external_id" });
    let seen: { url: string; auth: string | null; body: unknown } | undefined;
    const spy: typeof fetch = async (input, init) => {
      seen = { url: String(input), auth: new Headers(init?.headers).get("authorization"), body: JSON.parse(String(init?.body)) };
      return Response.json({ status: "COMPLETE", results: [] });
    };
    rowsOf(
      await hubspotConnector.send(
        { ...ctx, fetch: spy },
        batchOf([{ op: "upsert", key: "42", fields: { name: "Acme", external_id: "co-1" } }]),
      ),
    );
    expect(seen?.url).toMatch(/\/crm\/v3\/objects\/companies\/batch\/upsert$/);
    expect(seen?.auth).toBe(`Bearer ${TOKEN}`);
    expect(seen?.body).toEqual({
      // id: the mapped id_property value; the model's key travels as objectWriteTraceId.
      inputs: [{ idProperty: "external_id", id: "co-1", properties: { name: "Acme" }, objectWriteTraceId: "42" }],
    });
  });

  it("maps a 207's errors back to rows by objectWriteTraceId, with HubSpot's message; the rest succeed", async () => {
    const { ctx, configure, records } = setup();
    await configure({ required_properties: ["lastname"] });
    const outcome = await hubspotConnector.send(
      ctx,
      batchOf([
        { op: "upsert", key: "good@example.com", fields: { email: "good@example.com", lastname: "Good" } },
        { op: "upsert", key: "bad@example.com", fields: { email: "bad@example.com", lastname: "Bad", lifecyclestage: "INVALID" } },
        { op: "create", key: "noname@example.com", fields: { email: "noname@example.com", firstname: "No" } },
        { op: "upsert", key: "fine@example.com", fields: { email: "fine@example.com", lastname: "Fine" } },
      ]),
    );
    const results = rowsOf(outcome);
    expect(results.get("good@example.com")).toEqual({ ok: true });
    expect(results.get("fine@example.com")).toEqual({ ok: true });
    expect(results.get("bad@example.com")?.error).toMatch(
      /^VALIDATION_ERROR: Property values were not valid: .*INVALID was not one of the allowed options for lifecyclestage/,
    );
    expect(results.get("noname@example.com")?.error).toMatch(/^VALIDATION_ERROR: .*Property \\"lastname\\" is required/);
    expect(Object.keys(await records()).sort()).toEqual(["fine@example.com", "good@example.com"]);
  });

  it("a 207 error tied to no input fails only the rows its results do not confirm", async () => {
    const { ctx } = setup();
    const spy: typeof fetch = async () =>
      Response.json(
        {
          status: "COMPLETE",
          results: [{ id: "1", properties: { email: "a@example.com" }, objectWriteTraceId: "a@example.com" }],
          numErrors: 1,
          errors: [{ status: "error", category: "VALIDATION_ERROR", message: "something about one record", context: {} }],
        },
        { status: 207 },
      );
    const outcome = await hubspotConnector.send(
      { ...ctx, fetch: spy },
      batchOf([
        { op: "upsert", key: "a@example.com", fields: { email: "a@example.com" } },
        { op: "upsert", key: "b@example.com", fields: { email: "b@example.com" } },
      ]),
    );
    expect(rowsOf(outcome)).toEqual(
      new Map([
        ["a@example.com", { ok: true }],
        ["b@example.com", { ok: false, error: "VALIDATION_ERROR: something about one record" }],
      ]),
    );
  });

  it("on a 400 that names bad inputs (nothing written), fails those and resends the others", async () => {
    const { ctx, configure, records, state } = setup();
    await configure({ multi_status: false });
    const outcome = await hubspotConnector.send(
      ctx,
      batchOf([
        { op: "upsert", key: "a@example.com", fields: { email: "a@example.com", lastname: "A" } },
        { op: "upsert", key: "b@example.com", fields: { email: "b@example.com", lastname: "INVALID" } },
        { op: "upsert", key: "c@example.com", fields: { email: "c@example.com", lastname: "C" } },
      ]),
    );
    const results = rowsOf(outcome);
    expect(results.get("a@example.com")).toEqual({ ok: true });
    expect(results.get("c@example.com")).toEqual({ ok: true });
    expect(results.get("b@example.com")?.error).toMatch(/VALIDATION_ERROR: .*INVALID was not one of the allowed options for lastname/);
    expect(Object.keys(await records()).sort()).toEqual(["a@example.com", "c@example.com"]);
    expect((await state()).requests.map((r) => [r.status, r.size])).toEqual([
      [400, 3],
      [200, 2],
    ]);
  });

  it("a 400 that names no input (e.g. a non-unique idProperty) → rejected", async () => {
    const { ctx } = setup({ id_property: "firstname" });
    expect(expectKind(await hubspotConnector.send(ctx, batchOf(contacts(1))), "rejected").error).toMatch(
      /HTTP 400: VALIDATION_ERROR: Unable to perform update\/upsert by non-unique contacts property firstname/,
    );
  });

  it("caps batches at 100 inputs, the limit the portal enforces", async () => {
    const { ctx, portal, records } = setup();
    expect(hubspotConnector.maxBatchSize({ ...ctx.config, batch_size: 500 })).toBe(100);
    expect(hubspotConnector.maxBatchSize({ ...ctx.config, batch_size: 20 })).toBe(20);
    rowsOf(await hubspotConnector.send(ctx, batchOf(contacts(100))));
    expect(Object.keys(await records())).toHaveLength(100);
    const res = await fetch(`${portal}/crm/v3/objects/contacts/batch/upsert`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ inputs: contacts(101).map((o) => ({ idProperty: "email", id: o.key, properties: {} })) }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ status: "error", category: "VALIDATION_ERROR" });
    expect(expectKind(await hubspotConnector.send({ ...ctx, fetch: forbiddenFetch }, batchOf(contacts(101))), "rejected").error).toMatch(
      /at most 100/,
    );
  });
});

describe("hubspot connector: id_property different from the model's key", () => {
  // The case: a model keyed by `id`, a contacts destination upserting by email, email → email.
  const byId = (id: string, email: string | null, extra: Record<string, unknown> = {}): Operation => ({
    op: "upsert",
    key: id,
    fields: { email, firstname: `First${id}`, ...extra },
  });

  it("sends the mapped email as id, keeps the key for results, and reads/archives by the same email", async () => {
    const { ctx, records, state } = setup();
    const outcome = await hubspotConnector.send(
      ctx,
      batchOf([byId("1", "first1@example.com"), byId("2", "first2@example.com"), byId("3", "First3@Example.com")]),
    );
    expect(rowsOf(outcome)).toEqual(
      new Map([
        ["1", { ok: true }],
        ["2", { ok: true }],
        ["3", { ok: true }],
      ]),
    );
    const r = await records();
    expect(Object.keys(r).sort()).toEqual(["First3@Example.com", "first1@example.com", "first2@example.com"]);
    expect(r["first1@example.com"]).toMatchObject({ email: "first1@example.com", firstname: "First1" });
    // A second run updates the same records (HubSpot matched them by email), creating none.
    rowsOf(await hubspotConnector.send(ctx, batchOf([byId("1", "first1@example.com", { firstname: "Again" })])));
    expect(Object.keys(await records())).toHaveLength(3);
    expect((await records())["first1@example.com"]?.firstname).toBe("Again");

    // A delete that carries the email (mirror mode maps the key column to it) is looked up by it.
    const deleted = await hubspotConnector.send(
      ctx,
      batchOf([
        { op: "delete", key: "1", fields: { email: "first1@example.com" } },
        { op: "delete", key: "3", fields: { email: "first3@example.com" } },
      ]),
    );
    expect(rowsOf(deleted)).toEqual(
      new Map([
        ["1", { ok: true }],
        ["3", { ok: true }],
      ]),
    );
    expect(Object.keys(await records())).toEqual(["first2@example.com"]);
    const reads = (await state()).requests.filter((q) => q.path.endsWith("/batch/read"));
    expect(reads.map((q) => q.status)).toEqual([200]);
  });

  it("per-row failures map back to the model's key: HubSpot's INVALID_EMAIL, and a row with no email at all", async () => {
    const { ctx, records } = setup();
    const outcome = await hubspotConnector.send(
      ctx,
      batchOf([byId("1", "first1@example.com"), byId("2", "not-an-email"), byId("3", null), byId("4", "  ")]),
    );
    const results = rowsOf(outcome);
    expect(results.get("1")).toEqual({ ok: true });
    expect(results.get("2")?.error).toMatch(/^VALIDATION_ERROR: .*Email address not-an-email is invalid.*INVALID_EMAIL/);
    expect(results.get("3")?.error).toMatch(/no value for HubSpot's id property "email" in this row/);
    expect(results.get("4")?.error).toMatch(/no value for HubSpot's id property "email"/);
    expect(Object.keys(await records())).toEqual(["first1@example.com"]);
  });

  it("without multi-status, a 400 naming inputs by id (the email) fails those keys and resends the rest", async () => {
    const { ctx } = setup();
    const spy: typeof fetch = async (_input, init) => {
      const body = JSON.parse(String(init?.body)) as { inputs: { id: string }[] };
      if (body.inputs.length === 2) {
        return Response.json(
          {
            status: "error",
            category: "VALIDATION_ERROR",
            message: "bad",
            errors: [{ message: "Email taken", context: { ids: ["B@example.com"] } }],
          },
          { status: 400 },
        );
      }
      return Response.json({ status: "COMPLETE", results: [] });
    };
    const outcome = await hubspotConnector.send({ ...ctx, fetch: spy }, batchOf([byId("1", "a@example.com"), byId("2", "b@example.com")]));
    expect(rowsOf(outcome)).toEqual(
      new Map([
        ["1", { ok: true }],
        ["2", { ok: false, error: "Email taken" }],
      ]),
    );
  });
});

describe("hubspot connector: deletes", () => {
  it("reads record ids by idProperty, archives them, and counts unknown keys as deleted", async () => {
    const { ctx, records, state } = setup({ object_type: "companies", id_property: "external_id" });
    const keys = ["co-1", "co-2", "co-3"];
    rowsOf(await hubspotConnector.send(ctx, batchOf(keys.map((key) => ({ op: "create", key, fields: { name: key, external_id: key } })))));
    const outcome = await hubspotConnector.send(
      ctx,
      batchOf([
        { op: "delete", key: "co-1", fields: {} },
        { op: "upsert", key: "co-4", fields: { name: "new", external_id: "co-4" } },
        { op: "delete", key: "co-3", fields: {} },
        { op: "delete", key: "co-missing", fields: {} },
      ]),
    );
    expect(rowsOf(outcome)).toEqual(
      new Map([
        ["co-1", { ok: true }],
        ["co-4", { ok: true }],
        ["co-3", { ok: true }],
        ["co-missing", { ok: true }],
      ]),
    );
    expect(Object.keys(await records("companies", "external_id")).sort()).toEqual(["co-2", "co-4"]);
    expect((await state()).requests.slice(-3).map((r) => `${r.path} ${r.status}`)).toEqual([
      "/crm/v3/objects/companies/batch/upsert 200",
      "/crm/v3/objects/companies/batch/read 207",
      "/crm/v3/objects/companies/batch/archive 204",
    ]);
  });

  it("matches emails case-insensitively and skips the archive when nothing is found", async () => {
    const { ctx, records, state } = setup();
    rowsOf(
      await hubspotConnector.send(
        ctx,
        batchOf([{ op: "create", key: "Mixed@Example.com", fields: { email: "Mixed@Example.com", lastname: "M" } }]),
      ),
    );
    rowsOf(await hubspotConnector.send(ctx, batchOf([{ op: "delete", key: "mixed@example.com", fields: {} }])));
    expect(await records()).toEqual({});
    rowsOf(await hubspotConnector.send(ctx, batchOf([{ op: "delete", key: "nobody@example.com", fields: {} }])));
    expect((await state()).requests.at(-1)?.path).toBe("/crm/v3/objects/contacts/batch/read");
  });
});

describe("hubspot connector: failures", () => {
  it("429 from the rolling window → retry after the X-HubSpot-RateLimit interval", async () => {
    const { ctx, configure } = setup();
    await configure({ rate_limit: { max: 1, interval_ms: 10_000 } });
    rowsOf(await hubspotConnector.send(ctx, batchOf(contacts(1))));
    const outcome = expectKind(await hubspotConnector.send(ctx, batchOf(contacts(1, 1))), "retry");
    expect(outcome.error).toMatch(/HTTP 429: RATE_LIMIT: You have reached your ten_secondly_rolling limit/);
    expect(outcome.retryAfterSeconds).toBe(10);
  });

  it("429 with Retry-After → retry honouring it", async () => {
    const { ctx, configure } = setup();
    await configure({ rate_limit: { max: 1, interval_ms: 3_000, retry_after: true } });
    rowsOf(await hubspotConnector.send(ctx, batchOf(contacts(1))));
    const outcome = expectKind(await hubspotConnector.send(ctx, batchOf(contacts(1, 1))), "retry");
    expect(outcome.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(outcome.retryAfterSeconds).toBeLessThanOrEqual(3);
  });

  it("reads HubSpot's rate-limit headers", () => {
    expect(
      hubspotRetryAfter(
        new Headers({ "retry-after": "4", "x-hubspot-ratelimit-remaining": "0", "x-hubspot-ratelimit-interval-milliseconds": "10000" }),
      ),
    ).toBe(4);
    expect(hubspotRetryAfter(new Headers({ "x-hubspot-ratelimit-secondly-remaining": "0" }))).toBe(1);
    expect(
      hubspotRetryAfter(new Headers({ "x-hubspot-ratelimit-remaining": "0", "x-hubspot-ratelimit-interval-milliseconds": "10000" })),
    ).toBe(10);
    expect(
      hubspotRetryAfter(new Headers({ "x-hubspot-ratelimit-remaining": "5", "x-hubspot-ratelimit-interval-milliseconds": "10000" })),
    ).toBeUndefined();
  });

  it("tells the limiter what each response says: 429, Retry-After, the advertised allowance and window", () => {
    expect(hubspotRateSignal(200, new Headers())).toEqual({ throttled: false });
    expect(
      hubspotRateSignal(
        200,
        new Headers({
          "x-hubspot-ratelimit-max": "100",
          "x-hubspot-ratelimit-interval-milliseconds": "10000",
          "x-hubspot-ratelimit-remaining": "40",
        }),
      ),
    ).toEqual({ throttled: false, allowedPerSecond: 10, windowMs: 10_000 });
    expect(
      hubspotRateSignal(
        200,
        new Headers({
          "x-hubspot-ratelimit-max": "190",
          "x-hubspot-ratelimit-interval-milliseconds": "10000",
          "x-hubspot-ratelimit-secondly": "5",
        }),
      ),
    ).toEqual({ throttled: false, allowedPerSecond: 5, windowMs: 10_000 });
    expect(hubspotRateSignal(429, new Headers({ "retry-after": "3" }))).toEqual({ throttled: true, retryAfterSeconds: 3 });
    expect(hubspotRateSignal(429, new Headers({ "x-hubspot-ratelimit-secondly-remaining": "0" }))).toEqual({
      throttled: true,
      retryAfterSeconds: 1,
    });
    // A spent rolling window frees gradually: not a pause for every sender.
    expect(
      hubspotRateSignal(429, new Headers({ "x-hubspot-ratelimit-remaining": "0", "x-hubspot-ratelimit-interval-milliseconds": "10000" })),
    ).toEqual({ throttled: true, windowMs: 10_000 });
  });

  it("401 (a wrong private-app token) → auth_failed with HubSpot's message", async () => {
    const { ctx } = setup({}, { access_token: "pat-wrong" });
    expect(expectKind(await hubspotConnector.send(ctx, batchOf(contacts(1))), "auth_failed").error).toMatch(
      /HTTP 401: INVALID_AUTHENTICATION: Authentication credentials not found/,
    );
  });

  it("403 (missing scopes) → auth_failed", async () => {
    const { ctx, configure } = setup();
    await configure({
      faults: [
        { status: 403, body: { status: "error", category: "MISSING_SCOPES", message: "This app hasn't been granted all required scopes" } },
      ],
    });
    expect(expectKind(await hubspotConnector.send(ctx, batchOf(contacts(1))), "auth_failed").error).toMatch(/MISSING_SCOPES/);
  });

  it.each([500, 502, 503, 504])("%i → retry", async (status) => {
    const { ctx, configure } = setup();
    await configure({ faults: [{ status }] });
    expectKind(await hubspotConnector.send(ctx, batchOf(contacts(1))), "retry");
  });

  it("a slow response → retry after timeout_ms", async () => {
    const { ctx, configure } = setup({ timeout_ms: 200 });
    await configure({ faults: [{ delay_ms: 1_500 }] });
    expect(expectKind(await hubspotConnector.send(ctx, batchOf(contacts(1))), "retry").error).toMatch(/no response within 200 ms/);
  });

  it("a failing read before archive → retry", async () => {
    const { ctx, configure } = setup();
    await configure({ faults: [{ status: 502 }] });
    expectKind(await hubspotConnector.send(ctx, batchOf([{ op: "delete", key: "x@example.com", fields: {} }])), "retry");
  });
});

describe("hubspot connector: SSRF, base URL and test()", () => {
  it("ignores api_base unless private destinations are allowed: the token only goes to api.hubapi.com", async () => {
    const { ctx } = setup();
    const urls: string[] = [];
    const spy: typeof fetch = async (input) => {
      urls.push(String(input));
      return Response.json({ status: "error", category: "INVALID_AUTHENTICATION", message: "nope" }, { status: 401 });
    };
    expectKind(await hubspotConnector.send({ ...ctx, allowPrivate: false, fetch: spy }, batchOf(contacts(1))), "auth_failed");
    expect(urls).toEqual(["https://api.hubapi.com/crm/v3/objects/contacts/batch/upsert"]);
  });

  it("does not follow redirects", async () => {
    const { ctx, configure } = setup();
    await configure({ faults: [{ status: 301, headers: { location: "https://evil.example/" } }] });
    expect(expectKind(await hubspotConnector.send(ctx, batchOf(contacts(1))), "rejected").error).toMatch(
      /redirects are not followed: HTTP 301/,
    );
  });

  it("refuses object types that would change the URL path", async () => {
    const { ctx } = setup({ object_type: "contacts/../../oauth" });
    expect(expectKind(await hubspotConnector.send({ ...ctx, fetch: forbiddenFetch }, batchOf(contacts(1))), "rejected").error).toMatch(
      /invalid object type/,
    );
  });

  it("test() checks the token and that id_property is unique", async () => {
    expect(await hubspotConnector.test(setup().ctx)).toEqual({ ok: true });
    expect(await hubspotConnector.test(setup({ object_type: "companies", id_property: "external_id" }).ctx)).toEqual({
      ok: true,
    });
    expect(await hubspotConnector.test(setup({ id_property: "firstname" }).ctx)).toEqual({
      ok: false,
      error: expect.stringMatching(/contacts.firstname does not require unique values/),
    });
    expect(await hubspotConnector.test(setup({ id_property: "no_such_prop" }).ctx)).toEqual({
      ok: false,
      error: expect.stringMatching(/HubSpot has no property no_such_prop on contacts/),
    });
    expect(await hubspotConnector.test(setup({}, { access_token: "pat-wrong" }).ctx)).toEqual({
      ok: false,
      error: expect.stringMatching(/401: INVALID_AUTHENTICATION/),
    });
  });
});
