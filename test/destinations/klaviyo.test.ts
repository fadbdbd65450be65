import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ConnectorContext, Operation } from "../../src/destinations/destination";
import { type KlaviyoConnectorConfig, klaviyoConnector, profileAttributes } from "../../src/destinations/klaviyo/connector";
import { type DestinationCredentials, syncProblems } from "../../src/destinations/registry";
import { batchOf, control, expectKind, rowsOf, stateOf, uniqueName } from "./helpers";

type Credentials = DestinationCredentials<"klaviyo">;

interface AccountState {
  profiles: {
    id: string;
    email?: string;
    external_id?: string;
    attributes: Record<string, unknown>;
    location: Record<string, unknown>;
    properties: Record<string, unknown>;
  }[];
  lists: Record<string, string[]>;
  requests: { method: string; path: string; status: number; size?: number }[];
}

const KEY = "pk_test_klaviyo";

/** A fresh fake account and a context pointing at it (polls every 10 ms). */
function setup(config: Partial<KlaviyoConnectorConfig> = {}, credentials: Credentials = { api_key: KEY }) {
  const account = `${env.KLAVIYO_URL}/t/${uniqueName("acct")}`;
  const ctx: ConnectorContext<KlaviyoConnectorConfig, Credentials> = {
    config: { identifier: "email", list_id: "Y6nRLr", batch_size: 1000, api_base: account, timeout_ms: 5_000, poll_ms: 10, ...config },
    credentials,
    allowPrivate: true,
    fetch,
  };
  const state = () => stateOf<AccountState>(`${account}/_state`);
  return {
    ctx,
    state,
    configure: (body: unknown) => control(`${account}/_config`, body),
    byEmail: async () => Object.fromEntries((await state()).profiles.map((p) => [p.email ?? "", p])),
    calls: async () => (await state()).requests.map((r) => `${r.method} ${r.path.replace(/\/[0-9a-f]{32}/, "/{id}")} ${r.status}`),
  };
}

const people = (n: number, from = 0): Operation[] =>
  Array.from({ length: n }, (_, i) => ({
    op: "upsert",
    key: `u${from + i}`,
    fields: { email: `user${from + i}@example.com`, first_name: `User ${from + i}`, plan: "free" },
  }));

