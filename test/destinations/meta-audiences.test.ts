import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ConnectorContext, Operation } from "../../src/destinations/destination";
import { type MetaConnectorConfig, metaAudiencesConnector, metaRateSignal } from "../../src/destinations/meta_audiences/connector";
import type { MetaAudiencesCredentials } from "../../src/destinations/meta_audiences/schema";
import { sha256Hex } from "../../src/lib/crypto";
import { batchOf, control, expectKind, forbiddenFetch, rowsOf, stateOf, uniqueName } from "./helpers";

/** The fake Graph API (test/servers/meta.ts). */
interface AccountState {
  members: Record<string, string[][]>;
  sessions: Record<string, { received: number; ended: boolean; batches: number[]; estimated: number }>;
  requests: { method: string; path: string; status: number; users?: number; schema?: string[]; data?: string[][] }[];
}

const AUDIENCE = "2385000001";
const TOKEN = "meta-test-token";

async function setup(config: Partial<MetaConnectorConfig> = {}, accountConfig: Record<string, unknown> = {}) {
  const base = `${env.META_URL}/t/${uniqueName("meta")}`;
  await control(`${base}/_config`, accountConfig);
  const ctx: ConnectorContext<MetaConnectorConfig, MetaAudiencesCredentials> = {
    config: {
      audience_id: AUDIENCE,
      key_identifier: "email",
      api_version: "v25.0",
      batch_size: 10_000,
      api_base: base,
      timeout_ms: 10_000,
      ...config,
    },
    credentials: { access_token: TOKEN },
    allowPrivate: true,
    fetch,
  };
  return { ctx, base, state: () => stateOf<AccountState>(`${base}/_state`) };
}

const people = (n: number, from = 0): Operation[] =>
  Array.from({ length: n }, (_, i) => ({ op: "upsert", key: String(from + i), fields: { email: ` Person${from + i}@Example.com` } }));
const member = async (email: string) => [`EMAIL:${await sha256Hex(email)}`];

