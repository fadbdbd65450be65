import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ApiError } from "../../src/api/errors";
import type { ConnectorContext, Operation } from "../../src/destinations/destination";
import { httpConnector } from "../../src/destinations/http/connector";
import type { DestinationConfig, DestinationCredentials } from "../../src/destinations/registry";
import { checkReachable } from "../../src/routes/destinations/schema";
import { api, expectError, expectStatus } from "../harness";
import { createSync, customersTable, modelOf, modelRows, runSync, WEBHOOK_FIELDS } from "../harness/run";
import type { RestApiConfig, RestApiState } from "../servers/rest-api";
import { batchOf, control, expectKind, forbiddenFetch, parsedConfig, rowsOf, stateOf, uniqueName } from "./helpers";

type Config = DestinationConfig<"http">;
type Credentials = DestinationCredentials<"http">;

/** A fresh tenant of the fake REST API and a connector context whose templates point at it. */
function setup(config: (base: string) => Record<string, unknown>, credentials: Credentials = {}) {
  const tenant = `${env.REST_API_URL}/t/${uniqueName("http")}`;
  const name = tenant.split("/").pop() ?? "";
  const ctx: ConnectorContext<Config, Credentials> = {
    config: parsedConfig("http", config(tenant)),
    credentials,
    allowPrivate: true,
    fetch,
  };
  return {
    ctx,
    tenant,
    state: () => stateOf<RestApiState>(`${env.REST_API_URL}/_state/${name}`),
    configure: (body: RestApiConfig) => control(`${env.REST_API_URL}/_config/${name}`, body),
  };
}

const upsert = (key: string, fields: Record<string, unknown>): Operation => ({ op: "upsert", key, fields });
const PER_ROW_BODY = '{"email": {{ email | json }}, "plan": {{ plan | upcase | json }}, "op": {{ op | json }}}';
const BATCH_BODY =
  '{"items": [{% for r in rows %}{"id": {{ r.key | json }}, "email": {{ r.email | json }}}{% unless forloop.last %},{% endunless %}{% endfor %}]}';