describe("klaviyo connector: bulk import jobs", () => {
  it("imports profiles in one job into the list, polls it to completion, then updates them by email", async () => {
    const { ctx, state, byEmail, calls } = setup();
    const first = await klaviyoConnector.send(
      ctx,
      batchOf([
        {
          op: "create",
          key: "1",
          fields: {
            email: "Ada@Example.com",
            first_name: "Ada",
            "location.city": "London",
            "location.latitude": 51.5,
            plan: "pro",
            vip: true,
          },
        },
        { op: "upsert", key: "2", fields: { email: "bob@example.com", first_name: "Bob", last_name: null, score: 3 } },
      ]),
    );
    expect([...rowsOf(first).values()]).toEqual([{ ok: true }, { ok: true }]);
    // Created 202 queued; the first read says processing (job_polls: 1), the second complete.
    expect(await calls()).toEqual([
      "POST /api/profile-bulk-import-jobs 202",
      "GET /api/profile-bulk-import-jobs/{id} 200",
      "GET /api/profile-bulk-import-jobs/{id} 200",
    ]);
    const second = await klaviyoConnector.send(
      ctx,
      batchOf([{ op: "update", key: "1", fields: { email: "ada@example.com", first_name: "Augusta Ada", plan: null } }]),
    );
    expect(rowsOf(second).get("1")).toEqual({ ok: true });
    const profiles = await byEmail();
    expect(Object.keys(profiles).sort()).toEqual(["ada@example.com", "bob@example.com"]);
    expect(profiles["ada@example.com"]).toMatchObject({
      attributes: { first_name: "Augusta Ada" },
      location: { city: "London", latitude: 51.5 },
      // A bulk import cannot clear a value: the null is left out and the old value stays.
      properties: { plan: "pro", vip: true },
    });
    expect(profiles["bob@example.com"]).toMatchObject({ attributes: { first_name: "Bob" }, properties: { score: 3 } });
    const members = (await state()).lists.Y6nRLr ?? [];
    expect(members.sort()).toEqual([profiles["ada@example.com"]?.id, profiles["bob@example.com"]?.id].sort());
  });

  it("builds Klaviyo's profile shape: standard attributes as text, location nested, the rest as properties, nulls out", () => {
    expect(
      profileAttributes({
        email: "a@b.co",
        external_id: 42,
        "location.zip": "N1",
        "properties.tier": "gold",
        tags: ["x"],
        title: null,
      }),
    ).toEqual({ email: "a@b.co", external_id: "42", location: { zip: "N1" }, properties: { tier: "gold", tags: ["x"] } });
  });

  it("fails the rows Klaviyo's import errors name (every page), and rows without the identifier before sending", async () => {
    const { ctx, configure, byEmail, state } = setup();
    await configure({ page_cap: 1 });
    const outcome = await klaviyoConnector.send(
      ctx,
      batchOf([
        ...people(2),
        { op: "upsert", key: "bad-email", fields: { email: "not-an-address", first_name: "X" } },
        { op: "upsert", key: "bad-phone", fields: { email: "p@example.com", phone_number: "555-0100" } },
        { op: "upsert", key: "no-email", fields: { first_name: "Nobody", email: null } },
      ]),
    );
    const rows = rowsOf(outcome);
    expect(rows.get("u0")).toEqual({ ok: true });
    expect(rows.get("u1")).toEqual({ ok: true });
    expect(rows.get("bad-email")).toEqual({ ok: false, error: "invalid: Invalid email address" });
    expect(rows.get("bad-phone")?.error).toMatch(/^invalid: Invalid phone number format/);
    expect(rows.get("no-email")?.error).toMatch(/no value for "email" in this row/);
    expect(Object.keys(await byEmail()).sort()).toEqual(["user0@example.com", "user1@example.com"]);
    // Two errors at one per page: two pages read; the row without email never left.
    const requests = (await state()).requests;
    expect(requests.filter((r) => r.path.includes("/import-errors"))).toHaveLength(2);
    expect(requests[0]?.size).toBe(4);
  });

  it("a 400 naming a profile creates no job: that row fails and the others go again", async () => {
    const { ctx, calls, byEmail } = setup();
    const outcome = await klaviyoConnector.send(
      ctx,
      batchOf([...people(2), { op: "upsert", key: "where", fields: { email: "w@example.com", "location.latitude": "north" } }]),
    );
    const rows = rowsOf(outcome);
    expect(rows.get("where")).toEqual({ ok: false, error: "invalid: 'north' is not a valid latitude." });
    expect(rows.get("u0")).toEqual({ ok: true });
    expect((await calls()).slice(0, 2)).toEqual(["POST /api/profile-bulk-import-jobs 400", "POST /api/profile-bulk-import-jobs 202"]);
    expect(Object.keys(await byEmail()).sort()).toEqual(["user0@example.com", "user1@example.com"]);
  });

  it("keeps each job under 5 MB (more jobs for big rows) and fails a profile over 100 KB on its own", async () => {
    const { ctx, state } = setup();
    const big = "x".repeat(90_000);
    const ops: Operation[] = Array.from({ length: 60 }, (_, i) => ({
      op: "upsert",
      key: `b${i}`,
      fields: { email: `big${i}@example.com`, notes: big },
    }));
    ops.push({ op: "upsert", key: "huge", fields: { email: "huge@example.com", notes: "y".repeat(120_000) } });
    const rows = rowsOf(await klaviyoConnector.send(ctx, batchOf(ops)));
    expect(rows.get("huge")?.error).toMatch(/Klaviyo accepts at most 102400 per profile/);
    expect([...rows.values()].filter((r) => r.ok)).toHaveLength(60);
    const jobs = (await state()).requests.filter((r) => r.method === "POST");
    expect(jobs.map((j) => j.size)).toEqual([58, 2]);
    expect((await state()).profiles).toHaveLength(60);
  });

  it("a batch whose job was created but not read back (5xx) is a retry, and sending it again makes no duplicates", async () => {
    const { ctx, configure, state } = setup();
    await configure({ faults: [{ status: 503, path: "/api/profile-bulk-import-jobs/" }] });
    expectKind(await klaviyoConnector.send(ctx, batchOf(people(3))), "retry");
    const again = await klaviyoConnector.send(ctx, batchOf(people(3)));
    expect([...rowsOf(again).values()].every((r) => r.ok)).toBe(true);
    const after = await state();
    expect(after.profiles.map((p) => p.email).sort()).toEqual(["user0@example.com", "user1@example.com", "user2@example.com"]);
    expect(after.lists.Y6nRLr).toHaveLength(3);
    expect(after.requests.filter((r) => r.method === "POST")).toHaveLength(2);
  });

  it("a job still processing when the wait ends is a retry (resending an upsert is absorbed)", async () => {
    const { ctx, configure } = setup({ poll_timeout_ms: 200 });
    await configure({ stuck: true });
    const outcome = expectKind(await klaviyoConnector.send(ctx, batchOf(people(3))), "retry");
    expect(outcome.error).toMatch(/import job \w+ is still processing/);
  });
});

