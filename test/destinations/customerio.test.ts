import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ConnectorContext, Operation } from "../../src/destinations/destination";
import { type CustomerioConnectorConfig, customerioConnector } from "../../src/destinations/customerio/connector";
import type { DestinationCredentials } from "../../src/destinations/registry";
import { batchOf, control, expectKind, rowsOf, stateOf, uniqueName } from "./helpers";

type Credentials = DestinationCredentials<"customerio">;

interface WorkspaceState {
  people: Record<string, Record<string, unknown>>;
  requests: { method: string; path: string; size: number; bytes: number; status: number }[];
}

const CREDENTIALS: Credentials = { site_id: "cio-site", api_key: "cio-key" };

/** A fresh fake Customer.io workspace and a context pointing at it. */
function setup(config: Partial<CustomerioConnectorConfig> = {}, credentials: Credentials = CREDENTIALS) {
  const workspace = `${env.CUSTOMERIO_URL}/t/${uniqueName("ws")}`;
  const ctx: ConnectorContext<CustomerioConnectorConfig, Credentials> = {
    config: { region: "us", batch_size: 100, api_base: workspace, timeout_ms: 5_000, ...config },
    credentials,
    allowPrivate: true,
    fetch,
  };
  const state = () => stateOf<WorkspaceState>(`${workspace}/_state`);
  return { ctx, state, configure: (body: unknown) => control(`${workspace}/_config`, body) };
}

const people = (n: number, from = 0, op: Operation["op"] = "upsert"): Operation[] =>
  Array.from({ length: n }, (_, i) => ({ op, key: `p${from + i}`, fields: { email: `p${from + i}@example.com`, plan: "free" } }));

/** `count` attributes of `size` characters each. */
const bulky = (count: number, size: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`attr_${i}`, "x".repeat(size)]));

