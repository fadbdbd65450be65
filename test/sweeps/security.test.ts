// Over 400 lines: one security property per describe block (auth, scopes, workspaces, secrets, signatures, SSRF, SQL) over every operation.
/**
 * Security sweep, driven by the live OpenAPI document: authentication and scopes on every
 * operation, cross-workspace isolation on every route, secrets never in a response, a log line, a
 * D1 row or Durable Object storage, trigger webhook secrets, read-only warehouse queries with a
 * timeout, and SSRF refusals with ALLOW_PRIVATE_DESTINATIONS off.
 * Over 400 lines: one describe per attack surface, each reading as a checklist; splitting would scatter the shared fixtures.
 */
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { hmacSha256Hex, sha256Hex } from "../../src/lib/crypto";
import { newId } from "../../src/lib/ids";
import { blockedHostReason, checkOutboundUrl } from "../../src/lib/ssrf";
import { WarehouseError } from "../../src/sources/errors";
import { closePostgres, connectPostgres } from "../../src/sources/postgres/connection";
import { streamQuery } from "../../src/sources/postgres/cursor";
import { previewQuery } from "../../src/sources/postgres/queries";
import { newWorkspace, tokenFor, WAREHOUSE_URL } from "../harness";
import { pg, waitForRun } from "../harness/run";
import { createFixtures, pathValues, sampleBodies, type Fixtures } from "./fixtures";
import {
  type Answer,
  appWithEnv,
  dumpD1,
  errorCode,
  fillPath,
  type Json,
  loadOperations,
  namesPath,
  type Operation,
  pool,
  Recorder,
  send,
  type SendOptions,
  workspaceCounts,
  workspaceSnapshot,
} from "./sweep";

const mark = (what: string) => `${what}-${crypto.randomUUID().replaceAll("-", "")}`;

/** Distinctive secret values: any of them in a response, log line or D1 row is a leak. */
const S = {
  sourcePassword: mark("SrcPw"),
  sourcePassword2: mark("SrcPwTwo"),
  signingSecret: mark("SignSecret"),
  webhookAuth: mark("WebhookAuth"),
  pgDestPassword: mark("PgDestPw"),
  sfAccessToken: mark("SfAccess"),
  sfRefreshToken: mark("SfRefresh"),
  sfClientSecret: mark("SfClientSecret"),
  hubspotToken: mark("pat-na1"),
  hubspotToken2: mark("pat-na1-two"),
  slackHook: mark("SlackHook"),
  // Events API v2 routing keys are 32 letters and digits.
  pagerDutyKey: crypto.randomUUID().replaceAll("-", ""),
  pagerDutyKey2: crypto.randomUUID().replaceAll("-", ""),
};

let operations: Operation[];
let f: Fixtures;
let samples: Record<string, Json>;
/** Workspace B: an admin token and a source and token of its own. */
let b: { workspaceId: string; token: string; sourceId: string };
let readToken: string;
let writeToken: string;
let revokedToken: string;
/** Every secret value to hunt for, by name (API tokens and trigger secrets are added as they appear). */
const secrets = new Map<string, string>(Object.entries(S));

async function addToken(name: string, token: string) {
  secrets.set(name, token);
  secrets.set(`${name} (SHA-256)`, await sha256Hex(token));
}

beforeAll(async () => {
  ({ operations } = await loadOperations());
  f = await createFixtures({
    connectionString: `postgres://postgres:${S.sourcePassword}@127.0.0.1:5432/test`,
    credentials: { signing_secret: S.signingSecret, headers: { Authorization: `Bearer ${S.webhookAuth}` } },
  });
  samples = sampleBodies(f);
  await addToken("A admin token", f.token);
  await addToken("A created token", f.tokenSecret);
  secrets.set("A trigger secret", f.triggerSecret);
  readToken = await tokenFor(f.workspaceId, "read");
  writeToken = await tokenFor(f.workspaceId, "write");
  await addToken("A read token", readToken);
  await addToken("A write token", writeToken);
  const revoked = await send("POST", "/api/v1/tokens", { token: f.token, body: { name: "soon revoked", scope: "admin" } });
  revokedToken = (revoked.json as { token: string }).token;
  await addToken("A revoked token", revokedToken);
  expect((await send("DELETE", `/api/v1/tokens/${(revoked.json as { id: string }).id}`, { token: f.token })).status).toBe(200);

  const other = await newWorkspace("admin");
  await addToken("B admin token", other.token);
  const source = await send("POST", "/api/v1/sources", {
    token: other.token,
    body: { name: "b", type: "postgres", connection_string: WAREHOUSE_URL },
  });
  expect(source.status).toBe(201);
  const created = await send("POST", "/api/v1/tokens", { token: other.token, body: { name: "b reader", scope: "read" } });
  await addToken("B created token", (created.json as { token: string }).token);
  b = { ...other, sourceId: (source.json as { id: string }).id };
});

function fixturePath(op: Operation): string {
  const values = pathValues(op.path, f);
  if (typeof values === "string") throw new Error(values);
  return fillPath(op.path, values);
}

const isWrite = (op: Operation) => op.method !== "GET" && op.method !== "HEAD";
/** Admin-only routes: token management and the audit log. */
const isTokenRoute = (op: Operation) => op.path.startsWith("/api/v1/tokens") || op.path.startsWith("/api/v1/audit-events");

/** Sends each case to the operation (8 at a time); `check` judges each answer; D1 of A must not change on writes. */
async function sweep(
  rec: Recorder,
  op: Operation,
  cases: { label: string; path: string; opts: SendOptions }[],
  check: (res: Answer) => string | undefined,
  workspaceId = f.workspaceId,
) {
  const before = isWrite(op) ? await workspaceSnapshot(workspaceId) : "";
  await pool(cases, 8, async (c) => {
    const res = await rec.send(`${op.operationId} ${c.label}`, op.operationId, op.method, c.path, c.opts);
    const problem = check(res);
    if (problem) rec.check(false, `${op.operationId} ${c.label}`, `${problem}: ${res.status} ${res.text.slice(0, 200)}`);
  });
  if (isWrite(op)) rec.check((await workspaceSnapshot(workspaceId)) === before, op.operationId, "refused requests changed D1");
}