describe("http destination: one row per request", () => {
  it("renders the URL and body templates per row on the wire, and deletes through an override", async () => {
    const { ctx, state } = setup((t) => ({
      url: `${t}/users/{{ key | url_encode }}`,
      method: "PUT",
      body: PER_ROW_BODY,
      overrides: { delete: { method: "DELETE", body: "" } },
    }));
    expect(httpConnector.maxBatchSize(ctx.config)).toBe(1);
    for (const op of [upsert("a/b?c", { email: "a@example.com", plan: "pro" }), upsert("u2", { email: 'quote"me', plan: "free" })]) {
      expect(rowsOf(await httpConnector.send(ctx, batchOf([op]))).get(op.key)).toEqual({ ok: true });
    }
    rowsOf(await httpConnector.send(ctx, batchOf([{ op: "delete", key: "u2", fields: {} }])));
    const s = await state();
    expect(s.users).toEqual({ "a/b?c": { email: "a@example.com", plan: "PRO", op: "upsert" } });
    expect(s.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["PUT /users/a/b?c", "PUT /users/u2", "DELETE /users/u2"]);
    expect(s.requests[1]?.body).toBe('{"email": "quote\\"me", "plan": "FREE", "op": "upsert"}');
    expect(s.requests[1]?.headers["content-type"]).toBe("application/json");
    expect(s.requests[2]?.body).toBe("");
    expect(s.requests[2]?.headers["content-type"]).toBeUndefined();
    // The batch id travels as Idempotency-Key, so a receiver can drop a redelivery.
    expect(s.requests.every((r) => r.headers["idempotency-key"]?.startsWith("bat_"))).toBe(true);
  });

  it("sends the row's mapped fields as the body by default, and config headers", async () => {
    const { ctx, state } = setup((t) => ({ url: `${t}/users/{{ key }}`, headers: { "X-Team": "growth" } }));
    rowsOf(await httpConnector.send(ctx, batchOf([upsert("k", { n: 1, tags: ["a"], nested: { b: null } })])));
    const [request] = (await state()).requests;
    expect(request?.method).toBe("POST");
    expect(JSON.parse(request?.body ?? "")).toEqual({ n: 1, tags: ["a"], nested: { b: null } });
    expect(request?.headers["x-team"]).toBe("growth");
  });

  it("fails a row the API refuses (4xx) with the response's message; the status code decides success", async () => {
    const { ctx, configure, state } = setup((t) => ({ url: `${t}/users/{{ key }}`, method: "PUT", body: PER_ROW_BODY }));
    await configure({ fail_ids: { bad: "email is not valid" } });
    const rows = rowsOf(await httpConnector.send(ctx, batchOf([upsert("bad", { email: "nope", plan: "x" })])));
    expect(rows.get("bad")).toEqual({ ok: false, error: "HTTP 422: email is not valid" });
    expect((await state()).users).toEqual({});
  });

  it("update mode: a PATCH answered 404 is not_found, the existing record is updated", async () => {
    const { ctx, state } = setup((t) => ({ url: `${t}/users/{{ key }}`, method: "PUT", overrides: { update: { method: "PATCH" } } }));
    rowsOf(await httpConnector.send(ctx, batchOf([upsert("here", { plan: "free" })])));
    const update = (key: string, fields: Record<string, unknown>): Operation => ({ op: "update", key, fields });
    const outcome = await httpConnector.send(ctx, {
      ...batchOf([update("here", { plan: "pro" }), update("gone", { plan: "pro" })]),
      mode: "update",
    });
    const rows = rowsOf(outcome);
    expect(rows.get("here")).toEqual({ ok: true });
    expect(rows.get("gone")).toEqual({ ok: false, error: "HTTP 404: no user gone", not_found: true });
    expect((await state()).users).toEqual({ here: { plan: "pro" } });
    // Outside update mode a 404 is an ordinary refusal of the row.
    const upsertOutcome = rowsOf(await httpConnector.send(ctx, batchOf([update("gone", { plan: "pro" })])));
    expect(upsertOutcome.get("gone")).toEqual({ ok: false, error: "HTTP 404: no user gone" });
  });

  it("reads success from a path in the response (success_path / success_value / error_path)", async () => {
    const { ctx, configure } = setup((t) => ({ url: `${t}/users/{{ key }}`, method: "PUT", success_path: "ok", error_path: "id" }));
    rowsOf(await httpConnector.send(ctx, batchOf([upsert("fine", {})])));
    // The same 2xx answer judged with another success value: the row fails, its message read at error_path.
    const strict = { ...ctx, config: parsedConfig("http", { ...ctx.config, success_value: "yes" }) };
    expect(rowsOf(await httpConnector.send(strict, batchOf([upsert("judged", {})]))).get("judged")).toEqual({ ok: false, error: "judged" });
    const noError = { ...ctx, config: parsedConfig("http", { ...ctx.config, success_path: "status", error_path: undefined }) };
    expect(rowsOf(await httpConnector.send(noError, batchOf([upsert("nostatus", {})]))).get("nostatus")).toEqual({
      ok: false,
      error: "the response has no status for this row",
    });
    await configure({});
  });

  it("fails a row whose body does not render JSON, or whose template breaks a limit, without sending it", async () => {
    const { ctx, state } = setup((t) => ({ url: `${t}/users/{{ key }}`, body: '{"email": {{ email }}}' }));
    const rows = rowsOf(await httpConnector.send(ctx, batchOf([upsert("r", { email: "a@example.com" })])));
    expect(rows.get("r")?.ok).toBe(false);
    expect(rows.get("r")?.error).toMatch(/^config\.body did not render JSON .*write values with \| json.*"\{\\"email\\": a@example.com\}"/);
    const loop = { ...ctx, config: parsedConfig("http", { ...ctx.config, body: "{% for i in (1..100000000) %}{{ i }}{% endfor %}" }) };
    const slow = rowsOf(await httpConnector.send(loop, batchOf([upsert("slow", {})])));
    expect(slow.get("slow")?.error).toMatch(/^config\.body: .*limit/i);
    expect((await state()).requests).toEqual([]);
  });
});

