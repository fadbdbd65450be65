import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ConnectorContext, Operation } from "../../src/destinations/destination";
import { type BrazeConnectorConfig, brazeConnector, brazeRetryAfter } from "../../src/destinations/braze/connector";
import type { DestinationCredentials } from "../../src/destinations/registry";
import type { SyncMode } from "../../src/sync/mode";
import { batchOf, control, expectKind, forbiddenFetch, rowsOf, stateOf, uniqueName } from "./helpers";

type Credentials = DestinationCredentials<"braze">;

interface WorkspaceState {
  users: Record<string, Record<string, unknown>>;
  requests: { path: string; size: number; status: number; update_existing_only?: boolean[] }[];
}

const KEY = "braze-test-key";

/** A fresh fake Braze workspace and a context pointing at it. */
function setup(config: Partial<BrazeConnectorConfig> = {}, credentials: Credentials = { api_key: KEY }) {
  const workspace = `${env.BRAZE_URL}/t/${uniqueName("ws")}`;
  const ctx: ConnectorContext<BrazeConnectorConfig, Credentials> = {
    config: { rest_endpoint: workspace, batch_size: 75, timeout_ms: 5_000, ...config },
    credentials,
    allowPrivate: true,
    fetch,
  };
  const state = () => stateOf<WorkspaceState>(`${workspace}/_state`);
  return { ctx, workspace, state, configure: (body: unknown) => control(`${workspace}/_config`, body) };
}

const users = (n: number, from = 0, op: Operation["op"] = "upsert"): Operation[] =>
  Array.from({ length: n }, (_, i) => ({
    op,
    key: `u${from + i}`,
    fields: { email: `u${from + i}@example.com`, first_name: `User ${from + i}` },
  }));

// The sync mode of issue 16; typed through string until SyncMode lists it.
const UPDATE_MODE = "update" as string as SyncMode;