describe("security sweep (OpenAPI-driven)", () => {
  it("answers 401 on every operation without a token, with a bad or revoked token, or a malformed Authorization header", async () => {
    const rec = new Recorder("security/authentication");
    const headers: [string, Record<string, string>][] = [
      ["no Authorization", {}],
      ["empty Bearer", { authorization: "Bearer" }],
      ["Bearer and spaces", { authorization: "Bearer    " }],
      ["Basic", { authorization: `Basic ${btoa(`user:${f.token}`)}` }],
      ["token without scheme", { authorization: f.token }],
      ["unknown token", { authorization: "Bearer retl_nope" }],
      ["token plus a character", { authorization: `Bearer ${f.token}x` }],
      ["token minus a character", { authorization: `Bearer ${f.token.slice(0, -1)}` }],
      ["token's SHA-256 as the token", { authorization: `Bearer ${await sha256Hex(f.token)}` }],
      ["two tokens", { authorization: `Bearer ${f.token} ${f.token}` }],
      ["revoked token", { authorization: `Bearer ${revokedToken}` }],
      ["10 KB token", { authorization: `Bearer ${"x".repeat(10_240)}` }],
      ["token in a query string", {}],
    ];
    let covered = 0;
    for (const op of operations.filter((o) => !o.public)) {
      covered++;
      const path = fixturePath(op);
      const body = samples[op.operationId];
      const cases = headers.map(([label, h]) => ({
        label,
        path:
          label === "token in a query string" ? `${path}${path.includes("?") ? "&" : "?"}token=${f.token}&access_token=${f.token}` : path,
        opts: { token: null, headers: h, ...(body === undefined ? {} : { body }) },
      }));
      await sweep(rec, op, cases, (res) =>
        res.status === 401 && errorCode(res) === "unauthorized" ? undefined : "expected 401 unauthorized",
      );
    }
    rec.summary({ operations_needing_a_token: covered, public_operations: operations.filter((o) => o.public).map((o) => o.operationId) });
    expect(rec.problems).toEqual([]);
    expect(covered).toBeGreaterThan(20);
  });

  it("gives read tokens 403 on every non-GET, write tokens 403 on every token route, and lets each through otherwise", async () => {
    const rec = new Recorder("security/scopes");
    for (const op of operations.filter((o) => !o.public)) {
      const path = fixturePath(op);
      const body = samples[op.operationId];
      const withBody = body === undefined ? {} : { body };
      if (isWrite(op) || isTokenRoute(op)) {
        await sweep(rec, op, [{ label: "read token", path, opts: { token: readToken, ...withBody } }], (res) =>
          res.status === 403 && errorCode(res) === "forbidden" ? undefined : "expected 403 forbidden",
        );
      }
      if (isTokenRoute(op)) {
        await sweep(rec, op, [{ label: "write token", path, opts: { token: writeToken, ...withBody } }], (res) =>
          res.status === 403 && errorCode(res) === "forbidden" ? undefined : "expected 403 forbidden",
        );
      }
      // Allowed scopes get past authorization: a missing object (404) or, for a list, 200; nothing is changed.
      const allowed = isTokenRoute(op) ? f.token : isWrite(op) ? writeToken : readToken;
      const missing = op.pathParams.length ? fillPath(op.path, Object.fromEntries(op.pathParams.map((p) => [p, "missing_0000"]))) : op.path;
      const res = await rec.send(`${op.operationId} allowed scope`, op.operationId, op.method, missing, {
        token: allowed,
        ...(op.pathParams.length ? withBody : op.method === "GET" ? {} : { body: { unexpected_field: 1 } }),
      });
      const want = op.pathParams.length ? [404] : op.method === "GET" ? [200] : [400];
      rec.check(
        want.includes(res.status),
        `${op.operationId} allowed scope`,
        `expected ${want}, got ${res.status} ${res.text.slice(0, 200)}`,
      );
    }
    rec.summary();
    expect(rec.problems).toEqual([]);
  });

  it("hides every object of workspace A from workspace B's admin token on every route, in lists, filters, bodies and idempotency keys", async () => {
    const rec = new Recorder("security/isolation");
    const aIds = [f.sourceId, f.modelId, f.destinationId, f.syncId, f.runId, f.tokenId];
    const snapshotA = await workspaceSnapshot(f.workspaceId);
    let routes = 0;
    for (const op of operations.filter((o) => !o.public && o.pathParams.length > 0)) {
      routes++;
      const body = samples[op.operationId];
      await sweep(
        rec,
        op,
        [{ label: "B's token on A's object", path: fixturePath(op), opts: { token: b.token, ...(body === undefined ? {} : { body }) } }],
        (res) => (res.status === 404 && errorCode(res) === "not_found" ? undefined : "expected 404 not_found"),
      );
    }
    // B's lists, with every filter and cursor trick, never show A's ids.
    for (const op of operations.filter((o) => !o.public && o.method === "GET" && o.pathParams.length === 0)) {
      const queries = ["", "?limit=200", "?cursor=zzzzzzzz", `?cursor=${encodeURIComponent("' OR 1=1 --")}`];
      for (const p of op.queryParams)
        if (/_id$/.test(p.name)) queries.push(`?${p.name}=${aIds.find((id) => id.startsWith(p.name.slice(0, 3))) ?? f.modelId}`);
      if (op.queryParams.some((p) => p.name === "status")) queries.push("?status=archived", "?status=created");
      for (const q of queries) {
        const res = await rec.send(`${op.operationId} ${q}`, op.operationId, "GET", `${op.path}${q}`, { token: b.token });
        rec.check(res.status === 200, `${op.operationId} ${q}`, `answered ${res.status}`);
        const leaked = aIds.filter((id) => res.text.includes(id));
        rec.check(leaked.length === 0, `${op.operationId} ${q}`, `shows A's ${leaked.join(", ")}`);
      }
    }
    // B cannot point its own objects at A's.
    const refs: [string, string, Json, string[]][] = [
      [
        "createModel",
        "/api/v1/models",
        { name: "x", source_id: f.sourceId, sql: `SELECT id FROM ${f.table}`, primary_key: "id" },
        ["source_id"],
      ],
      [
        "createSync",
        "/api/v1/syncs",
        { ...(samples.createSync as Record<string, Json>), model_id: f.modelId, destination_id: f.destinationId },
        ["model_id", "destination_id"],
      ],
    ];
    for (const [operationId, path, body, fields] of refs) {
      const countsB = await workspaceCounts(b.workspaceId);
      const res = await rec.send(`${operationId} with A's ids`, operationId, "POST", path, { token: b.token, body });
      for (const field of fields)
        rec.check(
          res.status === 400 && namesPath(res, field),
          `${operationId} with A's ids`,
          `does not refuse ${field}: ${res.status} ${res.text.slice(0, 200)}`,
        );
      rec.check(
        aIds.every((id) => !res.text.includes(id) || JSON.stringify(body).includes(id)),
        operationId,
        "echoes other A objects",
      );
      expect(await workspaceCounts(b.workspaceId)).toEqual(countsB);
    }
    // The same Idempotency-Key in two workspaces is two requests.
    const key = `shared-${crypto.randomUUID()}`;
    const body = { name: "idem", scope: "read" };
    const inA = await rec.send("createToken key in A", "createToken", "POST", "/api/v1/tokens", {
      token: f.token,
      body,
      headers: { "idempotency-key": key },
    });
    const inB = await rec.send("createToken key in B", "createToken", "POST", "/api/v1/tokens", {
      token: b.token,
      body,
      headers: { "idempotency-key": key },
    });
    await addToken("A idempotent token", (inA.json as { token: string }).token);
    await addToken("B idempotent token", (inB.json as { token: string }).token);
    rec.check(inA.status === 201 && inB.status === 201, "idempotency across workspaces", `${inA.status} / ${inB.status}`);
    rec.check(inB.headers.get("idempotent-replayed") === null, "idempotency across workspaces", "B got A's replay");
    rec.check(
      (inA.json as { token: string }).token !== (inB.json as { token: string }).token,
      "idempotency across workspaces",
      "B got A's token",
    );
    const bTokenId = (inB.json as { id: string }).id;
    rec.check(
      (await send("GET", `/api/v1/tokens/${bTokenId}`, { token: f.token })).status === 404,
      "idempotency across workspaces",
      "B's token is visible to A",
    );

    // Everything B did left A as it was (apart from the token A created above).
    await send("DELETE", `/api/v1/tokens/${(inA.json as { id: string }).id}`, { token: f.token });
    const after = await workspaceSnapshot(f.workspaceId);
    rec.check(
      after
        .split("\n")
        .filter((l) => !l.startsWith("api_tokens") && !l.startsWith("idempotency_keys"))
        .join() ===
        snapshotA
          .split("\n")
          .filter((l) => !l.startsWith("api_tokens") && !l.startsWith("idempotency_keys"))
          .join(),
      "isolation",
      "A's objects changed",
    );
    rec.summary({ routes_with_ids: routes });
    expect(rec.problems).toEqual([]);
  });
});