describe("http destination: batch requests", () => {
  const batchConfig = (t: string) => ({
    url: `${t}/users/batch`,
    request: "batch",
    batch_size: 50,
    body: BATCH_BODY,
    success_path: "results[*].ok",
    error_path: "results[*].error",
  });

  it("renders rows into one {items:[…]} request and reads each row's result by position", async () => {
    const { ctx, configure, state } = setup(batchConfig);
    expect(httpConnector.maxBatchSize(ctx.config)).toBe(50);
    await configure({ fail_ids: { b: "b is blocked" } });
    const ops = ["a", "b", "c"].map((k) => upsert(k, { email: `${k}@example.com` }));
    expect(rowsOf(await httpConnector.send(ctx, batchOf(ops)))).toEqual(
      new Map([
        ["a", { ok: true }],
        ["b", { ok: false, error: "b is blocked" }],
        ["c", { ok: true }],
      ]),
    );
    const s = await state();
    expect(s.requests).toHaveLength(1);
    expect(JSON.parse(s.requests[0]?.body ?? "")).toEqual({
      items: [
        { id: "a", email: "a@example.com" },
        { id: "b", email: "b@example.com" },
        { id: "c", email: "c@example.com" },
      ],
    });
    expect(Object.keys(s.users).sort()).toEqual(["a", "c"]);
  });

  it("sends a kind of operation with an override as its own request (deletes one by one through a loop-free URL)", async () => {
    const { ctx, state } = setup((t) => ({
      ...batchConfig(t),
      success_path: undefined,
      overrides: { delete: { method: "POST", url: `${t}/users/batch`, body: '{"items": []}' } },
    }));
    rowsOf(
      await httpConnector.send(
        ctx,
        batchOf([upsert("a", { email: "x" }), { op: "delete", key: "z", fields: {} }, upsert("b", { email: null })]),
      ),
    );
    const bodies = (await state()).requests.map((r) => JSON.parse(r.body) as { items: { id: string }[] });
    expect(bodies.map((b) => b.items.map((i) => i.id))).toEqual([["a", "b"], []]);
  });

  it("rejects the whole batch on a 4xx so the delivery layer splits it; a render failure too when it carries several rows", async () => {
    const { ctx, configure } = setup(batchConfig);
    await configure({ reject_ids: ["bad"] });
    const rejected = expectKind(
      await httpConnector.send(ctx, batchOf([upsert("ok", { email: "o" }), upsert("bad", { email: "b" })])),
      "rejected",
    );
    expect(rejected.error).toBe("HTTP 400: item bad is malformed");
    const broken = { ...ctx, config: parsedConfig("http", { ...ctx.config, body: '{"items": [{{ rows }}]}' }) };
    expectKind(await httpConnector.send(broken, batchOf([upsert("x", {}), upsert("y", {})])), "rejected");
    const alone = rowsOf(await httpConnector.send(broken, batchOf([upsert("x", {})])));
    expect(alone.get("x")?.error).toMatch(/^config\.body did not render JSON/);
  });

  it("uses the default batch body {operations:[{op,key,fields}]} when none is set", async () => {
    let seen: unknown;
    const spy: typeof fetch = async (_input, init) => {
      seen = JSON.parse(String(init?.body));
      return new Response(null, { status: 204 });
    };
    const { ctx } = setup((t) => ({ url: `${t}/ingest`, request: "batch" }));
    rowsOf(await httpConnector.send({ ...ctx, fetch: spy }, batchOf([upsert("k", { a: 1 }), { op: "delete", key: "d", fields: {} }])));
    expect(seen).toEqual({
      operations: [
        { op: "upsert", key: "k", fields: { a: 1 } },
        { op: "delete", key: "d", fields: {} },
      ],
    });
  });
});

