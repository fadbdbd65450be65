import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Batch, ConnectorContext, Operation } from "../../src/destinations/destination";
import {
  contactBody,
  type IntercomConnectorConfig,
  intercomConnector,
  intercomRateSignal,
  intercomRetryAfter,
} from "../../src/destinations/intercom/connector";
import { intercom } from "../../src/destinations/intercom";
import { type DestinationCredentials, parseConfig, syncProblems } from "../../src/destinations/registry";
import { batchOf, control, expectKind, rowsOf, stateOf, uniqueName } from "./helpers";

type Credentials = DestinationCredentials<"intercom">;

interface Contact {
  id: string;
  role: string;
  external_id: string | null;
  email: string | null;
  archived: boolean;
  custom_attributes: Record<string, unknown>;
  [attribute: string]: unknown;
}
interface WorkspaceState {
  contacts: Contact[];
  requests: { method: string; path: string; status: number; version?: string }[];
}

const TOKEN = "intercom-test-token";

/** A fresh fake workspace and a context pointing at it. */
function setup(config: Partial<IntercomConnectorConfig> = {}, credentials: Credentials = { access_token: TOKEN }) {
  const workspace = `${env.INTERCOM_URL}/t/${uniqueName("ws")}`;
  const ctx: ConnectorContext<IntercomConnectorConfig, Credentials> = {
    config: { region: "us", role: "user", batch_size: 20, api_base: workspace, timeout_ms: 5_000, ...config },
    credentials,
    allowPrivate: true,
    fetch,
  };
  const state = () => stateOf<WorkspaceState>(`${workspace}/_state`);
  return {
    ctx,
    state,
    configure: (body: unknown) => control(`${workspace}/_config`, body),
    byExternalId: async () => Object.fromEntries((await state()).contacts.map((c) => [c.external_id ?? "", c])),
    calls: async () =>
      (await state()).requests.map((r) => `${r.method} ${r.path.replace(/\/contacts\/\w{24}/, "/contacts/{id}")} ${r.status}`),
  };
}

const users = (n: number, from = 0): Operation[] =>
  Array.from({ length: n }, (_, i) => ({
    op: "upsert",
    key: `k${from + i}`,
    fields: { external_id: `k${from + i}`, email: `user${from + i}@example.com`, name: `User ${from + i}`, plan: "free" },
  }));

/** A batch of a sync in the `update` mode (not yet a SyncMode: see the connector's updateOnly). */
const updateOnly = (operations: Operation[]): Batch => ({ ...batchOf(operations), mode: "update" as unknown as Batch["mode"] });