describe("secrets", () => {
  const responses: { operationId: string; label: string; text: string; headers: string }[] = [];
  const logs: string[] = [];
  /** Secrets a response may carry: a token at its creation, a trigger secret at creation or rotation. */
  const allowed = new Map<string, Set<string>>();
  const allow = (label: string, secretName: string) => allowed.set(label, new Set([...(allowed.get(label) ?? []), secretName]));

  afterAll(() => vi.restoreAllMocks());

  it("never returns or logs a secret during a full walk of every operation", async () => {
    const rec = new Recorder("security/secret-walk");
    for (const method of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        logs.push(
          args.map((a) => (typeof a === "string" ? a : a instanceof Error ? `${a.message} ${a.stack}` : JSON.stringify(a))).join(" "),
        );
      });
    }
    const walked = new Set<string>();
    const step = async (operationId: string, method: string, path: string, opts: SendOptions = {}, want?: number) => {
      walked.add(operationId);
      const label = `${operationId} #${responses.length}`;
      const res = await rec.send(label, operationId, method, path, { token: f.token, ...opts });
      responses.push({ operationId, label, text: res.text, headers: JSON.stringify([...res.headers]) });
      if (want !== undefined) rec.check(res.status === want, label, `expected ${want}, got ${res.status} ${res.text.slice(0, 300)}`);
      return res;
    };
    const id = (res: Answer) => (res.json as { id: string }).id;
    const idem = () => ({ "idempotency-key": `walk-${crypto.randomUUID()}` });

    // Sources: a password in the URL, replayed, changed, tested against a dead port.
    const srcKey = idem();
    const srcBody = {
      name: "walk",
      type: "postgres",
      connection_string: `postgres://postgres:${S.sourcePassword}@127.0.0.1:5432/test?password=${S.sourcePassword}`,
    };
    const src = await step("createSource", "POST", "/api/v1/sources", { body: srcBody, headers: srcKey }, 201);
    await step("createSource", "POST", "/api/v1/sources", { body: srcBody, headers: srcKey }, 201);
    await step("listSources", "GET", "/api/v1/sources", {}, 200);
    await step("getSource", "GET", `/api/v1/sources/${id(src)}`, {}, 200);
    await step("testSource", "POST", `/api/v1/sources/${id(src)}/test`, {}, 200);
    await step(
      "updateSource",
      "PUT",
      `/api/v1/sources/${id(src)}`,
      { body: { connection_string: `postgres://postgres:${S.sourcePassword2}@127.0.0.1:1/test` } },
      200,
    );
    await step("testSource", "POST", `/api/v1/sources/${id(src)}/test`, {}, 200);
    await step(
      "createModel",
      "POST",
      "/api/v1/models",
      { body: { name: "dead", source_id: id(src), sql: "SELECT 1 AS id", primary_key: "id" } },
      422,
    );
    await step(
      "updateSource",
      "PUT",
      `/api/v1/sources/${id(src)}`,
      { body: { connection_string: `postgres://postgres:${S.sourcePassword2}@127.0.0.1:5432/test` } },
      200,
    );

    // Models.
    const model = await step(
      "createModel",
      "POST",
      "/api/v1/models",
      {
        body: { name: "walk", source_id: id(src), sql: `SELECT id, email, name, plan FROM ${f.table}`, primary_key: "id" },
        headers: idem(),
      },
      201,
    );
    await step("listModels", "GET", "/api/v1/models", {}, 200);
    await step("getModel", "GET", `/api/v1/models/${id(model)}`, {}, 200);
    await step("updateModel", "PUT", `/api/v1/models/${id(model)}`, { body: { name: "walk 2" } }, 200);
    await step("previewModel", "POST", `/api/v1/models/${id(model)}/preview`, { body: { limit: 2 } }, 200);
    await step("previewModel", "POST", `/api/v1/models/${f.modelId}/preview`, {}, 200);
    await step(
      "previewQuery",
      "POST",
      "/api/v1/models/preview",
      { body: { source_id: f.sourceId, sql: `SELECT id FROM ${f.table}` } },
      200,
    );

    // Destinations of every type, each with credentials.
    const destBodies: Json[] = [
      {
        name: "pg",
        type: "postgres",
        config: { table: "crm", key_column: "id" },
        credentials: { connection_string: `postgres://writer:${S.pgDestPassword}@127.0.0.1:5432/test` },
      },
      {
        name: "sf",
        type: "salesforce",
        config: { instance_url: "https://acme.my.salesforce.com", object: "Contact", external_id_field: "Ext__c" },
        credentials: {
          access_token: S.sfAccessToken,
          refresh_token: S.sfRefreshToken,
          client_id: "client",
          client_secret: S.sfClientSecret,
        },
      },
      {
        name: "hs",
        type: "hubspot",
        config: { object_type: "contacts", id_property: "email" },
        credentials: { access_token: S.hubspotToken },
      },
    ];
    const dests: string[] = [];
    for (const body of destBodies)
      dests.push(id(await step("createDestination", "POST", "/api/v1/destinations", { body, headers: idem() }, 201)));
    await step("listDestinations", "GET", "/api/v1/destinations?limit=200", {}, 200);
    for (const d of [...dests, f.destinationId]) await step("getDestination", "GET", `/api/v1/destinations/${d}`, {}, 200);
    await step(
      "updateDestination",
      "PUT",
      `/api/v1/destinations/${dests[2]}`,
      { body: { credentials: { access_token: S.hubspotToken2 } } },
      200,
    );
    await step("testDestination", "POST", `/api/v1/destinations/${f.destinationId}/test`, {}, 200);
    await step("testDestination", "POST", `/api/v1/destinations/${dests[0]}/test`, {}, 200);
    // A webhook describes no fields (409); the walk checks the answer carries no secret.
    await step("listDestinationFields", "GET", `/api/v1/destinations/${f.destinationId}/fields`, {}, 409);
    await step("deleteDestination", "DELETE", `/api/v1/destinations/${dests[0]}`, {}, 204);

    // Alert channels: a Slack webhook URL and a PagerDuty routing key are secrets; a webhook
    // channel's signing secret is shown once (and in the create's replay).
    const chKey = idem();
    const hookBody = { name: "walk hook", type: "webhook", config: { url: `${env.ALERT_RECEIVER_URL}/r/walk` } };
    const hook = await step("createAlertChannel", "POST", "/api/v1/alert-channels", { body: hookBody, headers: chKey }, 201);
    allow(`createAlertChannel #${responses.length - 1}`, "walk signing secret");
    secrets.set("walk signing secret", (hook.json as { signing_secret: string }).signing_secret);
    await step("createAlertChannel", "POST", "/api/v1/alert-channels", { body: hookBody, headers: chKey }, 201);
    allow(`createAlertChannel #${responses.length - 1}`, "walk signing secret");
    const slack = await step(
      "createAlertChannel",
      "POST",
      "/api/v1/alert-channels",
      {
        body: { name: "walk slack", type: "slack", config: { webhook_url: `${env.SLACK_URL}/services/${S.slackHook}/B0/X` } },
        headers: idem(),
      },
      201,
    );
    const pd = await step(
      "createAlertChannel",
      "POST",
      "/api/v1/alert-channels",
      { body: { name: "walk pd", type: "pagerduty", config: { routing_key: S.pagerDutyKey } }, headers: idem() },
      201,
    );
    await step("listAlertChannels", "GET", "/api/v1/alert-channels?limit=200", {}, 200);
    for (const c of [hook, slack, pd]) await step("getAlertChannel", "GET", `/api/v1/alert-channels/${id(c)}`, {}, 200);
    await step(
      "updateAlertChannel",
      "PUT",
      `/api/v1/alert-channels/${id(pd)}`,
      { body: { config: { routing_key: S.pagerDutyKey2 } } },
      200,
    );
    for (const c of [hook, slack, pd]) await step("testAlertChannel", "POST", `/api/v1/alert-channels/${id(c)}/test`, {}, 200);
    await step("deleteAlertChannel", "DELETE", `/api/v1/alert-channels/${id(slack)}`, {}, 204);

    // Tokens: the plaintext only in the create response (and its replay).
    const tokKey = idem();
    const tok = await step("createToken", "POST", "/api/v1/tokens", { body: { name: "walk", scope: "write" }, headers: tokKey }, 201);
    allow(`createToken #${responses.length - 1}`, "walk token");
    await step("createToken", "POST", "/api/v1/tokens", { body: { name: "walk", scope: "write" }, headers: tokKey }, 201);
    allow(`createToken #${responses.length - 1}`, "walk token");
    await addToken("walk token", (tok.json as { token: string }).token);
    await step("listTokens", "GET", "/api/v1/tokens", {}, 200);
    await step("getToken", "GET", `/api/v1/tokens/${id(tok)}`, {}, 200);
    await step("listSources", "GET", "/api/v1/sources", { token: (tok.json as { token: string }).token }, 200);
    await step("revokeToken", "DELETE", `/api/v1/tokens/${id(tok)}`, {}, 200);

    // Syncs, runs, trigger webhooks, rotation, lifecycle.
    const syncKey = idem();
    const syncBody = {
      ...(samples.createSync as Record<string, Json>),
      model_id: id(model),
      destination_id: f.destinationId,
      paused: false,
      schedule: { type: "manual" },
    };
    const sync = await step("createSync", "POST", "/api/v1/syncs", { body: syncBody, headers: syncKey }, 201);
    allow(`createSync #${responses.length - 1}`, "walk trigger secret");
    await step("createSync", "POST", "/api/v1/syncs", { body: syncBody, headers: syncKey }, 201);
    allow(`createSync #${responses.length - 1}`, "walk trigger secret");
    secrets.set(
      "walk trigger secret",
      String((sync.json as { trigger_url: string }).trigger_url)
        .split("/")
        .at(-1) ?? "",
    );
    const syncId = id(sync);
    await step("listSyncs", "GET", "/api/v1/syncs", {}, 200);
    await step("getSync", "GET", `/api/v1/syncs/${syncId}`, {}, 200);
    await step("updateSync", "PUT", `/api/v1/syncs/${syncId}`, { body: { name: "walk 2" } }, 200);
    const run = await step("triggerSync", "POST", `/api/v1/syncs/${syncId}/trigger`, { body: { full_resync: true } }, 202);
    await waitForRun(syncId, id(run), { token: f.token });
    await step("listSyncRuns", "GET", `/api/v1/syncs/${syncId}/runs`, {}, 200);
    await step("getSyncRun", "GET", `/api/v1/syncs/${syncId}/runs/${id(run)}`, {}, 200);
    await step("listSyncRunErrors", "GET", `/api/v1/syncs/${syncId}/runs/${id(run)}/errors`, {}, 200);
    await step("listSyncRunOperations", "GET", `/api/v1/syncs/${syncId}/runs/${id(run)}/operations`, {}, 200);
    await step("getSyncRecordHistory", "GET", `/api/v1/syncs/${syncId}/records/1`, {}, 200);
    // The run has ended: a cancel answers 409.
    await step("cancelSyncRun", "POST", `/api/v1/syncs/${syncId}/runs/${id(run)}/cancel`, {}, 409);
    const rotated = await step("rotateSyncTriggerSecret", "POST", `/api/v1/syncs/${syncId}/trigger-secret`, {}, 200);
    allow(`rotateSyncTriggerSecret #${responses.length - 1}`, "walk rotated secret");
    const secret = (rotated.json as { secret: string }).secret;
    secrets.set("walk rotated secret", secret);
    const byUrl = await step("triggerSyncBySecretUrl", "POST", `/api/v1/hooks/syncs/${syncId}/${secret}`, { token: null }, 202);
    await waitForRun(syncId, id(byUrl), { token: f.token });
    const ts = String(Math.floor(Date.now() / 1000));
    const payload = JSON.stringify({ source: "walk" });
    const signed = await step(
      "triggerSyncBySignature",
      "POST",
      `/api/v1/hooks/syncs/${syncId}`,
      {
        token: null,
        raw: payload,
        headers: { "x-timestamp": ts, "x-signature": `sha256=${await hmacSha256Hex(secret, `${ts}.${payload}`)}` },
      },
      202,
    );
    await waitForRun(syncId, id(signed), { token: f.token });
    await step("getSync", "GET", `/api/v1/syncs/${syncId}`, {}, 200);
    await step("pauseSync", "POST", `/api/v1/syncs/${syncId}/pause`, {}, 200);
    await step("resumeSync", "POST", `/api/v1/syncs/${syncId}/resume`, {}, 200);
    await step("deleteSync", "DELETE", `/api/v1/syncs/${syncId}`, {}, 200);
    await step("restoreSync", "POST", `/api/v1/syncs/${syncId}/restore`, {}, 200);
    await step("deleteSync", "DELETE", `/api/v1/syncs/${syncId}?permanent=true`, {}, 204);
    await step("deleteModel", "DELETE", `/api/v1/models/${id(model)}`, {}, 204);
    await step("deleteSource", "DELETE", `/api/v1/sources/${id(src)}`, {}, 204);
    // The audit log of everything above (secrets set, rotated, shown once): none may come back.
    await step("listAuditEvents", "GET", "/api/v1/audit-events?limit=200", {}, 200);
    await step("listAuditEvents", "GET", `/api/v1/audit-events?resource_id=${syncId}`, {}, 200);
    vi.restoreAllMocks();

    // Every operation of the document was walked.
    expect(
      operations.map((o) => o.operationId).filter((o) => !walked.has(o)),
      "operations missing from the walk",
    ).toEqual([]);

    // D1 ciphertexts must not come back either.
    const ciphertexts = Object.values(await dumpD1()).flatMap((rows) =>
      [...rows.matchAll(/v1\.[A-Za-z0-9+/=]{8,}\.[A-Za-z0-9+/=]{8,}/g)].map((m) => m[0]),
    );
    let checks = 0;
    for (const r of responses) {
      for (const [name, value] of secrets) {
        if (!value || allowed.get(r.label)?.has(name)) continue;
        checks++;
        rec.check(!r.text.includes(value) && !r.headers.includes(value), r.label, `response carries ${name}`);
      }
      for (const c of ciphertexts) rec.check(!r.text.includes(c), r.label, "response carries a ciphertext");
    }
    for (const line of logs) {
      for (const [name, value] of secrets)
        if (value && line.includes(value)) rec.check(false, "log", `a log line carries ${name}: ${line.slice(0, 200)}`);
    }
    rec.check(logs.length > 0, "log", "no log lines were captured, so the log check proves nothing");
    for (const [label, names] of allowed) {
      const r = responses.find((x) => x.label === label);
      for (const name of names)
        rec.check(Boolean(r?.text.includes(secrets.get(name) ?? "\u0000")), label, `was expected to show ${name} once`);
    }
    rec.summary({ responses: responses.length, log_lines: logs.length, secrets: secrets.size, secret_checks: checks });
    expect(rec.problems).toEqual([]);
  });

  it("keeps no plaintext secret in any D1 row of any table (idempotency replays included) nor in Durable Object storage", async () => {
    const tables = await dumpD1();
    const found: string[] = [];
    for (const [table, rows] of Object.entries(tables)) {
      for (const [name, value] of secrets) {
        if (name.endsWith("(SHA-256)") || !value) continue;
        if (rows.includes(value)) found.push(`${table} holds ${name}`);
      }
    }
    // Tokens are stored as their hash, and idempotent replays of secret-bearing creates are sealed.
    expect(tables.api_tokens).toContain(secrets.get("A created token (SHA-256)"));
    const replays = (
      await env.DB.prepare("SELECT body FROM idempotency_keys WHERE workspace_id = ?").bind(f.workspaceId).all<{ body: string }>()
    ).results;
    expect(replays.length).toBeGreaterThanOrEqual(4);
    for (const r of replays) expect(r.body).toMatch(/^v1\./);

    const stub = env.SYNC.get(env.SYNC.idFromName(f.syncId));
    const stored = await runInDurableObject(stub, async (_instance, state) => {
      const kv = JSON.stringify([...state.storage.kv.list()]);
      const tablesSql = [
        ...state.storage.sql.exec<{ name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite_%'",
        ),
      ].map((r) => r.name);
      const rows = tablesSql.map((t) => JSON.stringify([...state.storage.sql.exec(`SELECT * FROM "${t}"`)]));
      return kv + rows.join("");
    });
    for (const [name, value] of secrets)
      if (value && !name.endsWith("(SHA-256)") && stored.includes(value)) found.push(`SyncObject storage holds ${name}`);
    console.log(
      `[security/at-rest] ${JSON.stringify({ d1_tables: Object.keys(tables).length, d1_bytes: Object.values(tables).join("").length, do_bytes: stored.length, secrets: secrets.size, plaintext_found: found.length })}`,
    );
    expect(found).toEqual([]);
  });
});