describe("http destination: auth", () => {
  const row = () => batchOf([upsert("x", { email: "é ünïcode" })]);
  const config = (t: string) => ({ url: `${t}/users/{{ key }}`, method: "PUT", body: PER_ROW_BODY });

  it("bearer token: accepted by the API; a wrong one is auth_failed", async () => {
    const { ctx, configure, state } = setup(config, { bearer_token: "tok-123" });
    await configure({ auth: { type: "bearer", token: "tok-123" } });
    rowsOf(await httpConnector.send(ctx, row()));
    expect(Object.keys((await state()).users)).toEqual(["x"]);
    const wrong = expectKind(await httpConnector.send({ ...ctx, credentials: { bearer_token: "other" } }, row()), "auth_failed");
    expect(wrong.error).toBe("HTTP 401: invalid bearer token");
  });

  it("basic auth (RFC 7617, UTF-8)", async () => {
    const { ctx, configure, state } = setup(config, { basic_username: "ädmin", basic_password: "pä:ss" });
    await configure({ auth: { type: "basic", username: "ädmin", password: "pä:ss" } });
    rowsOf(await httpConnector.send(ctx, row()));
    expect(Object.keys((await state()).users)).toEqual(["x"]);
    expectKind(await httpConnector.send({ ...ctx, credentials: { basic_username: "ädmin", basic_password: "no" } }, row()), "auth_failed");
  });

  it("HMAC of the exact raw body, verified by the API: sha256 hex with a prefix, sha512 base64", async () => {
    const secret = "hmac-secret-0123456789";
    for (const [algorithm, encoding, prefix] of [
      ["sha256", "hex", "sha256="],
      ["sha512", "base64", ""],
    ] as const) {
      const { ctx, configure, state } = setup(
        (t) => ({ ...config(t), signature: { header: "X-Hub-Signature", algorithm, encoding, prefix } }),
        { hmac_secret: secret },
      );
      await configure({ auth: { type: "hmac", secret, header: "X-Hub-Signature", algorithm, encoding, prefix } });
      rowsOf(await httpConnector.send(ctx, row()));
      const s = await state();
      expect(Object.keys(s.users), `${algorithm} ${encoding}`).toEqual(["x"]);
      expect(s.requests[0]?.headers["x-hub-signature"]?.startsWith(prefix)).toBe(true);
      const forged = { ...ctx, credentials: { hmac_secret: "another-secret-0123456789" } };
      expectKind(await httpConnector.send(forged, row()), "auth_failed");
    }
  });
});