describe("braze connector: /users/track", () => {
  it("creates then updates profiles keyed by external_id (the row's key); null removes an attribute", async () => {
    const { ctx, state } = setup();
    const first = await brazeConnector.send(
      ctx,
      batchOf([
        { op: "create", key: "ada", fields: { email: "ada@example.com", first_name: "Ada", plan: "pro", tags: ["a", "b"], vip: true } },
        { op: "upsert", key: "bob", fields: { email: "bob@example.com", score: 12 } },
      ]),
    );
    expect([...rowsOf(first).values()]).toEqual([{ ok: true }, { ok: true }]);
    rowsOf(await brazeConnector.send(ctx, batchOf([{ op: "update", key: "ada", fields: { first_name: "Augusta", plan: null } }])));
    const s = await state();
    expect(s.users).toEqual({
      ada: { external_id: "ada", email: "ada@example.com", first_name: "Augusta", tags: ["a", "b"], vip: true },
      bob: { external_id: "bob", email: "bob@example.com", score: 12 },
    });
    expect(s.requests.map((r) => [r.path, r.status, r.update_existing_only])).toEqual([
      ["/users/track", 201, [false, false]],
      ["/users/track", 201, [false]],
    ]);
  });

  it("sends the REST API key as Bearer and never lets a mapped field replace external_id", async () => {
    const { ctx } = setup();
    let seen: { url: string; auth: string | null; body: unknown } | undefined;
    const spy: typeof fetch = async (input, init) => {
      seen = { url: String(input), auth: new Headers(init?.headers).get("authorization"), body: JSON.parse(String(init?.body)) };
      return Response.json({ message: "success", attributes_processed: 1 }, { status: 201 });
    };
    rowsOf(
      await brazeConnector.send(
        { ...ctx, fetch: spy },
        batchOf([{ op: "upsert", key: "42", fields: { external_id: "other", braze_id: "x", city: "Oslo" } }]),
      ),
    );
    expect(seen?.url).toMatch(/\/users\/track$/);
    expect(seen?.auth).toBe(`Bearer ${KEY}`);
    expect(seen?.body).toEqual({ attributes: [{ city: "Oslo", external_id: "42", _update_existing_only: false }] });
  });

  it("mode update sets _update_existing_only: an existing profile is updated, a missing one is not created", async () => {
    const { ctx, state } = setup();
    rowsOf(await brazeConnector.send(ctx, batchOf(users(1))));
    const outcome = await brazeConnector.send(ctx, {
      ...batchOf([
        { op: "update", key: "u0", fields: { first_name: "Changed" } },
        { op: "update", key: "ghost", fields: { first_name: "Nobody" } },
      ]),
      mode: UPDATE_MODE,
    });
    // Braze answers "success" and says nothing about the skipped profile (see README): delivered.
    expect([...rowsOf(outcome).values()]).toEqual([{ ok: true }, { ok: true }]);
    const s = await state();
    expect(Object.keys(s.users)).toEqual(["u0"]);
    expect(s.users.u0?.first_name).toBe("Changed");
    expect(s.requests.at(-1)?.update_existing_only).toEqual([true, true]);
  });

  it("maps the response's non-fatal errors back to rows by index; the other rows are applied", async () => {
    const { ctx, state } = setup();
    const outcome = await brazeConnector.send(
      ctx,
      batchOf([
        { op: "upsert", key: "a", fields: { first_name: "A" } },
        { op: "upsert", key: "b", fields: { gender: "INVALID" } },
        { op: "upsert", key: "c", fields: { first_name: "C" } },
      ]),
    );
    expect(rowsOf(outcome)).toEqual(
      new Map([
        ["a", { ok: true }],
        ["b", { ok: false, error: "'gender' is not a valid value" }],
        ["c", { ok: true }],
      ]),
    );
    expect(Object.keys((await state()).users).sort()).toEqual(["a", "c"]);
  });

  it("an error tied to no attributes object fails every row of the call (nothing says which were applied)", async () => {
    const { ctx } = setup();
    const spy: typeof fetch = async () => Response.json({ message: "success", errors: ["something went wrong"] }, { status: 201 });
    const outcome = await brazeConnector.send({ ...ctx, fetch: spy }, batchOf(users(2)));
    expect([...rowsOf(outcome).values()]).toEqual([
      { ok: false, error: "something went wrong" },
      { ok: false, error: "something went wrong" },
    ]);
  });

  it("caps batches at 75 attribute objects, the limit the workspace enforces", async () => {
    const { ctx, workspace, state } = setup();
    expect(brazeConnector.maxBatchSize({ ...ctx.config, batch_size: 500 })).toBe(75);
    expect(brazeConnector.maxBatchSize({ ...ctx.config, batch_size: 20 })).toBe(20);
    rowsOf(await brazeConnector.send(ctx, batchOf(users(75))));
    expect(Object.keys((await state()).users)).toHaveLength(75);
    const res = await fetch(`${workspace}/users/track`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ attributes: users(76).map((u) => ({ external_id: u.key })) }),
    });
    expect(res.status).toBe(400);
    await res.body?.cancel();
    expect(expectKind(await brazeConnector.send({ ...ctx, fetch: forbiddenFetch }, batchOf(users(76))), "rejected").error).toMatch(
      /at most 75/,
    );
  });
});

describe("braze connector: deletes", () => {
  it("deletes by external_id, 50 a call; unknown ids count as deleted", async () => {
    const { ctx, state } = setup();
    rowsOf(await brazeConnector.send(ctx, batchOf(users(70))));
    const outcome = await brazeConnector.send(ctx, batchOf([...users(60, 0, "delete"), ...users(2, 500, "delete"), ...users(1, 69)]));
    const results = rowsOf(outcome);
    expect([...results.values()].every((r) => r.ok)).toBe(true);
    expect(results.size).toBe(63);
    const s = await state();
    expect(Object.keys(s.users).sort()).toEqual(["u60", "u61", "u62", "u63", "u64", "u65", "u66", "u67", "u68", "u69"]);
    expect(s.requests.slice(1).map((r) => [r.path, r.size])).toEqual([
      ["/users/track", 1],
      ["/users/delete", 50],
      ["/users/delete", 12],
    ]);
  });
});