describe("trigger webhooks", () => {
  it("refuse wrong, foreign, rotated, malformed, mis-signed, stale and future requests alike, starting no run", async () => {
    const rec = new Recorder("security/trigger-webhooks");
    const other = await send("POST", "/api/v1/syncs", {
      token: f.token,
      body: { ...(samples.createSync as Record<string, Json>), name: "other" },
    });
    expect(other.status).toBe(201);
    const otherId = (other.json as { id: string }).id;
    const otherSecret =
      String((other.json as { trigger_url: string }).trigger_url)
        .split("/")
        .at(-1) ?? "";
    const old = f.triggerSecret;
    const rotated = await send("POST", `/api/v1/syncs/${f.syncId}/trigger-secret`, { token: f.token });
    const secret = (rotated.json as { secret: string }).secret;
    f.triggerSecret = secret;
    const now = () => Math.floor(Date.now() / 1000);
    const sign = async (key: string, ts: number | string, body: string) => `sha256=${await hmacSha256Hex(key, `${ts}.${body}`)}`;
    const body = JSON.stringify({ reason: "dbt finished" });
    const url = (id: string, s: string) => `/api/v1/hooks/syncs/${id}/${encodeURIComponent(s)}`;
    const flip = (s: string) => s.slice(0, -1) + (s.endsWith("A") ? "B" : "A");

    const bySecret: [string, string][] = [
      ["wrong secret", url(f.syncId, "wrong")],
      ["other sync's secret", url(f.syncId, otherSecret)],
      ["secret before rotation", url(f.syncId, old)],
      ["one character changed", url(f.syncId, flip(secret))],
      ["upper-cased", url(f.syncId, secret.toUpperCase())],
      ["secret plus a character", url(f.syncId, `${secret}x`)],
      ["prefix of the secret", url(f.syncId, secret.slice(0, 8))],
      ["the secret on the other sync", url(otherId, secret)],
      ["the secret on an unknown sync", url(newId("sync"), secret)],
      ["the sync id as secret", url(f.syncId, f.syncId)],
      ["the secret's SHA-256", url(f.syncId, await sha256Hex(secret))],
    ];
    const signed: [string, Record<string, string>, string?][] = [
      ["no headers", {}],
      ["no signature", { "x-timestamp": String(now()) }],
      ["no timestamp", { "x-signature": await sign(secret, now(), body) }],
      ["bad hex", { "x-timestamp": String(now()), "x-signature": "sha256=zz" }],
      ["no sha256= prefix", { "x-timestamp": String(now()), "x-signature": (await sign(secret, now(), body)).slice(7) }],
      [
        "upper-case hex",
        { "x-timestamp": String(now()), "x-signature": `sha256=${(await sign(secret, now(), body)).slice(7).toUpperCase()}` },
      ],
      ["other sync's secret", { "x-timestamp": String(now()), "x-signature": await sign(otherSecret, now(), body) }],
      ["secret before rotation", { "x-timestamp": String(now()), "x-signature": await sign(old, now(), body) }],
      ["another body", { "x-timestamp": String(now()), "x-signature": await sign(secret, now(), "{}") }],
      ["signed timestamp differs", { "x-timestamp": String(now()), "x-signature": await sign(secret, now() - 60, body) }],
      ["stale (6 minutes)", { "x-timestamp": String(now() - 360), "x-signature": await sign(secret, now() - 360, body) }],
      ["future (6 minutes)", { "x-timestamp": String(now() + 360), "x-signature": await sign(secret, now() + 360, body) }],
      ["timestamp in ms", { "x-timestamp": String(Date.now()), "x-signature": await sign(secret, Date.now(), body) }],
      ["non-numeric timestamp", { "x-timestamp": "yesterday", "x-signature": await sign(secret, "yesterday", body) }],
      ["negative timestamp", { "x-timestamp": `-${now()}`, "x-signature": await sign(secret, `-${now()}`, body) }],
    ];
    const runsBefore = (await workspaceCounts(f.workspaceId)).sync_runs;
    const messages = new Set<string>();
    const refusedAlike = (res: Answer) => {
      if (res.status !== 401 || errorCode(res) !== "unauthorized")
        return res.status === 400 && namesPath(res, "secret") ? undefined : "expected 401";
      messages.add((res.json as { error: { message: string } }).error.message);
      return undefined;
    };
    const hookOp = (operationId: string) => operations.find((o) => o.operationId === operationId) as Operation;
    await sweep(
      rec,
      hookOp("triggerSyncBySecretUrl"),
      bySecret.map(([label, path]) => ({ label, path, opts: {} })),
      refusedAlike,
    );
    const signedCases = signed.map(([label, headers]) => ({
      label,
      path: `/api/v1/hooks/syncs/${f.syncId}`,
      opts: { raw: body, headers },
    }));
    signedCases.push({
      label: "unknown sync",
      path: `/api/v1/hooks/syncs/${newId("sync")}`,
      opts: { raw: body, headers: { "x-timestamp": String(now()), "x-signature": await sign(secret, now(), body) } },
    });
    signedCases.push({
      label: "signature of the other sync on this one",
      path: `/api/v1/hooks/syncs/${f.syncId}`,
      opts: { raw: body, headers: { "x-timestamp": String(now()), "x-signature": await sign(otherSecret, now(), body) } },
    });
    await sweep(rec, hookOp("triggerSyncBySignature"), signedCases, (res) =>
      res.status === 401 && errorCode(res) === "unauthorized" ? undefined : "expected 401",
    );
    expect((await workspaceCounts(f.workspaceId)).sync_runs, "a refused trigger started a run").toBe(runsBefore);
    // Unknown sync, wrong secret and bad signature answer with the same words: the hook is no oracle.
    expect([...messages]).toHaveLength(1);

    // The right secret and signature do start runs (so the refusals above are meaningful).
    const ok1 = await rec.send("right secret", "triggerSyncBySecretUrl", "POST", url(f.syncId, secret));
    const ts = now();
    const ok2 = await rec.send("right signature", "triggerSyncBySignature", "POST", `/api/v1/hooks/syncs/${f.syncId}`, {
      raw: body,
      headers: { "x-timestamp": String(ts), "x-signature": await sign(secret, ts, body) },
    });
    expect([ok1.status, ok2.status]).toEqual([202, 202]);
    for (const r of new Set([(ok1.json as { id: string }).id, (ok2.json as { id: string }).id]))
      await waitForRun(f.syncId, r, { token: f.token });
    rec.summary({ refusal_message: [...messages][0] });
    expect(rec.problems).toEqual([]);
  });
});