describe("http destination: retries and the SSRF guard", () => {
  const config = (t: string) => ({ url: `${t}/users/{{ key }}`, method: "PUT" });

  it("429 with Retry-After and 5xx are retried; network errors too", async () => {
    const { ctx, configure, state } = setup(config);
    await configure({ faults: [{ status: 429, retry_after: "7" }, { status: 503 }] });
    const throttled = expectKind(await httpConnector.send(ctx, batchOf([upsert("r", {})])), "retry");
    expect(throttled.retryAfterSeconds).toBe(7);
    expect(expectKind(await httpConnector.send(ctx, batchOf([upsert("r", {})])), "retry").error).toBe("HTTP 503: simulated 503");
    rowsOf(await httpConnector.send(ctx, batchOf([upsert("r", {})])));
    expect((await state()).requests.map((r) => r.status)).toEqual([429, 503, 200]);
    const down = { ...ctx, config: parsedConfig("http", { url: "http://127.0.0.1:9/users/{{ key }}" }) };
    expect(expectKind(await httpConnector.send(down, batchOf([upsert("r", {})])), "retry").error).toMatch(/network error/);
  });

  it("refuses private hosts without ALLOW_PRIVATE_DESTINATIONS: at send, before any request, and at save naming the field", () => {
    const ctx: ConnectorContext<Config, Credentials> = {
      config: parsedConfig("http", { url: "http://169.254.169.254/latest/{{ key }}" }),
      credentials: {},
      allowPrivate: false,
      fetch: forbiddenFetch,
    };
    return (async () => {
      const outcome = expectKind(await httpConnector.send(ctx, batchOf([upsert("r", {})])), "rejected");
      expect(outcome.error).toMatch(/destination URL refused: 169\.254\.169\.254 is a link-local address/);
      const strict = { ...env, ALLOW_PRIVATE_DESTINATIONS: "false" };
      let refusal: ApiError | undefined;
      try {
        checkReachable(
          strict,
          "http",
          parsedConfig("http", {
            url: "https://api.example.com/u/{{ key }}",
            overrides: { delete: { url: "http://10.1.2.3/u/{{ key }}" } },
          }),
          null,
        );
      } catch (err) {
        refusal = err as ApiError;
      }
      expect(refusal?.details).toEqual([expect.objectContaining({ path: "config.overrides.delete.url" })]);
    })();
  });
});