describe("intercom connector: contacts by external_id", () => {
  it("creates contacts the search does not find, then updates them in place; custom attributes and timestamps as Intercom takes them", async () => {
    const { ctx, byExternalId, calls, state } = setup();
    const first = await intercomConnector.send(
      ctx,
      batchOf([
        {
          op: "create",
          key: "7",
          fields: { external_id: 7, email: "ada@example.com", name: "Ada", plan: "pro", signed_up_at: "2024-01-02T03:04:05Z" },
        },
      ]),
    );
    expect(rowsOf(first).get("7")).toEqual({ ok: true });
    const second = await intercomConnector.send(
      ctx,
      batchOf([{ op: "update", key: "7", fields: { external_id: "7", name: "Augusta Ada", score: 12, plan: null } }]),
    );
    expect(rowsOf(second).get("7")).toEqual({ ok: true });
    const contacts = await byExternalId();
    expect(Object.keys(contacts)).toEqual(["7"]);
    expect(contacts["7"]).toMatchObject({
      role: "user",
      email: "ada@example.com",
      name: "Augusta Ada",
      signed_up_at: 1704164645,
      custom_attributes: { plan: null, score: 12 },
    });
    expect(await calls()).toEqual([
      "POST /contacts/search 200",
      "POST /contacts 200",
      "POST /contacts/search 200",
      "PUT /contacts/{id} 200",
    ]);
    expect(new Set((await state()).requests.map((r) => r.version))).toEqual(new Set(["2.11"]));
  });

  it("a create Intercom already has (search lags new contacts) updates that contact: a resent batch never duplicates", async () => {
    const { ctx, configure, byExternalId, calls } = setup();
    await configure({ search_lag: true });
    expect([...rowsOf(await intercomConnector.send(ctx, batchOf(users(2)))).values()]).toEqual([{ ok: true }, { ok: true }]);
    const again = users(2).map((op) => ({ ...op, fields: { ...op.fields, plan: "pro" } }));
    expect([...rowsOf(await intercomConnector.send(ctx, batchOf(again))).values()]).toEqual([{ ok: true }, { ok: true }]);
    const contacts = await byExternalId();
    expect(Object.keys(contacts).sort()).toEqual(["k0", "k1"]);
    expect(contacts.k0?.custom_attributes).toEqual({ plan: "pro" });
    // The second send: each row searched (not found yet), created (409: it exists) and updated; rows run concurrently.
    expect((await calls()).slice(-6).sort()).toEqual([
      "POST /contacts 409",
      "POST /contacts 409",
      "POST /contacts/search 200",
      "POST /contacts/search 200",
      "PUT /contacts/{id} 200",
      "PUT /contacts/{id} 200",
    ]);
  });

  it("a batch failed midway (5xx) and sent again writes each contact once, even while search lags", async () => {
    const { ctx, configure, byExternalId } = setup();
    await intercomConnector.send(ctx, batchOf(users(2)));
    await configure({ search_lag: true, faults: [{ status: 502, route: "PUT" }] });
    expectKind(await intercomConnector.send(ctx, batchOf(users(6))), "retry");
    // Some rows of the failed attempt were created: the resend finds them through the 409.
    expect(Object.keys(await byExternalId()).length).toBeGreaterThan(2);
    const again = await intercomConnector.send(ctx, batchOf(users(6)));
    expect([...rowsOf(again).values()].every((r) => r.ok)).toBe(true);
    expect(Object.keys(await byExternalId()).sort()).toEqual(["k0", "k1", "k2", "k3", "k4", "k5"]);
  });

  it("in update mode a missing contact is a not_found row and nothing is created; existing ones are updated", async () => {
    const { ctx, byExternalId } = setup();
    await intercomConnector.send(ctx, batchOf(users(1)));
    const outcome = expectKind(
      await intercomConnector.send(
        ctx,
        updateOnly([
          { op: "update", key: "k0", fields: { external_id: "k0", name: "Renamed" } },
          { op: "update", key: "k9", fields: { external_id: "k9", name: "Ghost" } },
        ]),
      ),
      "results",
    );
    expect(outcome.results).toEqual([
      { key: "k0", ok: true },
      { key: "k9", ok: false, error: "no Intercom contact has external_id k9", not_found: true },
    ]);
    const contacts = await byExternalId();
    expect(Object.keys(contacts)).toEqual(["k0"]);
    expect(contacts.k0?.name).toBe("Renamed");
  });

  it("a row Intercom refuses fails alone with its message; a row without external_id fails before any request", async () => {
    const { ctx, byExternalId } = setup();
    const rows = rowsOf(
      await intercomConnector.send(
        ctx,
        batchOf([
          ...users(1),
          { op: "upsert", key: "bad", fields: { external_id: "bad", email: "nope" } },
          { op: "upsert", key: "odd", fields: { external_id: "odd", favourite_colour: "teal" } },
          { op: "upsert", key: "none", fields: { external_id: null, name: "No id" } },
          ...users(1, 1),
        ]),
      ),
    );
    expect(rows.get("k0")).toEqual({ ok: true });
    expect(rows.get("k1")).toEqual({ ok: true });
    expect(rows.get("bad")).toEqual({ ok: false, error: "HTTP 400: parameter_invalid: Invalid email address" });
    expect(rows.get("odd")).toEqual({
      ok: false,
      error: "HTTP 400: parameter_not_found: Custom attribute 'favourite_colour' does not exist",
    });
    expect(rows.get("none")?.error).toMatch(/no value for "external_id"/);
    expect(Object.keys(await byExternalId()).sort()).toEqual(["k0", "k1"]);
  });

  it("deletes archive the contact found by the key; one Intercom does not know is already gone", async () => {
    const { ctx, byExternalId, calls } = setup();
    await intercomConnector.send(ctx, batchOf(users(2)));
    const rows = rowsOf(
      await intercomConnector.send(
        ctx,
        batchOf([
          { op: "delete", key: "k1", fields: {} },
          { op: "delete", key: "k7", fields: {} },
        ]),
      ),
    );
    expect([...rows.values()]).toEqual([{ ok: true }, { ok: true }]);
    const contacts = await byExternalId();
    expect(contacts.k1?.archived).toBe(true);
    expect(contacts.k0?.archived).toBe(false);
    expect((await calls()).slice(-3).sort()).toEqual([
      "POST /contacts/search 200",
      "POST /contacts/search 200",
      "POST /contacts/{id}/archive 200",
    ]);
  });

  it("builds the contact body: standard attributes at the top, others under custom_attributes", () => {
    expect(contactBody({ email: "a@b.co", last_seen_at: "1700000000", "custom_attributes.tier": "gold", tags: ["x"] })).toEqual({
      email: "a@b.co",
      last_seen_at: 1700000000,
      custom_attributes: { tier: "gold", tags: '["x"]' },
    });
  });
});

