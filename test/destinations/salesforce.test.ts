import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DestinationCredentials } from "../../src/destinations/registry";
import type { ConnectorContext, Operation } from "../../src/destinations/destination";
import {
  SALESFORCE_QUOTA_WAIT_SECONDS,
  salesforceApiUsage,
  salesforceConnector,
  salesforceQuotaWait,
  soqlString,
  type SalesforceConnectorConfig,
} from "../../src/destinations/salesforce/connector";
import { batchOf, control, expectKind, forbiddenFetch, rowsOf, stateOf, uniqueName } from "./helpers";

type Credentials = DestinationCredentials<"salesforce">;

interface OrgState {
  records: Record<string, Record<string, unknown>[]>;
  requests: { method: string; path: string; size?: number; status: number }[];
  tokens_issued: number;
  access_token: string;
}

const TOKEN = "sf-test-token";
const REFRESH: Credentials = { refresh_token: "sf-refresh-token", client_id: "sf-client-id", client_secret: "sf-client-secret" };

/** A fresh fake org and a context pointing at it. */
function setup(config: Partial<SalesforceConnectorConfig> = {}, credentials: Credentials = { access_token: TOKEN }) {
  const org = `${env.SALESFORCE_URL}/t/${uniqueName("org")}`;
  const ctx: ConnectorContext<SalesforceConnectorConfig, Credentials> = {
    config: {
      instance_url: org,
      object: "Contact",
      external_id_field: "External_Id__c",
      api_version: "v60.0",
      batch_size: 200,
      timeout_ms: 5_000,
      ...config,
    },
    credentials,
    allowPrivate: true,
    fetch,
  };
  const state = () => stateOf<OrgState>(`${org}/_state`);
  return {
    ctx,
    org,
    state,
    configure: (body: unknown) => control(`${org}/_config`, body),
    contacts: async () => Object.fromEntries(((await state()).records.Contact ?? []).map((r) => [String(r.External_Id__c), r])),
  };
}

const upserts = (n: number, from = 0): Operation[] =>
  Array.from({ length: n }, (_, i) => ({
    op: "upsert",
    key: `ext-${from + i}`,
    fields: { LastName: `Name ${from + i}`, Email: `u${from + i}@example.com` },
  }));