describe("meta_audiences connector", () => {
  it("adds people with POST /{audience}/users: schema of the keys the rows carry, values normalised and hashed on the wire", async () => {
    const { ctx, state } = await setup();
    const outcome = await metaAudiencesConnector.send(
      ctx,
      batchOf([
        { op: "upsert", key: "john", fields: { email: "John_Smith@gmail.com", phone: "+1 (650)555-1212", first_name: "Mary" } },
        { op: "create", key: "dev", fields: { email: "dev@example.com", mobile_advertiser_id: "AB12-CD" } },
      ]),
    );
    expect([...rowsOf(outcome).values()]).toEqual([{ ok: true }, { ok: true }]);
    const s = await state();
    const request = s.requests[0];
    expect(request).toMatchObject({ method: "POST", path: `/v25.0/${AUDIENCE}/users`, schema: ["EMAIL", "PHONE", "FN", "MADID"] });
    // Meta's documented example hashes (customer information parameters), and "" where a row has no value.
    expect(request?.data).toEqual([
      [
        "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f",
        "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176",
        "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec",
        "",
      ],
      [await sha256Hex("dev@example.com"), "", "", "ab12-cd"],
    ]);
    expect(s.members[AUDIENCE]).toHaveLength(2);
  });

  it("mirror deletes go with DELETE, matched by the key as key_identifier", async () => {
    const { ctx, state } = await setup();
    rowsOf(await metaAudiencesConnector.send(ctx, batchOf(people(3))));
    const outcome = await metaAudiencesConnector.send(
      ctx,
      batchOf([{ op: "delete", key: "person1@example.com", fields: {} }, ...people(1, 3)]),
    );
    expect([...rowsOf(outcome).values()]).toEqual([{ ok: true }, { ok: true }]);
    const s = await state();
    expect(s.requests.map((r) => r.method)).toEqual(["POST", "DELETE", "POST"]);
    expect((s.members[AUDIENCE] ?? []).sort()).toEqual(
      [await member("person0@example.com"), await member("person2@example.com"), await member("person3@example.com")].sort(),
    );
  });

  it("a batch over 10,000 goes as one upload session of requests of at most 10,000", async () => {
    const { ctx, state } = await setup({ batch_size: 25_000 });
    expect(metaAudiencesConnector.maxBatchSize(ctx.config)).toBe(25_000);
    const outcome = await metaAudiencesConnector.send(ctx, batchOf(people(23_456)));
    const rows = rowsOf(outcome);
    expect(rows.size).toBe(23_456);
    expect([...rows.values()].every((r) => r.ok)).toBe(true);
    const s = await state();
    expect(s.requests.map((r) => r.users)).toEqual([10_000, 10_000, 3_456]);
    const sessions = Object.values(s.sessions);
    expect(sessions).toEqual([{ received: 23_456, ended: true, batches: [1, 2, 3], estimated: 23_456 }]);
    expect(s.members[AUDIENCE]).toHaveLength(23_456);
  }, 60_000);

  it("entries Meta names in invalid_entry_samples fail their rows; rows that cannot be normalised fail before sending", async () => {
    const rejected = await sha256Hex("blocked@example.com");
    const { ctx, state } = await setup({}, { rejected_values: [rejected] });
    const outcome = await metaAudiencesConnector.send(
      ctx,
      batchOf([
        { op: "upsert", key: "ok", fields: { email: "fine@example.com" } },
        { op: "upsert", key: "blocked", fields: { email: "Blocked@example.com" } },
        { op: "upsert", key: "nothing", fields: { email: null } },
        { op: "upsert", key: "bad-phone", fields: { phone: "12" } },
      ]),
    );
    const rows = rowsOf(outcome);
    expect(rows.get("ok")).toEqual({ ok: true });
    expect(rows.get("blocked")?.error).toMatch(/Meta counted this entry as invalid: invalid EMAIL/);
    expect(rows.get("nothing")?.error).toMatch(/no identifier/);
    expect(rows.get("bad-phone")?.error).toMatch(/phone "12" is not a phone number/);
    expect((await state()).requests[0]?.users).toBe(2);
  });

  it("an invalid token (code 190, HTTP 400) is auth_failed, and test() says so", async () => {
    const { ctx } = await setup();
    const bad = { ...ctx, credentials: { access_token: "expired" } };
    expect(expectKind(await metaAudiencesConnector.send(bad, batchOf(people(1))), "auth_failed").error).toMatch(
      /HTTP 400: OAuthException 190/,
    );
    expect(await metaAudiencesConnector.test(bad)).toMatchObject({ ok: false, error: expect.stringMatching(/190/) });
    expect(await metaAudiencesConnector.test(ctx)).toEqual({ ok: true });
  });

  it("429 with Retry-After, the custom audience rate limit (80003) and 5xx are retry; an unknown audience is rejected", async () => {
    const limited = await setup({}, { faults: [{ status: 429, retry_after: "7" }] });
    expect(expectKind(await metaAudiencesConnector.send(limited.ctx, batchOf(people(1))), "retry").retryAfterSeconds).toBe(7);
    const audience = await setup({}, { faults: [{ status: 400, code: 80003, usage_minutes: 3 }] });
    const throttled = expectKind(await metaAudiencesConnector.send(audience.ctx, batchOf(people(1))), "retry");
    expect(throttled).toMatchObject({ retryAfterSeconds: 180, error: expect.stringMatching(/80003/) });
    const down = await setup({}, { faults: [{ status: 503 }] });
    expect(expectKind(await metaAudiencesConnector.send(down.ctx, batchOf(people(1))), "retry").error).toMatch(/HTTP 503/);
    // After the fault, the resend goes through.
    expect([...rowsOf(await metaAudiencesConnector.send(down.ctx, batchOf(people(1)))).values()]).toEqual([{ ok: true }]);
    const missing = await setup({ audience_id: "999" });
    expect(expectKind(await metaAudiencesConnector.send(missing.ctx, batchOf(people(1))), "rejected").error).toMatch(/does not exist/);
  });

  it("a flagged audience (operation_status 471) fails test() and its uploads are rejected with Meta's message", async () => {
    const { ctx } = await setup({}, { flagged: true });
    expect(await metaAudiencesConnector.test(ctx)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/flagged \(operation_status 471\)/),
    });
    const outcome = expectKind(await metaAudiencesConnector.send(ctx, batchOf(people(2))), "rejected");
    expect(outcome.error).toMatch(/OAuthException 100\/1713230: Invalid parameter: Before updating user memberships/);
  });

  it("reads the throttle from X-Business-Use-Case-Usage", () => {
    const headers = new Headers({ "x-business-use-case-usage": JSON.stringify({ act_1: [{ estimated_time_to_regain_access: 2 }] }) });
    expect(metaRateSignal(400, headers)).toEqual({ throttled: true, retryAfterSeconds: 120 });
    expect(metaRateSignal(200, new Headers())).toEqual({ throttled: false });
  });

  it("describes its identifier fields, and ignores a local api_base unless private destinations are allowed", async () => {
    const { ctx } = await setup({ key_identifier: "external_id" });
    const fields = await metaAudiencesConnector.fields?.(ctx);
    expect(fields?.ok && fields.fields.map((f) => f.name)).toContain("mobile_advertiser_id");
    expect(fields?.ok && fields.fields.find((f) => f.identifier)?.name).toBe("external_id");
    const outcome = await metaAudiencesConnector.send({ ...ctx, allowPrivate: false, fetch: forbiddenFetch }, batchOf(people(1)));
    expect(expectKind(outcome, "retry").error).toMatch(/called for https:\/\/graph\.facebook\.com\/v25\.0\/2385000001\/users$/);
  });
});