describe("intercom connector: failures, rate limits, description", () => {
  it("429 waits for the window's reset, 5xx retries, 401 is an auth failure", async () => {
    const { ctx, configure } = setup();
    await configure({ rate_limit: { limit: 1 } });
    const throttled = expectKind(await intercomConnector.send(ctx, batchOf(users(1))), "retry");
    expect(throttled.error).toMatch(/^HTTP 429: rate_limit_exceeded/);
    expect(throttled.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(throttled.retryAfterSeconds).toBeLessThanOrEqual(11);
    await configure({ faults: [{ status: 502, route: "PUT" }] });
    await intercomConnector.send(ctx, batchOf(users(1)));
    expect(expectKind(await intercomConnector.send(ctx, batchOf(users(1))), "retry").error).toMatch(/^HTTP 502/);
    const wrong = setup({}, { access_token: "nope" });
    expect(expectKind(await intercomConnector.send(wrong.ctx, batchOf(users(1))), "auth_failed").error).toBe(
      "HTTP 401: unauthorized: Access Token Invalid",
    );
  });

  it("reads Retry-After first, else X-RateLimit-Reset when the window is spent; a 429 is a throttle in a 10 s window", () => {
    const now = 1_700_000_000_000;
    expect(intercomRetryAfter(new Headers({ "retry-after": "4" }), now)).toBe(4);
    expect(intercomRetryAfter(new Headers({ "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000006" }), now)).toBe(6);
    expect(intercomRetryAfter(new Headers({ "x-ratelimit-remaining": "3", "x-ratelimit-reset": "1700000006" }), now)).toBeUndefined();
    const headers = new Headers({ "x-ratelimit-limit": "1666", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000003" });
    expect(intercomRateSignal(429, headers, now)).toEqual({ throttled: true, retryAfterSeconds: 3, windowMs: 10_000 });
    expect(intercomRateSignal(200, new Headers(), now)).toEqual({ throttled: false });
  });

  it("test() calls /me; fields() returns the writable data attributes, custom ones included, external_id the identifier", async () => {
    const { ctx, configure } = setup();
    await configure({ custom_attributes: { plan: "string", score: "integer", ltv: "float", trial: "boolean" } });
    expect(await intercomConnector.test(ctx)).toEqual({ ok: true });
    expect(await intercomConnector.test({ ...ctx, credentials: { access_token: "nope" } })).toEqual({
      ok: false,
      error: "HTTP 401: unauthorized: Access Token Invalid",
    });
    const answer = await intercomConnector.fields?.(ctx);
    expect(answer?.ok, JSON.stringify(answer)).toBe(true);
    if (!answer?.ok) return;
    const byName = Object.fromEntries(answer.fields.map((f) => [f.name, f]));
    expect(byName.external_id).toMatchObject({ identifier: true, required: true, type: "string" });
    expect(byName.signed_up_at?.type).toBe("datetime");
    expect(byName).toMatchObject({ score: { type: "integer" }, ltv: { type: "number" }, trial: { type: "boolean" } });
    // Not writable through the API: not offered.
    expect(byName.id).toBeUndefined();
    expect(byName.created_at).toBeUndefined();
  });

  it("each region has its host; validateSync wants external_id mapped, from the key in mirror mode", () => {
    const config = (c: unknown) => {
      const parsed = parseConfig("intercom", c);
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
      return parsed.value;
    };
    expect(intercom.hosts(config({ region: "eu" }), null)).toEqual([{ path: "config.region", url: "https://api.eu.intercom.io" }]);
    expect(intercom.hosts(config({}), null)[0]?.url).toBe("https://api.intercom.io");
    expect(intercom.hosts(config({ region: "au" }), null)[0]?.url).toBe("https://api.au.intercom.io");
    const sync = (mode: "upsert" | "mirror", source: string, destination = "external_id") => ({
      mappings: [{ source, destination }],
      mode,
      primaryKey: "id",
    });
    expect(syncProblems("intercom", {}, sync("upsert", "id", "email"))[0]).toMatchObject({ path: "field_mappings" });
    expect(syncProblems("intercom", {}, sync("upsert", "user_id"))).toEqual([]);
    expect(syncProblems("intercom", {}, sync("mirror", "user_id"))[0]).toMatchObject({ path: "field_mappings.0.source" });
    expect(syncProblems("intercom", {}, sync("mirror", "id"))).toEqual([]);
  });
});