describe("warehouse queries", () => {
  it("are read-only: writes, writable CTEs, sequences, COPY, locking reads and smuggled statements are refused on create, update, preview and run, and the warehouse is untouched", async () => {
    const rec = new Recorder("security/read-only-warehouse");
    const r = crypto.randomUUID().replaceAll("-", "").slice(0, 10);
    const victim = `sec_victim_${r}`;
    const seq = `sec_seq_${r}`;
    await pg(`CREATE TABLE ${victim} (id text PRIMARY KEY, v int)`);
    await pg(`INSERT INTO ${victim} VALUES ('a', 1), ('b', 2), ('c', 3)`);
    await pg(`CREATE SEQUENCE ${seq}`);
    await pg(
      `CREATE FUNCTION sec_wipe_${r}() RETURNS text VOLATILE LANGUAGE plpgsql AS $$ BEGIN DELETE FROM ${victim}; RETURN 'wiped'; END $$`,
    );
    const state = async () => {
      const client = await connectPostgres(WAREHOUSE_URL, { statementTimeoutMs: 10_000, allowPrivate: true });
      try {
        const res = await client.query<{ rows: string; seq: string; created: boolean; lo: string }>(
          `SELECT (SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM ${victim}) AS rows,
                  (SELECT last_value || '/' || is_called FROM ${seq}) AS seq,
                  to_regclass('sec_new_${r}') IS NOT NULL AS created,
                  (SELECT count(*) FROM pg_largeobject_metadata)::text AS lo`,
        );
        return JSON.stringify(res.rows[0]);
      } finally {
        await closePostgres(client);
      }
    };
    const before = await state();
    const writes = [
      `INSERT INTO ${victim} VALUES ('x', 9) RETURNING id`,
      `UPDATE ${victim} SET v = 0 RETURNING id`,
      `DELETE FROM ${victim} RETURNING id`,
      `MERGE INTO ${victim} t USING (SELECT 'a' AS id) s ON t.id = s.id WHEN MATCHED THEN DELETE`,
      `CREATE TABLE sec_new_${r} AS SELECT 1 AS id`,
      `DROP TABLE ${victim}`,
      `TRUNCATE ${victim}`,
      `/* a comment first */ DELETE FROM ${victim}`,
      `((DELETE FROM ${victim} RETURNING id))`,
      `WITH d AS (DELETE FROM ${victim} RETURNING id) SELECT id FROM d`,
      `WITH u AS (UPDATE ${victim} SET v = 0 RETURNING id) SELECT id FROM u`,
      `WITH x AS (SELECT 1) INSERT INTO ${victim} SELECT 'y', 1 RETURNING id`,
      `SELECT nextval('${seq}')::text AS id`,
      `SELECT setval('${seq}', 1000)::text AS id`,
      `SELECT sec_wipe_${r}() AS id`,
      `SELECT id FROM ${victim} FOR UPDATE`,
      `SELECT id FROM ${victim} FOR SHARE`,
      `COPY ${victim} TO STDOUT`,
      `COPY (SELECT 1 AS id) TO '/tmp/sec_copy_${r}'`,
      `SELECT 1 AS id) AS m; DROP TABLE ${victim}; --`,
      `SELECT 1 AS id) AS m; COMMIT; DELETE FROM ${victim}; BEGIN; SELECT * FROM (SELECT 1 AS id`,
      `SELECT 1 AS id; DELETE FROM ${victim}`,
      `VALUES ('a')) AS m (id); DELETE FROM ${victim}; SELECT * FROM (VALUES ('a')`,
      `SELECT 1 AS id \u0000; DELETE FROM ${victim}`,
      `EXPLAIN ANALYZE DELETE FROM ${victim}`,
      `CALL sec_wipe_${r}()`,
      `DO $$ BEGIN DELETE FROM ${victim}; END $$`,
      `SET default_transaction_read_only = off`,
      `SELECT set_config('transaction_read_only', 'off', true) AS id, (SELECT count(*) FROM ${victim}) AS n`,
    ];
    // Postgres lets these run in a read-only transaction; model transactions never commit, so they roll back.
    const rolledBack = [`SELECT lo_import('/etc/hostname')::text AS id`, `SELECT lo_create(0)::text AS id`];
    const counts = await workspaceCounts(f.workspaceId);
    const modelBefore = await send("GET", `/api/v1/models/${f.modelId}`, { token: f.token });
    const now = new Date().toISOString();
    const savedInert: string[] = [];
    let sent = 0;
    await pool(writes, 8, async (sql) => {
      const label = sql.slice(0, 60);
      const create = await rec.send(`createModel ${label}`, "createModel", "POST", "/api/v1/models", {
        token: f.token,
        body: { name: "w", source_id: f.sourceId, sql, primary_key: "id" },
      });
      if (create.status === 201) {
        // Columns are learned with LIMIT 0, which never calls a function of the select list: such a
        // model saves, and is refused when it first reads rows (checked by the preview below).
        savedInert.push(sql);
        await send("DELETE", `/api/v1/models/${(create.json as { id: string }).id}`, { token: f.token });
      } else {
        rec.check(
          create.status === 400 || create.status === 422,
          `createModel ${label}`,
          `answered ${create.status} ${create.text.slice(0, 200)}`,
        );
        if (create.status === 400) rec.check(namesPath(create, "sql"), `createModel ${label}`, "does not name sql");
      }
      const update = await rec.send(`updateModel ${label}`, "updateModel", "PUT", `/api/v1/models/${f.modelId}`, {
        token: f.token,
        body: { sql },
      });
      rec.check([400, 409, 422].includes(update.status), `updateModel ${label}`, `answered ${update.status}`);
      // A stored model (bypassing the API's checks) still cannot write when previewed.
      const stored = newId("model");
      await env.DB.prepare(
        "INSERT INTO models (id, workspace_id, source_id, name, sql, primary_key, columns, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      )
        .bind(stored, f.workspaceId, f.sourceId, "stored", sql, "id", JSON.stringify([{ name: "id", type: "text" }]), now, now)
        .run();
      const preview = await rec.send(`previewModel ${label}`, "previewModel", "POST", `/api/v1/models/${stored}/preview`, {
        token: f.token,
      });
      rec.check(
        preview.status === 422 || preview.status === 400,
        `previewModel ${label}`,
        `answered ${preview.status} ${preview.text.slice(0, 200)}`,
      );
      await env.DB.prepare("DELETE FROM models WHERE id = ?").bind(stored).run();
      sent += 3;
    });
    for (const sql of rolledBack) {
      const created = await rec.send(`createModel ${sql}`, "createModel", "POST", "/api/v1/models", {
        token: f.token,
        body: { name: "lo", source_id: f.sourceId, sql, primary_key: "id" },
      });
      rec.check(created.status === 201, `createModel ${sql}`, `answered ${created.status}`);
      const modelId = (created.json as { id: string }).id;
      await rec.send(`previewModel ${sql}`, "previewModel", "POST", `/api/v1/models/${modelId}/preview`, { token: f.token });
      await send("DELETE", `/api/v1/models/${modelId}`, { token: f.token });
    }
    rec.check(
      (await send("GET", `/api/v1/models/${f.modelId}`, { token: f.token })).text === modelBefore.text,
      "updateModel",
      "the model changed",
    );
    rec.check(JSON.stringify(await workspaceCounts(f.workspaceId)) === JSON.stringify(counts), "createModel", "a refused model was saved");

    // Runs stream the stored SQL through a cursor: the same refusals, and the run fails.
    const runSqls = [/^WITH d AS \(DELETE/, /nextval/, /\) AS m; DROP/].map((re) => writes.find((w) => re.test(w)) ?? String(re));
    const runs = await Promise.all(
      runSqls.map(async (sql) => {
        const modelId = newId("model");
        await env.DB.prepare(
          "INSERT INTO models (id, workspace_id, source_id, name, sql, primary_key, columns, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
          .bind(modelId, f.workspaceId, f.sourceId, "stored", sql, "id", JSON.stringify([{ name: "id", type: "text" }]), now, now)
          .run();
        const sync = await send("POST", "/api/v1/syncs", {
          token: f.token,
          body: {
            name: "w",
            model_id: modelId,
            destination_id: f.destinationId,
            mode: "upsert",
            schedule: { type: "manual" },
            field_mappings: [{ source: "id", destination: "Id" }],
          },
        });
        expect(sync.status, sync.text).toBe(201);
        const syncId = (sync.json as { id: string }).id;
        const run = await send("POST", `/api/v1/syncs/${syncId}/trigger`, { token: f.token });
        return { sql, run: await waitForRun(syncId, (run.json as { id: string }).id, { token: f.token }) };
      }),
    );
    for (const { sql, run } of runs)
      rec.check(run.status === "failed", `run ${sql.slice(0, 60)}`, `run ended ${JSON.stringify(run).slice(0, 300)}`);
    expect(await state(), "the warehouse changed").toBe(before);
    rec.summary({
      statements: writes.length,
      api_requests: sent,
      runs: runs.length,
      saved_but_refused_on_read: savedInert.length,
      rolled_back: rolledBack.length,
      warehouse_unchanged: true,
    });
    console.log(
      `[security/read-only-warehouse] saved (LIMIT 0 never ran them), then refused on preview and run: ${JSON.stringify(savedInert.map((q) => q.slice(0, 50)))}`,
    );
    expect(rec.problems).toEqual([]);
  });

  it("run under a statement timeout that the model cannot lift", async () => {
    const opts = { statementTimeoutMs: 500, allowPrivate: true };
    const cases: [string, () => Promise<unknown>][] = [
      ["preview", () => previewQuery(WAREHOUSE_URL, "SELECT pg_sleep(600)::text AS id", 1, opts)],
      [
        "preview lifting its timeout",
        () => previewQuery(WAREHOUSE_URL, "SELECT set_config('statement_timeout', '0', true) AS a, pg_sleep(600)::text AS id", 1, opts),
      ],
      [
        "stream",
        async () => {
          for await (const page of streamQuery(WAREHOUSE_URL, "SELECT g::text AS id FROM generate_series(1, 10) g, pg_sleep(600)", opts))
            void page;
        },
      ],
    ];
    const timings: Record<string, number> = {};
    for (const [label, run] of cases) {
      const started = Date.now();
      const err = await run().then(
        () => undefined,
        (e: unknown) => e,
      );
      timings[label] = Date.now() - started;
      expect(err, label).toBeInstanceOf(WarehouseError);
      if (err instanceof WarehouseError) expect(err.code, `${label}: ${err.message}`).toBe("timeout");
      expect(timings[label], label).toBeLessThan(5_000);
    }
    // Through the API, with the deployment's setting made short: the preview of such a model times out.
    const fetcher = appWithEnv({ WAREHOUSE_STATEMENT_TIMEOUT_MS: "500" });
    const model = await send("POST", "/api/v1/models", {
      token: f.token,
      fetcher,
      body: {
        name: "lifts",
        source_id: f.sourceId,
        sql: "SELECT set_config('statement_timeout', '0', true) AS a, pg_sleep(600)::text AS id",
        primary_key: "id",
      },
    });
    expect(model.status, model.text).toBe(201);
    const started = Date.now();
    const res = await send("POST", `/api/v1/models/${(model.json as { id: string }).id}/preview`, { token: f.token, fetcher });
    timings.api_preview = Date.now() - started;
    expect(res.status, res.text).toBe(422);
    expect((res.json as { error: { details: { warehouse_error: string } } }).error.details.warehouse_error).toBe("timeout");
    expect(timings.api_preview).toBeLessThan(5_000);
    await send("DELETE", `/api/v1/models/${(model.json as { id: string }).id}`, { token: f.token });
    console.log(`[security/warehouse-timeout] ${JSON.stringify({ statement_timeout_ms: 500, elapsed_ms: timings })}`);
  });
});

describe("SSRF with ALLOW_PRIVATE_DESTINATIONS off", () => {
  /** Every spelling of a private, loopback, link-local or local-only host the guard must refuse. */
  const blocked = [
    "http://127.0.0.1/",
    "http://127.1/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://api.localhost/",
    "http://0.0.0.0/",
    "http://0/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://192.0.0.1/",
    "http://198.18.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://metadata/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://0177.0.0.1/",
    "http://017700000001/",
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://[::1]/",
    "http://[::]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::127.0.0.1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::]/",
    "http://[fd00::1]/",
    "http://[fc00::1]/",
    "http://[fe80::1]/",
    "http://[ff02::1]/",
    "http://printer.local/",
    "http://router.home.arpa/",
    "http://intranet/",
    "https://127.0.0.1:8443/x",
  ];
  /** Names that resolve to private addresses only through DNS, which workerd cannot query before connecting. */
  const dnsOnly = ["http://127.0.0.1.nip.io/", "http://localtest.me/"];

  it("the guard refuses every private spelling and allows public hosts", () => {
    const missed = blocked.filter((url) => checkOutboundUrl(url, { allowPrivate: false }).ok);
    expect(missed).toEqual([]);
    for (const url of blocked) expect(blockedHostReason(new URL(url).hostname), url).toBeTypeOf("string");
    for (const url of ["https://hooks.example.com/x", "https://8.8.8.8/", "https://[2606:4700:4700::1111]/"]) {
      expect(checkOutboundUrl(url, { allowPrivate: false }), url).toEqual({ ok: true });
    }
    const notCheckable = dnsOnly.filter((url) => checkOutboundUrl(url, { allowPrivate: false }).ok);
    console.log(
      `[security/ssrf-guard] ${JSON.stringify({ blocked_forms: blocked.length, refused: blocked.length - missed.length, dns_only_names_not_checkable: notCheckable })}`,
    );
  });

  it("the API refuses destinations and warehouse connections to each of them, naming the field and saving nothing", async () => {
    const rec = new Recorder("security/ssrf-api");
    const fetcher = appWithEnv({ ALLOW_PRIVATE_DESTINATIONS: "false" });
    const counts = await workspaceCounts(f.workspaceId);
    const existing = (await send("GET", `/api/v1/destinations/${f.destinationId}`, { token: f.token })).text;
    const hostOf = (url: string) => new URL(url).host;
    await pool(blocked, 8, async (url) => {
      const webhook = await rec.send(`createDestination webhook ${url}`, "createDestination", "POST", "/api/v1/destinations", {
        token: f.token,
        fetcher,
        body: { name: "ssrf", type: "webhook", config: { url } },
      });
      rec.check(
        webhook.status === 400 && namesPath(webhook, "config.url"),
        `createDestination webhook ${url}`,
        `answered ${webhook.status} ${webhook.text.slice(0, 200)}`,
      );
      const update = await rec.send(`updateDestination ${url}`, "updateDestination", "PUT", `/api/v1/destinations/${f.destinationId}`, {
        token: f.token,
        fetcher,
        body: { config: { url } },
      });
      rec.check(
        update.status === 400 && namesPath(update, "config.url"),
        `updateDestination ${url}`,
        `answered ${update.status} ${update.text.slice(0, 200)}`,
      );
      // Alert channels: a webhook's URL and a Slack webhook URL go through the same guard.
      for (const [type, config, field] of [
        ["webhook", { url }, "config.url"],
        ["slack", { webhook_url: url }, "config.webhook_url"],
      ] as const) {
        const channel = await rec.send(`createAlertChannel ${type} ${url}`, "createAlertChannel", "POST", "/api/v1/alert-channels", {
          token: f.token,
          fetcher,
          body: { name: "ssrf", type, config },
        });
        rec.check(
          channel.status === 400 && namesPath(channel, field),
          `createAlertChannel ${type} ${url}`,
          `answered ${channel.status} ${channel.text.slice(0, 200)}`,
        );
      }
      const channelUpdate = await rec.send(
        `updateAlertChannel ${url}`,
        "updateAlertChannel",
        "PUT",
        `/api/v1/alert-channels/${f.channelId}`,
        {
          token: f.token,
          fetcher,
          body: { config: { url } },
        },
      );
      rec.check(
        channelUpdate.status === 400 && namesPath(channelUpdate, "config.url"),
        `updateAlertChannel ${url}`,
        `answered ${channelUpdate.status} ${channelUpdate.text.slice(0, 200)}`,
      );
      const connection = `postgres://writer:pw@${hostOf(url)}/db`;
      if (URL.canParse(connection)) {
        const pgDest = await rec.send(`createDestination postgres ${url}`, "createDestination", "POST", "/api/v1/destinations", {
          token: f.token,
          fetcher,
          body: {
            name: "ssrf",
            type: "postgres",
            config: { table: "t", key_column: "id" },
            credentials: { connection_string: connection },
          },
        });
        rec.check(
          pgDest.status === 400 && namesPath(pgDest, "credentials.connection_string"),
          `createDestination postgres ${url}`,
          `answered ${pgDest.status} ${pgDest.text.slice(0, 200)}`,
        );
      }
    });
    rec.check(
      JSON.stringify(await workspaceCounts(f.workspaceId)) === JSON.stringify(counts),
      "createDestination",
      "a refused destination was saved",
    );
    rec.check(
      (await send("GET", `/api/v1/destinations/${f.destinationId}`, { token: f.token })).text === existing,
      "updateDestination",
      "the destination changed",
    );

    // A public URL is accepted with the same settings, so the refusals are about the host.
    const ok = await rec.send("createDestination public", "createDestination", "POST", "/api/v1/destinations", {
      token: f.token,
      fetcher,
      body: { name: "public", type: "webhook", config: { url: "https://hooks.example.com/x" } },
    });
    rec.check(ok.status === 201, "createDestination public", `answered ${ok.status}`);
    await send("DELETE", `/api/v1/destinations/${(ok.json as { id: string }).id}`, { token: f.token });

    // Warehouse connections: the source's private host is refused before any connection.
    for (const url of ["http://127.0.0.1/", "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/", "http://2130706433/"]) {
      const src = await send("POST", "/api/v1/sources", {
        token: f.token,
        fetcher,
        body: { name: "ssrf", type: "postgres", connection_string: `postgres://postgres@${hostOf(url)}:5432/test` },
      });
      const sourceId = (src.json as { id: string }).id;
      const test = await rec.send(`testSource ${url}`, "testSource", "POST", `/api/v1/sources/${sourceId}/test`, {
        token: f.token,
        fetcher,
      });
      rec.check(
        (test.json as { error?: { code: string } }).error?.code === "host_not_allowed",
        `testSource ${url}`,
        test.text.slice(0, 200),
      );
      const model = await rec.send(`createModel ${url}`, "createModel", "POST", "/api/v1/models", {
        token: f.token,
        fetcher,
        body: { name: "x", source_id: sourceId, sql: "SELECT 1 AS id", primary_key: "id" },
      });
      rec.check(
        model.status === 422 &&
          (model.json as { error: { details: { warehouse_error: string } } }).error.details.warehouse_error === "host_not_allowed",
        `createModel ${url}`,
        model.text.slice(0, 200),
      );
      await send("DELETE", `/api/v1/sources/${sourceId}`, { token: f.token });
    }
    rec.summary({ blocked_forms: blocked.length, refused_at_save: blocked.length });
    expect(rec.problems).toEqual([]);
  });
});

describe("every answer of this file", () => {
  it("carries no password, credential or token hash, and plaintext tokens and trigger secrets only where they are created", () => {
    const shownOnCreation: Record<string, RegExp> = {
      createToken: /token$/,
      createSync: /trigger secret$/,
      rotateSyncTriggerSecret: /trigger secret$|rotated secret$/,
      createAlertChannel: /signing secret$/,
    };
    const leaks: string[] = [];
    for (const a of Recorder.answers) {
      for (const [name, value] of secrets) {
        if (!value || shownOnCreation[a.operationId]?.test(name)) continue;
        if (a.text.includes(value) || a.headers.includes(value)) leaks.push(`${a.label}: ${name}`);
      }
    }
    console.log(
      `[security/all-answers] ${JSON.stringify({ answers: Recorder.answers.length, secrets: secrets.size, leaks: leaks.length })}`,
    );
    expect(Recorder.answers.length).toBeGreaterThan(500);
    expect(leaks).toEqual([]);
  });
});