describe("salesforce connector: upserts", () => {
  it("upserts by external id through sObject Collections, creating then updating", async () => {
    const { ctx, state, contacts } = setup();
    const first = await salesforceConnector.send(
      ctx,
      batchOf([
        { op: "create", key: "c-1", fields: { LastName: "Lovelace", Email: "ada@example.com" } },
        { op: "upsert", key: "c-2", fields: { LastName: "Hopper", Email: null } },
      ]),
    );
    expect([...rowsOf(first).values()]).toEqual([{ ok: true }, { ok: true }]);
    const second = await salesforceConnector.send(ctx, batchOf([{ op: "update", key: "c-1", fields: { LastName: "Lovelace-King" } }]));
    expect(rowsOf(second).get("c-1")).toEqual({ ok: true });
    const rows = await contacts();
    expect(rows["c-1"]).toMatchObject({ LastName: "Lovelace-King", Email: "ada@example.com", External_Id__c: "c-1" });
    expect(rows["c-2"]).toMatchObject({ LastName: "Hopper", Email: null });
    const s = await state();
    expect(s.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "PATCH /services/data/v60.0/composite/sobjects/Contact/External_Id__c",
      "PATCH /services/data/v60.0/composite/sobjects/Contact/External_Id__c",
    ]);
  });

  it("reports per-record errors with Salesforce's status code and message, and saves the rest", async () => {
    const { ctx, configure, contacts } = setup();
    await configure({ required_fields: ["LastName"] });
    const outcome = await salesforceConnector.send(
      ctx,
      batchOf([
        { op: "upsert", key: "ok-1", fields: { LastName: "Fine" } },
        { op: "upsert", key: "bad-value", fields: { LastName: "X", Email: "INVALID" } },
        { op: "create", key: "no-name", fields: { Email: "n@example.com" } },
        { op: "upsert", key: "ok-2", fields: { LastName: "Also fine" } },
      ]),
    );
    const results = rowsOf(outcome);
    expect(results.get("ok-1")).toEqual({ ok: true });
    expect(results.get("ok-2")).toEqual({ ok: true });
    expect(results.get("bad-value")).toEqual({
      ok: false,
      error: 'FIELD_CUSTOM_VALIDATION_EXCEPTION: Email: value "INVALID" is not allowed (fields: Email)',
    });
    expect(results.get("no-name")).toEqual({
      ok: false,
      error: "REQUIRED_FIELD_MISSING: Required fields are missing: [LastName] (fields: LastName)",
    });
    expect(Object.keys(await contacts()).sort()).toEqual(["ok-1", "ok-2"]);
  });

  it("caps batches at 200 records, the Collections limit the org enforces", async () => {
    const { ctx, org, contacts } = setup({ batch_size: 200 });
    expect(salesforceConnector.maxBatchSize({ ...ctx.config, batch_size: 500 })).toBe(200);
    expect(salesforceConnector.maxBatchSize({ ...ctx.config, batch_size: 50 })).toBe(50);
    const full = await salesforceConnector.send(ctx, batchOf(upserts(200)));
    expect(rowsOf(full).size).toBe(200);
    expect(Object.keys(await contacts())).toHaveLength(200);
    // The org refuses 201 records in one call; the connector never sends that many.
    const res = await fetch(`${org}/services/data/v60.0/composite/sobjects/Contact/External_Id__c`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({
        allOrNone: false,
        records: upserts(201).map((o) => ({ attributes: { type: "Contact" }, External_Id__c: o.key })),
      }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual([expect.objectContaining({ errorCode: "EXCEEDED_ID_LIMIT" })]);
    const over = await salesforceConnector.send({ ...ctx, fetch: forbiddenFetch }, batchOf(upserts(201)));
    expect(expectKind(over, "rejected").error).toMatch(/at most 200/);
  });
});

describe("salesforce connector: deletes", () => {
  it("looks records up by external id, deletes them, and counts unknown keys as deleted", async () => {
    const { ctx, configure, contacts, state } = setup();
    await configure({ query_page_size: 2, undeletable: ["keep-me"] });
    const keys = ["d-1", "d-2", "D-3", 'O\'Brien \\ "quoted"', "keep-me"];
    rowsOf(await salesforceConnector.send(ctx, batchOf(keys.map((key) => ({ op: "create", key, fields: { LastName: key } })))));
    const outcome = await salesforceConnector.send(
      ctx,
      batchOf([
        { op: "delete", key: "d-1", fields: {} },
        { op: "upsert", key: "d-4", fields: { LastName: "new" } },
        { op: "delete", key: "d-2", fields: {} },
        { op: "delete", key: "d-3", fields: {} }, // external ids match case-insensitively
        { op: "delete", key: 'O\'Brien \\ "quoted"', fields: {} },
        { op: "delete", key: "never-existed", fields: {} },
        { op: "delete", key: "keep-me", fields: {} },
      ]),
    );
    const results = rowsOf(outcome);
    expect([...results.keys()]).toEqual(["d-1", "d-4", "d-2", "d-3", 'O\'Brien \\ "quoted"', "never-existed", "keep-me"]);
    for (const key of ["d-1", "d-4", "d-2", "d-3", 'O\'Brien \\ "quoted"', "never-existed"])
      expect(results.get(key), key).toEqual({ ok: true });
    expect(results.get("keep-me")?.error).toMatch(/^DELETE_FAILED: /);
    expect(Object.keys(await contacts()).sort()).toEqual(["d-4", "keep-me"]);
    // Query (paged by nextRecordsUrl, 2 records a page), then one DELETE with the ids.
    const paths = (await state()).requests.map((r) => `${r.method} ${r.path.replace(/\/query\/.*/, "/query/…")}`);
    expect(paths.slice(-5)).toEqual([
      "PATCH /services/data/v60.0/composite/sobjects/Contact/External_Id__c",
      "GET /services/data/v60.0/query",
      "GET /services/data/v60.0/query/…",
      "GET /services/data/v60.0/query/…",
      "DELETE /services/data/v60.0/composite/sobjects",
    ]);
  });

  it("treats a record deleted in between (ENTITY_IS_DELETED) as deleted", async () => {
    const { ctx } = setup();
    let calls = 0;
    // The lookup finds an id, the DELETE answers that it is already gone.
    const racing: typeof fetch = async (input, init) => {
      calls++;
      const url = String(input);
      if (url.includes("/query")) {
        return Response.json({
          totalSize: 1,
          done: true,
          records: [{ attributes: { type: "Contact" }, Id: "003000000000000001", External_Id__c: "gone" }],
        });
      }
      expect(init?.method).toBe("DELETE");
      expect(url).toContain("ids=003000000000000001&allOrNone=false");
      return Response.json([
        {
          id: "003000000000000001",
          success: false,
          errors: [{ statusCode: "ENTITY_IS_DELETED", message: "entity is deleted", fields: [] }],
        },
      ]);
    };
    const outcome = await salesforceConnector.send({ ...ctx, fetch: racing }, batchOf([{ op: "delete", key: "gone", fields: {} }]));
    expect(rowsOf(outcome).get("gone")).toEqual({ ok: true });
    expect(calls).toBe(2);
  });

  it("escapes external ids as SOQL string literals", () => {
    expect(soqlString("O'Brien")).toBe("'O\\'Brien'");
    expect(soqlString('a\\b\n"c"')).toBe("'a\\\\b\\n\\\"c\\\"'");
  });
});

describe("salesforce connector: auth", () => {
  it("refreshes an expired access token once with the refresh token, retries, and reuses the new token", async () => {
    const { ctx, state, contacts } = setup({}, { access_token: "expired-token", ...REFRESH });
    const outcome = await salesforceConnector.send(ctx, batchOf(upserts(2)));
    expect([...rowsOf(outcome).values()].every((r) => r.ok)).toBe(true);
    expect(Object.keys(await contacts())).toHaveLength(2);
    rowsOf(await salesforceConnector.send(ctx, batchOf(upserts(1, 10))));
    const s = await state();
    expect(s.tokens_issued).toBe(1);
    expect(s.requests.map((r) => r.status)).toEqual([401, 200, 200]);
  });

  it("gets a first access token from the refresh token when none is given", async () => {
    const { ctx, state } = setup({}, REFRESH);
    rowsOf(await salesforceConnector.send(ctx, batchOf(upserts(1))));
    expect((await state()).tokens_issued).toBe(1);
  });

  it("401 INVALID_SESSION_ID without refresh credentials → auth_failed", async () => {
    const { ctx } = setup({}, { access_token: "wrong" });
    const outcome = expectKind(await salesforceConnector.send(ctx, batchOf(upserts(1))), "auth_failed");
    expect(outcome.error).toBe("HTTP 401: INVALID_SESSION_ID: Session expired or invalid");
  });

  it("a refused refresh (invalid_grant) → auth_failed", async () => {
    const { ctx } = setup({}, { access_token: "expired", ...REFRESH, client_secret: "revoked" });
    const outcome = expectKind(await salesforceConnector.send(ctx, batchOf(upserts(1))), "auth_failed");
    expect(outcome.error).toMatch(/refreshing the access token failed: HTTP 400: invalid_grant: expired access\/refresh token/);
  });

  it("403 other than the API limit → auth_failed", async () => {
    const { ctx, configure } = setup();
    await configure({
      faults: [
        { status: 403, body: [{ errorCode: "API_DISABLED_FOR_ORG", message: "API is not enabled for this Organization or Partner" }] },
      ],
    });
    expect(expectKind(await salesforceConnector.send(ctx, batchOf(upserts(1))), "auth_failed").error).toMatch(/API_DISABLED_FOR_ORG/);
  });
});

describe("salesforce connector: transient failures", () => {
  it("429 beyond the org's request rate → retry with Retry-After", async () => {
    const { ctx, configure } = setup();
    await configure({ rate_limit: { max: 1, interval_ms: 3_000 } });
    rowsOf(await salesforceConnector.send(ctx, batchOf(upserts(1))));
    const outcome = expectKind(await salesforceConnector.send(ctx, batchOf(upserts(1, 1))), "retry");
    expect(outcome.error).toMatch(/REQUEST_LIMIT_EXCEEDED/);
    expect(outcome.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(outcome.retryAfterSeconds).toBeLessThanOrEqual(3);
  });

  it("403 REQUEST_LIMIT_EXCEEDED for concurrent long-running requests → retry (it passes in seconds)", async () => {
    const { ctx, configure } = setup();
    await configure({
      faults: [{ status: 403, body: [{ errorCode: "REQUEST_LIMIT_EXCEEDED", message: "ConcurrentPerOrgLongTxn Limit exceeded." }] }],
    });
    expect(expectKind(await salesforceConnector.send(ctx, batchOf(upserts(1))), "retry").error).toMatch(
      /HTTP 403: REQUEST_LIMIT_EXCEEDED: ConcurrentPerOrgLongTxn/,
    );
  });

  it.each([500, 502, 503])("%i → retry", async (status) => {
    const { ctx, configure } = setup();
    await configure({ faults: [{ status, retry_after: "5" }] });
    const outcome = expectKind(await salesforceConnector.send(ctx, batchOf(upserts(1))), "retry");
    expect(outcome.retryAfterSeconds).toBe(5);
  });

  it("a transient failure of the delete lookup → retry of the whole batch", async () => {
    const { ctx, configure } = setup();
    await configure({ faults: [{ delay_ms: 0 }, { status: 503 }] });
    const outcome = await salesforceConnector.send(ctx, batchOf([...upserts(1), { op: "delete", key: "x", fields: {} }]));
    expectKind(outcome, "retry");
  });

  it("a slow response → retry after timeout_ms", async () => {
    const { ctx, configure } = setup({ timeout_ms: 200 });
    await configure({ faults: [{ delay_ms: 1_500 }] });
    expect(expectKind(await salesforceConnector.send(ctx, batchOf(upserts(1))), "retry").error).toMatch(/no response within 200 ms/);
  });

  it("a bad request (unknown external id field) → rejected with Salesforce's message", async () => {
    const { ctx } = setup({ external_id_field: "Nope__c" });
    expect(expectKind(await salesforceConnector.send(ctx, batchOf(upserts(1))), "rejected").error).toMatch(
      /HTTP 400: INVALID_FIELD: Provided external ID field does not exist or is not accessible: Nope__c/,
    );
  });
});

describe("salesforce connector: SSRF and config", () => {
  it("refuses a private instance when private destinations are not allowed, and plain http", async () => {
    const { ctx } = setup();
    const refused = await salesforceConnector.send({ ...ctx, allowPrivate: false, fetch: forbiddenFetch }, batchOf(upserts(1)));
    expect(expectKind(refused, "rejected").error).toMatch(/must be https/);
    const metadata = await salesforceConnector.send(
      { ...ctx, config: { ...ctx.config, instance_url: "https://169.254.169.254" }, allowPrivate: false, fetch: forbiddenFetch },
      batchOf(upserts(1)),
    );
    expect(expectKind(metadata, "rejected").error).toMatch(/destination URL refused: .*link-local/);
  });

  it("does not follow redirects", async () => {
    const { ctx, configure } = setup();
    await configure({ faults: [{ status: 302, headers: { location: "http://169.254.169.254/" } }] });
    expect(expectKind(await salesforceConnector.send(ctx, batchOf(upserts(1))), "rejected").error).toMatch(
      /redirects are not followed: HTTP 302 to http:\/\/169\.254\.169\.254\//,
    );
  });

  it("refuses object and field names that are not API names before any request", async () => {
    const { ctx } = setup({ object: "Contact/../../x" });
    expect(expectKind(await salesforceConnector.send({ ...ctx, fetch: forbiddenFetch }, batchOf(upserts(1))), "rejected").error).toMatch(
      /invalid sObject/,
    );
  });

  it("test() checks the object and that the field is an External ID", async () => {
    expect(await salesforceConnector.test(setup().ctx)).toEqual({ ok: true });
    expect(await salesforceConnector.test(setup({ object: "Widget__c" }).ctx)).toEqual({
      ok: false,
      error: expect.stringMatching(/sObject Widget__c not found/),
    });
    expect(await salesforceConnector.test(setup({ external_id_field: "Email" }).ctx)).toEqual({
      ok: false,
      error: expect.stringMatching(/Contact.Email is not an External ID field/),
    });
    expect(await salesforceConnector.test(setup({}, { access_token: "wrong" }).ctx)).toEqual({
      ok: false,
      error: expect.stringMatching(/INVALID_SESSION_ID/),
    });
  });
});

describe("salesforce connector: the org's daily API limit", () => {
  it("403 REQUEST_LIMIT_EXCEEDED with Sforce-Limit-Info at the limit → quota_exhausted, waiting an hour", async () => {
    const { ctx, configure, state } = setup();
    await configure({ daily_limit: { max: 5000, used: 5000 } });
    const outcome = expectKind(await salesforceConnector.send(ctx, batchOf(upserts(2))), "quota_exhausted");
    expect(outcome.error).toMatch(/^HTTP 403: REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded\./);
    expect(outcome.retryAfterSeconds).toBe(SALESFORCE_QUOTA_WAIT_SECONDS);
    expect(outcome.retryAfterSeconds).toBe(3600);
    expect((await state()).requests.map((r) => r.status)).toEqual([403]);
    // The deletes' lookup meets the same limit.
    expectKind(await salesforceConnector.send(ctx, batchOf([{ op: "delete", key: "k1", fields: {} }])), "quota_exhausted");
  });

  it("the fake counts every call against the allocation and says so in Sforce-Limit-Info, as Salesforce does", async () => {
    const { ctx, configure, org } = setup();
    await configure({ daily_limit: { max: 3, used: 1 } });
    rowsOf(await salesforceConnector.send(ctx, batchOf(upserts(1))));
    const res = await fetch(`${org}/services/data/v60.0/sobjects/Contact/describe`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.headers.get("sforce-limit-info")).toBe("api-usage=3/3");
    await res.body?.cancel();
    expectKind(await salesforceConnector.send(ctx, batchOf(upserts(1, 1))), "quota_exhausted");
  });

  it("reads Sforce-Limit-Info: room again → no wait beyond the backoff; at the limit or unknown → an hour; Retry-After wins", () => {
    expect(salesforceApiUsage(new Headers({ "sforce-limit-info": "api-usage=10018/100000" }))).toEqual({ used: 10018, limit: 100000 });
    expect(salesforceApiUsage(new Headers({ "sforce-limit-info": "api-usage=25/5000; per-app-api-usage=17/250(appName=sample)" }))).toEqual(
      {
        used: 25,
        limit: 5000,
      },
    );
    expect(salesforceApiUsage(new Headers())).toBeUndefined();
    expect(salesforceQuotaWait(new Headers({ "sforce-limit-info": "api-usage=99990/100000" }))).toBe(0);
    expect(salesforceQuotaWait(new Headers({ "sforce-limit-info": "api-usage=100000/100000" }))).toBe(3600);
    expect(salesforceQuotaWait(new Headers())).toBe(3600);
    expect(salesforceQuotaWait(new Headers({ "sforce-limit-info": "api-usage=100000/100000", "retry-after": "120" }))).toBe(120);
  });
});