describe("braze connector: failures and limits", () => {
  it("a refused key → auth_failed (401 and 403), with Braze's message", async () => {
    const { ctx, configure } = setup({}, { api_key: "wrong" });
    expect(expectKind(await brazeConnector.send(ctx, batchOf(users(1))), "auth_failed").error).toMatch(/^HTTP 401: Invalid API key/);
    await configure({ faults: [{ status: 403, body: { message: "The API key lacks the users.delete permission" } }] });
    expect(
      expectKind(await brazeConnector.send({ ...ctx, credentials: { api_key: KEY } }, batchOf(users(1, 0, "delete"))), "auth_failed").error,
    ).toMatch(/HTTP 403: The API key lacks the users.delete permission/);
  });

  it("429 → retry after Retry-After, or after X-RateLimit-Reset when Braze gives only that; 5xx → retry; a fatal 400 → rejected", async () => {
    const { ctx, configure } = setup();
    await configure({ faults: [{ status: 429, retry_after: "7", body: { message: "API rate limit exceeded" } }] });
    expect(expectKind(await brazeConnector.send(ctx, batchOf(users(1))), "retry")).toMatchObject({
      retryAfterSeconds: 7,
      error: "HTTP 429: API rate limit exceeded",
    });

    await configure({ rate_limit: { max: 1, window_ms: 60_000 } });
    rowsOf(await brazeConnector.send(ctx, batchOf(users(1))));
    const limited = expectKind(await brazeConnector.send(ctx, batchOf(users(1))), "retry");
    // The window of 60 s opened by the first request: the reset is up to a minute away.
    expect(limited.retryAfterSeconds).toBeGreaterThanOrEqual(50);
    expect(limited.retryAfterSeconds).toBeLessThanOrEqual(61);

    await configure({ faults: [{ status: 503 }] });
    expect(expectKind(await brazeConnector.send(ctx, batchOf(users(1))), "retry").error).toBe("HTTP 503: simulated 503");
    await configure({ faults: [{ status: 400, body: { message: "Invalid request body" } }] });
    expect(expectKind(await brazeConnector.send(ctx, batchOf(users(1))), "rejected").error).toBe("HTTP 400: Invalid request body");
  });

  it("brazeRetryAfter: Retry-After first, else X-RateLimit-Reset counted from now", () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    expect(brazeRetryAfter(new Headers({ "retry-after": "3", "x-ratelimit-reset": String(now / 1000 + 40) }), now)).toBe(3);
    expect(brazeRetryAfter(new Headers({ "x-ratelimit-reset": String(now / 1000 + 40) }), now)).toBe(40);
    expect(brazeRetryAfter(new Headers({ "x-ratelimit-reset": String(now / 1000 - 5) }), now)).toBe(1);
    expect(brazeRetryAfter(new Headers(), now)).toBeUndefined();
  });

  it("refuses a private rest_endpoint unless private destinations are allowed, and plain http outside local development", async () => {
    const { ctx } = setup();
    const local = {
      ...ctx,
      allowPrivate: false,
      fetch: forbiddenFetch,
      config: { ...ctx.config, rest_endpoint: "https://127.0.0.1:9/braze" },
    };
    expect(expectKind(await brazeConnector.send(local, batchOf(users(1))), "rejected").error).toMatch(/destination URL refused/);
    const http = {
      ...ctx,
      allowPrivate: false,
      fetch: forbiddenFetch,
      config: { ...ctx.config, rest_endpoint: "http://rest.iad-01.braze.com" },
    };
    expect(expectKind(await brazeConnector.send(http, batchOf(users(1))), "rejected").error).toBe("rest_endpoint must be https://");
  });

  it("test(): a good key passes, a bad one is refused with Braze's reason", async () => {
    const { ctx } = setup();
    expect(await brazeConnector.test(ctx)).toEqual({ ok: true });
    expect(await brazeConnector.test({ ...ctx, credentials: { api_key: "nope" } })).toEqual({
      ok: false,
      error: "HTTP 401: Invalid API key: the key is not valid for this workspace",
    });
  });

  it("fields(): Braze's standard profile fields, external_id as the identifier", async () => {
    const answer = await brazeConnector.fields?.(setup().ctx);
    expect(answer?.ok).toBe(true);
    const fields = answer?.ok ? answer.fields : [];
    expect(fields.find((f) => f.identifier)).toMatchObject({ name: "external_id" });
    expect(fields.map((f) => f.name)).toEqual(expect.arrayContaining(["email", "first_name", "last_name", "phone", "dob", "country"]));
    expect(fields.find((f) => f.name === "dob")?.type).toBe("date");
  });
});