describe("klaviyo connector: mirror deletes leave the list", () => {
  it("removes the profiles of deleted rows from the list, by the key when the row carries no identifier; unknown ones are already gone", async () => {
    const { ctx, state } = setup({ identifier: "external_id" });
    const ops: Operation[] = Array.from({ length: 4 }, (_, i) => ({
      op: "create",
      key: `k${i}`,
      fields: { external_id: `k${i}`, email: `k${i}@example.com` },
    }));
    expect([...rowsOf(await klaviyoConnector.send(ctx, batchOf(ops))).values()].every((r) => r.ok)).toBe(true);
    const outcome = await klaviyoConnector.send(
      ctx,
      batchOf([
        { op: "delete", key: "k1", fields: {} },
        { op: "delete", key: "k2", fields: {} },
        { op: "delete", key: "never-there", fields: {} },
      ]),
    );
    expect([...rowsOf(outcome).values()]).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    const after = await state();
    const idOf = (ext: string) => after.profiles.find((p) => p.external_id === ext)?.id;
    expect((after.lists.Y6nRLr ?? []).sort()).toEqual([idOf("k0"), idOf("k3")].sort());
    // Profiles are kept: mirror means list membership.
    expect(after.profiles).toHaveLength(4);
    const lookups = after.requests.filter((r) => r.path.startsWith("/api/profiles?"));
    expect(decodeURIComponent(lookups[0]?.path ?? "")).toContain('filter=any(external_id,["k1","k2","never-there"])');
    expect(after.requests.at(-1)).toMatchObject({ method: "DELETE", path: "/api/lists/Y6nRLr/relationships/profiles", size: 2 });
  });

  it("without list_id a delete fails its row (the sync would have been refused at save)", async () => {
    const { ctx } = setup({ list_id: undefined });
    const rows = rowsOf(await klaviyoConnector.send(ctx, batchOf([{ op: "delete", key: "a@example.com", fields: {} }])));
    expect(rows.get("a@example.com")?.error).toMatch(/list_id, which is not set/);
  });

  it("validateSync: identifier mapped; mirror needs list_id and the key on the identifier", () => {
    const sync = (mode: "upsert" | "mirror", source = "id") => ({
      mappings: [{ source, destination: "external_id" }],
      mode,
      primaryKey: "id",
    });
    expect(syncProblems("klaviyo", { identifier: "external_id" }, sync("upsert"))).toEqual([]);
    expect(syncProblems("klaviyo", { identifier: "email" }, sync("upsert"))[0]?.message).toMatch(/identifier "email" must be mapped/);
    expect(syncProblems("klaviyo", { identifier: "external_id" }, sync("mirror"))).toEqual([
      { path: "mode", message: expect.stringMatching(/has no list_id: set config.list_id on the destination, or use upsert mode/) },
    ]);
    expect(syncProblems("klaviyo", { identifier: "external_id", list_id: "Y6nRLr" }, sync("mirror"))).toEqual([]);
    expect(syncProblems("klaviyo", { identifier: "external_id", list_id: "Y6nRLr" }, sync("mirror", "email"))[0]?.path).toBe(
      "field_mappings.0.source",
    );
  });
});

