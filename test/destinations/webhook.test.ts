import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DestinationConfig, DestinationCredentials } from "../../src/destinations/registry";
import type { ConnectorContext } from "../../src/destinations/destination";
import { webhookConnector } from "../../src/destinations/webhook/connector";
import { hmacSha256Hex } from "../../src/lib/crypto";
import { batchOf, control, expectKind, forbiddenFetch, rowsOf, stateOf, uniqueName } from "./helpers";

type Config = DestinationConfig<"webhook">;
type Credentials = DestinationCredentials<"webhook">;

interface Delivery {
  batch_id: string | null;
  idempotency_key: string | null;
  signature: string | null;
  signature_valid: boolean | null;
  content_type: string | null;
  headers: Record<string, string>;
  status: number;
}
interface ReceiverState {
  rows: Record<string, Record<string, unknown>>;
  requests: number;
  creates: Record<string, number>;
  batch_ids: string[];
  deliveries: Delivery[];
}

const base = env.WEBHOOK_RECEIVER_URL;

/** A fresh receiver endpoint and a context that posts to it. */
function setup(config: Partial<Config> = {}, credentials: Credentials = {}) {
  const name = uniqueName("wh");
  const ctx: ConnectorContext<Config, Credentials> = {
    config: { url: `${base}/hook/${name}`, batch_size: 100, timeout_ms: 5_000, ...config },
    credentials,
    allowPrivate: true,
    fetch,
  };
  return {
    ctx,
    name,
    state: () => stateOf<ReceiverState>(`${base}/state/${name}`),
    configure: (body: unknown) => control(`${base}/config/${name}`, body),
  };
}