describe("customerio connector: batch identify and delete", () => {
  it("identifies people by id (the row's key), creating then updating; null removes an attribute", async () => {
    const { ctx, state } = setup();
    const first = await customerioConnector.send(
      ctx,
      batchOf([
        { op: "create", key: "ada", fields: { email: "ada@example.com", created_at: 1700000000, plan: "pro", vip: true } },
        { op: "upsert", key: "bob", fields: { email: "bob@example.com" } },
      ]),
    );
    expect([...rowsOf(first).values()]).toEqual([{ ok: true }, { ok: true }]);
    rowsOf(await customerioConnector.send(ctx, batchOf([{ op: "update", key: "ada", fields: { plan: null, email: "ada@example.org" } }])));
    expect((await state()).people).toEqual({
      ada: { id: "ada", email: "ada@example.org", created_at: 1700000000, vip: true },
      bob: { id: "bob", email: "bob@example.com" },
    });
  });

  it("sends one /api/v2/batch call of person entries with Basic site_id:api_key; a mapped id never replaces the key", async () => {
    const { ctx } = setup();
    let seen: { url: string; auth: string | null; body: unknown } | undefined;
    const spy: typeof fetch = async (input, init) => {
      seen = { url: String(input), auth: new Headers(init?.headers).get("authorization"), body: JSON.parse(String(init?.body)) };
      return Response.json({});
    };
    rowsOf(
      await customerioConnector.send(
        { ...ctx, fetch: spy },
        batchOf([
          { op: "upsert", key: "42", fields: { id: "other", email: "a@example.com" } },
          { op: "delete", key: "43", fields: {} },
        ]),
      ),
    );
    expect(seen?.url).toMatch(/\/api\/v2\/batch$/);
    expect(seen?.auth).toBe(`Basic ${btoa("cio-site:cio-key")}`);
    expect(seen?.body).toEqual({
      batch: [
        { type: "person", action: "identify", identifiers: { id: "42" }, attributes: { email: "a@example.com" } },
        { type: "person", action: "delete", identifiers: { id: "43" } },
      ],
    });
  });

  it("uses the region's Track API URL unless a local api_base is allowed", async () => {
    const urls: string[] = [];
    const spy: typeof fetch = async (input) => {
      urls.push(String(input));
      return Response.json({});
    };
    const { ctx } = setup();
    await customerioConnector.send(
      { ...ctx, allowPrivate: false, fetch: spy, config: { ...ctx.config, region: "eu" } },
      batchOf(people(1)),
    );
    await customerioConnector.send(
      { ...ctx, allowPrivate: false, fetch: spy, config: { ...ctx.config, region: "us" } },
      batchOf(people(1)),
    );
    expect(urls).toEqual(["https://track-eu.customer.io/api/v2/batch", "https://track.customer.io/api/v2/batch"]);
  });

  it("deletes in the same call as identifies; a person already gone counts as deleted", async () => {
    const { ctx, state } = setup();
    rowsOf(await customerioConnector.send(ctx, batchOf(people(5))));
    const outcome = await customerioConnector.send(ctx, batchOf([...people(2, 0, "delete"), ...people(1, 99, "delete"), ...people(1, 5)]));
    expect([...rowsOf(outcome).values()].every((r) => r.ok)).toBe(true);
    const s = await state();
    expect(Object.keys(s.people).sort()).toEqual(["p2", "p3", "p4", "p5"]);
    expect(s.requests.map((r) => [r.path, r.size])).toEqual([
      ["/api/v2/batch", 5],
      ["/api/v2/batch", 4],
    ]);
  });

  it("maps per-entry errors back to rows by batch_index with Customer.io's reason; the others are applied", async () => {
    const { ctx, state } = setup();
    const outcome = await customerioConnector.send(
      ctx,
      batchOf([
        { op: "upsert", key: "a", fields: { plan: "pro" } },
        { op: "upsert", key: "b", fields: { note: "y".repeat(1001) } },
        { op: "upsert", key: "c".repeat(151), fields: {} },
        { op: "upsert", key: "d", fields: { plan: "free" } },
      ]),
    );
    expect(rowsOf(outcome)).toEqual(
      new Map([
        ["a", { ok: true }],
        ["b", { ok: false, error: "invalid: attributes.note: attribute values must be at most 1000 bytes" }],
        ["c".repeat(151), { ok: false, error: "invalid: identifiers.id: id must be at most 150 bytes" }],
        ["d", { ok: true }],
      ]),
    );
    expect(Object.keys((await state()).people).sort()).toEqual(["a", "d"]);
  });

  it("keeps each call under 500 KB, splitting a batch; a row too large alone fails without being sent", async () => {
    const { ctx, state } = setup();
    // About 225 KB each: two fit in one call, the third goes in a second one.
    const big = (key: string) => ({ op: "upsert" as const, key, fields: bulky(250, 900) });
    const huge = { op: "upsert" as const, key: "huge", fields: bulky(600, 900) };
    const outcome = await customerioConnector.send(ctx, batchOf([big("a"), huge, big("b"), big("c")]));
    const results = rowsOf(outcome);
    expect(results.get("huge")?.error).toMatch(/^this person's attributes take \d+ bytes; a Customer.io request must be under 500 KB$/);
    expect([results.get("a"), results.get("b"), results.get("c")]).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    const s = await state();
    expect(Object.keys(s.people).sort()).toEqual(["a", "b", "c"]);
    expect(s.requests.map((r) => r.size)).toEqual([2, 1]);
    for (const r of s.requests) expect(r.bytes).toBeLessThan(500_000);
  });
});

describe("customerio connector: failures and limits", () => {
  it("refused credentials → auth_failed with Customer.io's message", async () => {
    const { ctx } = setup({}, { site_id: "cio-site", api_key: "wrong" });
    expect(expectKind(await customerioConnector.send(ctx, batchOf(people(1))), "auth_failed").error).toBe("HTTP 401: Unauthorized request");
  });

  it("429 → retry after Retry-After; 5xx → retry; 413 or another 4xx → rejected", async () => {
    const { ctx, configure } = setup();
    await configure({ rate_limit: { max: 1, retry_after: true } });
    rowsOf(await customerioConnector.send(ctx, batchOf(people(1))));
    expect(expectKind(await customerioConnector.send(ctx, batchOf(people(1))), "retry")).toEqual({
      kind: "retry",
      error: "HTTP 429: Too many requests",
      retryAfterSeconds: 1,
    });
    await configure({ faults: [{ status: 502 }] });
    expect(expectKind(await customerioConnector.send(ctx, batchOf(people(1))), "retry").error).toBe("HTTP 502: simulated 502");
    await configure({ faults: [{ status: 400, body: { meta: { error: "malformed request" } } }] });
    expect(expectKind(await customerioConnector.send(ctx, batchOf(people(1))), "rejected").error).toBe("HTTP 400: malformed request");
  });

  it("caps a batch at the configured size (at most 1000 people)", () => {
    const { ctx } = setup();
    expect(customerioConnector.maxBatchSize({ ...ctx.config, batch_size: 5000 })).toBe(1000);
    expect(customerioConnector.maxBatchSize({ ...ctx.config, batch_size: 50 })).toBe(50);
  });

  it("test(): checks the credentials and that the account is in the configured region", async () => {
    const { ctx, configure } = setup();
    expect(await customerioConnector.test(ctx)).toEqual({ ok: true });
    expect(await customerioConnector.test({ ...ctx, credentials: { site_id: "cio-site", api_key: "nope" } })).toEqual({
      ok: false,
      error: "Customer.io refused the Site ID and API key: Your credentials are not valid.",
    });
    await configure({ region: "eu" });
    expect(await customerioConnector.test(ctx)).toEqual({
      ok: false,
      error: 'this Customer.io account is in the EU region: set region to "eu"',
    });
    expect(await customerioConnector.test({ ...ctx, config: { ...ctx.config, region: "eu" } })).toEqual({ ok: true });
  });

  it("fields(): id as the identifier, email, created_at and unsubscribed", async () => {
    const answer = await customerioConnector.fields?.(setup().ctx);
    const fields = answer?.ok ? answer.fields : [];
    expect(fields.map((f) => [f.name, f.type, f.identifier ?? false])).toEqual([
      ["id", "string", true],
      ["email", "string", false],
      ["created_at", "integer", false],
      ["unsubscribed", "boolean", false],
    ]);
  });
});