describe("klaviyo connector: failures, limits and description", () => {
  it("429 with Retry-After and 5xx are retries; 401 and a missing scope are auth failures", async () => {
    const { ctx, configure } = setup();
    await configure({
      faults: [{ status: 429, retry_after: "7", body: { errors: [{ code: "throttled", detail: "Request was throttled." }] } }],
    });
    expect(expectKind(await klaviyoConnector.send(ctx, batchOf(people(1))), "retry")).toMatchObject({
      retryAfterSeconds: 7,
      error: "HTTP 429: throttled: Request was throttled.",
    });
    await configure({ faults: [{ status: 503, path: "/api/profile-bulk-import-jobs/" }] });
    expect(expectKind(await klaviyoConnector.send(ctx, batchOf(people(1))), "retry").error).toMatch(/^HTTP 503/);
    await configure({ scopes: ["profiles:read", "profiles:write"] });
    expect(expectKind(await klaviyoConnector.send(ctx, batchOf(people(1))), "auth_failed").error).toMatch(/Missing scope: lists:write/);
    const wrong = setup({}, { api_key: "pk_wrong" });
    expect(expectKind(await klaviyoConnector.send(wrong.ctx, batchOf(people(1))), "auth_failed").error).toMatch(
      /^HTTP 401: not_authenticated/,
    );
  });

  it("the account's burst limit answers 429 with Retry-After, which the connector passes on", async () => {
    const { ctx, configure } = setup();
    await configure({ rate_limit: { burst: 2, steady: 150 } });
    // Create, one read (processing): the third call, the second read, is over the burst.
    const outcome = expectKind(await klaviyoConnector.send(ctx, batchOf(people(1))), "retry");
    expect(outcome).toMatchObject({ retryAfterSeconds: 1 });
    expect(outcome.error).toMatch(/throttled/);
  });

  it("test() reads the list; fields() lists the standard attributes with the identifier flagged", async () => {
    const { ctx } = setup();
    expect(await klaviyoConnector.test(ctx)).toEqual({ ok: true });
    expect(await klaviyoConnector.test({ ...ctx, config: { ...ctx.config, list_id: "Nope12" } })).toEqual({
      ok: false,
      error: expect.stringMatching(/Klaviyo has no list Nope12/),
    });
    expect(await klaviyoConnector.test({ ...ctx, credentials: { api_key: "pk_wrong" } })).toMatchObject({ ok: false });
    const fields = await klaviyoConnector.fields?.({ ...ctx, config: { ...ctx.config, identifier: "external_id" } });
    expect(fields?.ok).toBe(true);
    if (!fields?.ok) return;
    expect(fields.fields.filter((f) => f.identifier).map((f) => f.name)).toEqual(["external_id"]);
    expect(fields.fields.map((f) => f.name)).toEqual(expect.arrayContaining(["email", "phone_number", "first_name", "location.city"]));
    expect(fields.fields.find((f) => f.name === "location.latitude")?.type).toBe("number");
  });
});