describe("http destination through the API", () => {
  const create = (config: Record<string, unknown>, credentials?: Record<string, unknown>) =>
    api.post("/api/v1/destinations", { body: { name: "http", type: "http", config, ...(credentials ? { credentials } : {}) } });

  it("refuses bad templates and settings at save with a 400 naming the field", async () => {
    const url = "https://api.example.com/users/{{ key }}";
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ url, body: "{{ name | shout }}" }, "config.body", /invalid template: undefined filter: shout/],
      [{ url, body: "{% if x %}open" }, "config.body", /not closed/],
      [{ url: "https://api.example.com/{% include 'x' %}" }, "config.url", /not allowed/],
      [{ url: "https://{{ host }}/users" }, "config.url", /literal host/],
      [{ url: "https://api.example.com{{ path }}" }, "config.url", /literal host/],
      [{ url, request: "batch" }, "config.url", /batch mode .* may not use variables \(it uses key\)/],
      [{ url, overrides: { delete: { url: "ftp://x/{{ key }}" } } }, "config.overrides.delete.url", /http/],
      [{ url, overrides: { update: { body: "{{" } } }, "config.overrides.update.body", /invalid template/],
      [{ url, success_path: "results[*].items[*].ok" }, "config.success_path", /\[\*\] at most once/],
      [{ url, method: "GET" }, "config.method", /./],
    ];
    for (const [config, path, message] of cases) {
      const res = await create(config);
      const error = expectError(res, 400, "validation_failed", path);
      expect(JSON.stringify(error.details), JSON.stringify(config)).toMatch(message);
    }
    expectError(await create({ url }, { basic_username: "u" }), 400, "validation_failed", "credentials.basic_password");
    expectError(
      await create({ url }, { bearer_token: "t", basic_username: "u", basic_password: "p" }),
      400,
      "validation_failed",
      "credentials.bearer_token",
    );
    expectStatus(await create({ url, body: PER_ROW_BODY }, { bearer_token: "t" }), 201);
  });

  it("connection test: reaches the URL's literal part with the credentials", async () => {
    const name = uniqueName("conn");
    await control(`${env.REST_API_URL}/_config/${name}`, { auth: { type: "bearer", token: "good" } } satisfies RestApiConfig);
    const url = `${env.REST_API_URL}/t/${name}/users/{{ key }}`;
    const good = await create({ url }, { bearer_token: "good" });
    expectStatus(good, 201);
    expect((await api.post(`/api/v1/destinations/${good.body.id}/test`)).body).toMatchObject({ ok: true });
    const bad = await create({ url }, { bearer_token: "bad" });
    expectStatus(bad, 201);
    expect((await api.post(`/api/v1/destinations/${bad.body.id}/test`)).body).toMatchObject({
      ok: false,
      error: "HTTP 401: invalid bearer token",
    });
  });

  it("an upsert sync end to end: every row PUT to its URL, through a 503 and a 429 with Retry-After", async () => {
    const table = await customersTable(12);
    const name = uniqueName("e2e");
    await control(`${env.REST_API_URL}/_config/${name}`, {
      auth: { type: "bearer", token: "sync-token" },
      faults: [{ status: 503 }, { status: 429, retry_after: "1" }],
      fail_ids: { "7": "user 7 is locked" },
    } satisfies RestApiConfig);
    const destination = await create(
      {
        url: `${env.REST_API_URL}/t/${name}/users/{{ key }}`,
        method: "PUT",
        body: '{"Email": {{ Email | json }}, "Name": {{ Name | json }}, "Plan": {{ Plan | json }}, "Score": {{ Score | json }}}',
      },
      { bearer_token: "sync-token" },
    );
    expectStatus(destination, 201);
    const syncId = await createSync(await modelOf(table), destination.body.id, "upsert", WEBHOOK_FIELDS);
    const run = await runSync(syncId);
    expect(run, JSON.stringify(run)).toMatchObject({ status: "partial", rows_created: 11, rows_failed: 1 });
    const s = await stateOf<RestApiState>(`${env.REST_API_URL}/_state/${name}`);
    const expected = await modelRows(table);
    delete expected["7"];
    expect(s.users).toEqual(expected);
    expect(s.requests.filter((r) => r.status === 503 || r.status === 429)).toHaveLength(2);
    // A row sent again (the faulted ones, or any redelivery) carries the same Idempotency-Key each time.
    const keysByPath = new Map<string, Set<string | undefined>>();
    for (const r of s.requests) keysByPath.set(r.path, (keysByPath.get(r.path) ?? new Set()).add(r.headers["idempotency-key"]));
    expect(keysByPath.size).toBe(12);
    for (const [path, keys] of keysByPath) expect([...keys], path).toEqual([expect.stringMatching(/^run_/)]);
  });

  it("a batch-mode sync: rows go as {items:[…]}, a batch the API refuses is split until the bad row fails alone", async () => {
    const table = await customersTable(20);
    const name = uniqueName("e2eb");
    await control(`${env.REST_API_URL}/_config/${name}`, { reject_ids: ["5"] } satisfies RestApiConfig);
    const destination = await create({
      url: `${env.REST_API_URL}/t/${name}/users/batch`,
      request: "batch",
      batch_size: 8,
      body: '{"items": [{% for r in rows %}{"id": {{ r.key | json }}, "Email": {{ r.Email | json }}}{% unless forloop.last %},{% endunless %}{% endfor %}]}',
      success_path: "results[*].ok",
      error_path: "results[*].error",
    });
    expectStatus(destination, 201);
    const syncId = await createSync(await modelOf(table), destination.body.id, "upsert", WEBHOOK_FIELDS);
    const run = await runSync(syncId);
    expect(run, JSON.stringify(run)).toMatchObject({ status: "partial", rows_created: 19, rows_failed: 1 });
    const s = await stateOf<RestApiState>(`${env.REST_API_URL}/_state/${name}`);
    const expected = Object.fromEntries(
      Object.entries(await modelRows(table))
        .filter(([id]) => id !== "5")
        .map(([id, row]) => [id, { id, Email: row.Email }]),
    );
    expect(s.users).toEqual(expected);
    // 3 batches of ≤8, the one holding id 5 split down to it alone (8 → 4 → 2 → 1): no row sent after it was applied.
    expect(s.requests.filter((r) => r.status === 400).length).toBeGreaterThanOrEqual(4);
  });
});