describe("webhook connector: delivery", () => {
  it("POSTs creates, updates, upserts and deletes as one JSON batch that the receiver applies", async () => {
    const { ctx, state } = setup();
    const first = await webhookConnector.send(
      ctx,
      batchOf([
        { op: "create", key: "a", fields: { email: "a@example.com", plan: "free" } },
        { op: "create", key: "b", fields: { email: "b@example.com", plan: "pro" } },
      ]),
    );
    expect([...rowsOf(first).values()].every((r) => r.ok)).toBe(true);
    const second = await webhookConnector.send(
      ctx,
      batchOf([
        { op: "update", key: "a", fields: { email: "a@example.com", plan: "team" } },
        { op: "delete", key: "b", fields: {} },
        { op: "upsert", key: "c", fields: { email: "c@example.com", seats: 3, active: true, tags: ["x"] } },
      ]),
    );
    expect(rowsOf(second)).toEqual(
      new Map([
        ["a", { ok: true }],
        ["b", { ok: true }],
        ["c", { ok: true }],
      ]),
    );
    const s = await state();
    expect(s.rows).toEqual({
      a: { email: "a@example.com", plan: "team" },
      c: { email: "c@example.com", seats: 3, active: true, tags: ["x"] },
    });
    expect(s.deliveries.every((d) => d.content_type === "application/json")).toBe(true);
  });

  it("sends the body shape {sync_id, run_id, batch_id, operations:[{op, key, fields}]}", async () => {
    let seen: unknown;
    const { ctx } = setup();
    const spy: typeof fetch = async (_input, init) => {
      seen = JSON.parse(String(init?.body));
      return new Response(null, { status: 204 });
    };
    const batch = batchOf([{ op: "upsert", key: "k1", fields: { n: 1 } }], "bat_shape");
    rowsOf(await webhookConnector.send({ ...ctx, fetch: spy }, batch));
    expect(seen).toEqual({
      sync_id: "syn_test",
      run_id: "run_test",
      batch_id: "bat_shape",
      operations: [{ op: "upsert", key: "k1", fields: { n: 1 } }],
    });
  });

  it("carries the batch id as Idempotency-Key, the same on a redelivery", async () => {
    const { ctx, state } = setup();
    const batch = batchOf([{ op: "create", key: "x", fields: { v: 1 } }]);
    rowsOf(await webhookConnector.send(ctx, batch));
    rowsOf(await webhookConnector.send(ctx, batch));
    const s = await state();
    expect(s.deliveries.map((d) => d.idempotency_key)).toEqual([batch.batch_id, batch.batch_id]);
    expect(s.batch_ids).toEqual([batch.batch_id, batch.batch_id]);
  });

  it("sends config headers and secret credential headers", async () => {
    const { ctx, state } = setup({ headers: { "X-Team": "growth" } }, { headers: { Authorization: "Bearer s3cret", "X-Api-Key": "k" } });
    rowsOf(await webhookConnector.send(ctx, batchOf([{ op: "upsert", key: "h", fields: {} }])));
    const [delivery] = (await state()).deliveries;
    expect(delivery?.headers).toMatchObject({ "x-team": "growth", authorization: "Bearer s3cret", "x-api-key": "k" });
  });

  it("signs the exact body with X-Signature: sha256=<hex HMAC>, verified by the receiver", async () => {
    const secret = "whsec_0123456789abcdef";
    const { ctx, state, configure } = setup({}, { signing_secret: secret });
    await configure({ signing_secret: secret });
    const outcome = await webhookConnector.send(ctx, batchOf([{ op: "create", key: "s", fields: { v: "é ünïcode" } }]));
    expect(rowsOf(outcome).get("s")).toEqual({ ok: true });
    const [delivery] = (await state()).deliveries;
    expect(delivery?.signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(delivery?.signature_valid).toBe(true);

    // The header is the HMAC of the body bytes as sent.
    let body = "";
    let header = "";
    const spy: typeof fetch = async (_input, init) => {
      body = String(init?.body);
      header = new Headers(init?.headers).get("x-signature") ?? "";
      return new Response(null, { status: 200 });
    };
    await webhookConnector.send({ ...ctx, fetch: spy }, batchOf([{ op: "create", key: "s", fields: {} }]));
    expect(header).toBe(`sha256=${await hmacSha256Hex(secret, body)}`);
  });

  it("does not sign without a secret; a receiver expecting a signature answers 401 → auth_failed", async () => {
    const { ctx, state, configure } = setup();
    await configure({ signing_secret: "whsec_expected_secret" });
    const outcome = await webhookConnector.send(ctx, batchOf([{ op: "create", key: "u", fields: {} }]));
    expect(expectKind(outcome, "auth_failed").error).toMatch(/401/);
    const [delivery] = (await state()).deliveries;
    expect(delivery?.signature).toBeNull();
  });

  it("marks the rows a {results:[{key, ok:false, error}]} body names as failed, with the receiver's message", async () => {
    const { ctx, state, configure } = setup();
    await configure({ fail_keys: { bad: "email is not a valid address" } });
    const outcome = await webhookConnector.send(
      ctx,
      batchOf([
        { op: "create", key: "good", fields: { email: "g@example.com" } },
        { op: "create", key: "bad", fields: { email: "nope" } },
      ]),
    );
    expect(rowsOf(outcome)).toEqual(
      new Map([
        ["good", { ok: true }],
        ["bad", { ok: false, error: "email is not a valid address" }],
      ]),
    );
    expect(Object.keys((await state()).rows)).toEqual(["good"]);
  });

  it("treats a 2xx without a results body as every row ok", async () => {
    const { ctx, configure } = setup();
    await configure({ faults: [{ status: 202, body: "accepted" }] });
    const outcome = await webhookConnector.send(
      ctx,
      batchOf([
        { op: "upsert", key: "a", fields: {} },
        { op: "delete", key: "b", fields: {} },
      ]),
    );
    expect(rowsOf(outcome)).toEqual(
      new Map([
        ["a", { ok: true }],
        ["b", { ok: true }],
      ]),
    );
  });

  it("uses config.batch_size as the batch limit", () => {
    expect(webhookConnector.maxBatchSize({ url: "https://x.example", batch_size: 7, timeout_ms: 1000 })).toBe(7);
  });
});

describe("webhook connector: failures", () => {
  it("429 → retry with Retry-After in seconds", async () => {
    const { ctx, configure } = setup();
    await configure({ faults: [{ status: 429, retry_after: "7" }] });
    const outcome = expectKind(await webhookConnector.send(ctx, batchOf([{ op: "create", key: "a", fields: {} }])), "retry");
    expect(outcome.retryAfterSeconds).toBe(7);
    expect(outcome.error).toMatch(/HTTP 429/);
  });

  it("429 with an HTTP-date Retry-After → retry after the seconds until then", async () => {
    const { ctx, configure } = setup();
    await configure({ faults: [{ status: 429, retry_after: new Date(Date.now() + 30_000).toUTCString() }] });
    const outcome = expectKind(await webhookConnector.send(ctx, batchOf([{ op: "create", key: "a", fields: {} }])), "retry");
    expect(outcome.retryAfterSeconds).toBeGreaterThanOrEqual(28);
    expect(outcome.retryAfterSeconds).toBeLessThanOrEqual(31);
  });

  it.each([408, 500, 502, 503])("%i → retry", async (status) => {
    const { ctx, configure } = setup();
    await configure({ faults: [{ status }] });
    const outcome = expectKind(await webhookConnector.send(ctx, batchOf([{ op: "create", key: "a", fields: {} }])), "retry");
    expect(outcome.error).toContain(`HTTP ${status}`);
  });

  it.each([401, 403])("%i → auth_failed", async (status) => {
    const { ctx, configure } = setup();
    await configure({ faults: [{ status, body: { error: "bad token" } }] });
    const outcome = expectKind(await webhookConnector.send(ctx, batchOf([{ op: "create", key: "a", fields: {} }])), "auth_failed");
    expect(outcome.error).toContain("bad token");
  });

  it.each([400, 404, 409, 422])("%i → rejected with the body", async (status) => {
    const { ctx, configure } = setup();
    await configure({ faults: [{ status, body: { error: "schema mismatch" } }] });
    const outcome = expectKind(await webhookConnector.send(ctx, batchOf([{ op: "create", key: "a", fields: {} }])), "rejected");
    expect(outcome.error).toContain("schema mismatch");
  });

  it("a response slower than timeout_ms → retry", async () => {
    const { ctx, configure } = setup({ timeout_ms: 200 });
    await configure({ faults: [{ status: 200, delay_ms: 1_500 }] });
    const started = Date.now();
    const outcome = expectKind(await webhookConnector.send(ctx, batchOf([{ op: "create", key: "a", fields: {} }])), "retry");
    expect(outcome.error).toMatch(/no response within 200 ms/);
    expect(Date.now() - started).toBeLessThan(1_400);
  });

  it("a refused connection → retry", async () => {
    const { ctx } = setup({ url: "http://127.0.0.1:1/hook" });
    const outcome = expectKind(await webhookConnector.send(ctx, batchOf([{ op: "create", key: "a", fields: {} }])), "retry");
    expect(outcome.error).toMatch(/network error/);
  });

  it("test() posts an empty batch and reports the receiver's refusal", async () => {
    const { ctx, state, configure } = setup();
    expect(await webhookConnector.test(ctx)).toEqual({ ok: true });
    expect((await state()).batch_ids).toEqual([expect.stringMatching(/^connection_test_[0-9a-f-]{36}$/)]);
    await configure({ faults: [{ status: 401, body: { error: "who are you" } }] });
    const failed = await webhookConnector.test(ctx);
    expect(failed.ok).toBe(false);
    if (!failed.ok) expect(failed.error).toContain("who are you");
  });
});

describe("webhook connector: SSRF", () => {
  it.each([
    "http://127.0.0.1:8787/hook",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://10.0.0.5/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://2130706433/hook",
    "http://0x7f.1/hook",
    "http://localhost/hook",
    "http://metadata.google.internal/computeMetadata/v1/",
  ])("refuses %s without a request when private destinations are not allowed", async (url) => {
    const { ctx } = setup({ url });
    const outcome = await webhookConnector.send(
      { ...ctx, allowPrivate: false, fetch: forbiddenFetch },
      batchOf([{ op: "create", key: "a", fields: {} }]),
    );
    expect(expectKind(outcome, "rejected").error).toMatch(/destination URL refused/);
    const test = await webhookConnector.test({ ...ctx, allowPrivate: false, fetch: forbiddenFetch });
    expect(test.ok).toBe(false);
  });

  it("does not follow redirects: a 3xx is a permanent rejection and the target is never hit", async () => {
    const { ctx, name, state } = setup();
    const outcome = await webhookConnector.send(
      { ...ctx, config: { ...ctx.config, url: `${base}/redirect/${name}` } },
      batchOf([{ op: "create", key: "a", fields: {} }]),
    );
    expect(expectKind(outcome, "rejected").error).toMatch(/redirects are not followed: HTTP 302 to \/hook\//);
    expect((await state()).deliveries).toEqual([]);
  });
});
