import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { isPrivateHost } from "../../src/destinations/fields";
import { createDb } from "../../src/db/client";
import { syncs } from "../../src/db/schema";
import { newId } from "../../src/lib/ids";
import type { ApiError } from "../../src/api/errors";
import { checkReachable } from "../../src/routes/destinations/schema";
import { parsedConfig } from "../destinations/helpers";
import { api, expectError, expectStatus, newWorkspace, seedModel, tokenFor } from "../harness";

const HUBSPOT_TOKEN = "pat-na1-11111111-2222-3333-4444-555566667777";

const bodies = {
  webhook: {
    name: "CRM hook",
    type: "webhook",
    config: { url: "https://hooks.example.com/crm", headers: { "X-Team": "growth" } },
    credentials: { signing_secret: "whsec_0123456789abcdef", headers: { Authorization: "Bearer sk_live_abcdefghijkl" } },
  },
  postgres: {
    name: "ops db",
    type: "postgres",
    config: { table: "customers", key_column: "id" },
    credentials: { connection_string: "postgres://writer:pg-s3cret-pw@db.example.com:5432/ops" },
  },
  salesforce: {
    name: "Salesforce",
    type: "salesforce",
    config: { instance_url: "https://acme.my.salesforce.com", object: "Contact", external_id_field: "External_Id__c" },
    credentials: { refresh_token: "5Aep861refreshTOKENvalue", client_id: "3MVG9connectedAppId", client_secret: "sf-client-secret-value" },
  },
  hubspot: {
    name: "HubSpot",
    type: "hubspot",
    config: { object_type: "contacts", id_property: "email" },
    credentials: { access_token: HUBSPOT_TOKEN },
  },
} as const;

/** Every secret string in the bodies above: none may appear in a response or in D1. */
const SECRETS = [
  "whsec_0123456789abcdef",
  "sk_live_abcdefghijkl",
  "pg-s3cret-pw",
  "5Aep861refreshTOKENvalue",
  "3MVG9connectedAppId",
  "sf-client-secret-value",
  HUBSPOT_TOKEN,
];

function expectNoSecrets(value: unknown) {
  const text = JSON.stringify(value);
  for (const s of SECRETS) expect(text, `leaked ${s}`).not.toContain(s);
}

async function createDestination(type: keyof typeof bodies = "webhook", token?: string): Promise<string> {
  const res = await api.post("/api/v1/destinations", { token, body: bodies[type] });
  expectStatus(res, 201);
  return res.body.id;
}

describe("destinations", () => {
  it("creates each type with defaults filled in and credentials masked, in responses and in D1", async () => {
    const webhook = await api.post("/api/v1/destinations", { body: bodies.webhook });
    expectStatus(webhook, 201);
    expect(webhook.body.id).toMatch(/^dst_[0-9a-z]{26}$/);
    expect(webhook.body.config).toEqual({ ...bodies.webhook.config, batch_size: 100, timeout_ms: 10_000 });
    expect(webhook.body.credentials).toEqual({ signing_secret: "****cdef", "headers.Authorization": "****ijkl" });

    const postgres = await api.post("/api/v1/destinations", { body: bodies.postgres });
    expectStatus(postgres, 201);
    expect(postgres.body.config).toEqual({ schema: "public", table: "customers", key_column: "id", batch_size: 500 });
    expect(Object.keys(postgres.body.credentials ?? {})).toEqual(["connection_string"]);

    const salesforce = await api.post("/api/v1/destinations", { body: bodies.salesforce });
    expectStatus(salesforce, 201);
    expect(salesforce.body.config).toMatchObject({ api_version: "v60.0", batch_size: 200 });
    expect(Object.keys(salesforce.body.credentials ?? {}).sort()).toEqual(["client_id", "client_secret", "refresh_token"]);

    const hubspot = await api.post("/api/v1/destinations", { body: bodies.hubspot });
    expectStatus(hubspot, 201);
    expect(hubspot.body.credentials).toEqual({ access_token: "****7777" });

    const bare = await api.post("/api/v1/destinations", {
      body: { name: "bare", type: "webhook", config: { url: "http://hooks.example.com/x" } },
    });
    expectStatus(bare, 201);
    expect(bare.body.credentials).toBeNull();

    const responses = [webhook, postgres, salesforce, hubspot];
    for (const res of responses) {
      expectNoSecrets(res.body);
      const got = await api.get(`/api/v1/destinations/${res.body.id}`);
      expectStatus(got, 200);
      expect(got.body).toEqual(res.body);
      const row = await env.DB.prepare("SELECT * FROM destinations WHERE id = ?").bind(res.body.id).first();
      expect(row?.credentials_ciphertext).toMatch(/^v1\./);
      expectNoSecrets(row);
    }
    const list = await api.get("/api/v1/destinations?limit=200");
    expectStatus(list, 200);
    expect(list.body.data.map((d) => d.id)).toEqual(expect.arrayContaining(responses.map((r) => r.body.id)));
    expectNoSecrets(list.body);
  });

  it("accepts Salesforce with just an access token, and HubSpot custom objects", async () => {
    const sf = await api.post("/api/v1/destinations", {
      body: { ...bodies.salesforce, credentials: { access_token: "00Dxx0000001gPL!AR8AQJXg" } },
    });
    expectStatus(sf, 201);
    expect(sf.body.credentials).toEqual({ access_token: "****QJXg" });
    const custom = await api.post("/api/v1/destinations", {
      body: { ...bodies.hubspot, config: { object_type: "2-3508482", id_property: "external_id" } },
    });
    expectStatus(custom, 201);
  });

  it("pages with limit and cursor, newest first", async () => {
    const { token } = await newWorkspace();
    const ids = [];
    for (const type of ["webhook", "postgres", "hubspot"] as const) ids.push(await createDestination(type, token));
    const first = await api.get("/api/v1/destinations?limit=2", { token });
    expect(first.body.data.map((d) => d.id)).toEqual([ids[2], ids[1]]);
    const second = await api.get(`/api/v1/destinations?limit=2&cursor=${first.body.next_cursor}`, { token });
    expect(second.body.data.map((d) => d.id)).toEqual([ids[0]]);
    expect(second.body.next_cursor).toBeNull();
  });

  it("names an unknown type, and each bad field of the top level", async () => {
    const unknown = await api.post("/api/v1/destinations", { body: { name: "x", type: "mailchimp", config: {} } });
    expectError(unknown, 400, "validation_failed", "type");
    expect(unknown.error?.message).toContain("webhook");
    const res = await api.post("/api/v1/destinations", { body: { ...bodies.hubspot, name: "", extra: 1 } });
    expectError(res, 400, "validation_failed", "name");
    expect(JSON.stringify(res.error?.details)).toContain("extra");
    expectError(await api.post("/api/v1/destinations", { body: [] }), 400, "validation_failed");
  });

  it("validates webhook config and credentials per field", async () => {
    const bad = (config: Record<string, unknown>, credentials?: Record<string, unknown>) =>
      api.post("/api/v1/destinations", { body: { name: "hook", type: "webhook", config, credentials } });
    expectError(await bad({ url: "ftp://files.example.com/in" }), 400, "validation_failed", "config.url");
    expectError(await bad({ url: "not a url" }), 400, "validation_failed", "config.url");
    expectError(await bad({ url: "https://user:pw@h.example.com/in" }), 400, "validation_failed", "config.url");
    expectError(await bad({}), 400, "validation_failed", "config.url");
    expectError(await bad({ url: "https://h.example.com", batch_size: 0 }), 400, "validation_failed", "config.batch_size");
    expectError(await bad({ url: "https://h.example.com", batch_size: 1001 }), 400, "validation_failed", "config.batch_size");
    expectError(await bad({ url: "https://h.example.com", timeout_ms: "fast" }), 400, "validation_failed", "config.timeout_ms");
    expectError(await bad({ url: "https://h.example.com", method: "GET" }), 400, "validation_failed", "config.method");
    const secretHeader = await bad({ url: "https://h.example.com", headers: { Authorization: "Bearer x" } });
    expectError(secretHeader, 400, "validation_failed", "config.headers.Authorization");
    expect(secretHeader.error?.message).toContain("credentials.headers");
    expectError(
      await bad({ url: "https://h.example.com", headers: { "X-Api-Key": "k" } }),
      400,
      "validation_failed",
      "config.headers.X-Api-Key",
    );
    expectError(await bad({ url: "https://h.example.com", headers: { Host: "evil" } }), 400, "validation_failed", "config.headers.Host");
    expectError(
      await bad({ url: "https://h.example.com", headers: { "X-A": "a\r\nX-B: b" } }),
      400,
      "validation_failed",
      "config.headers.X-A",
    );
    expectError(
      await bad({ url: "https://h.example.com" }, { signing_secret: "short" }),
      400,
      "validation_failed",
      "credentials.signing_secret",
    );
    expectError(await bad({ url: "https://h.example.com" }, { password: "x" }), 400, "validation_failed", "credentials.password");
  });

  it("validates postgres, salesforce and hubspot settings per field", async () => {
    const post = (type: keyof typeof bodies, patch: { config?: Record<string, unknown>; credentials?: unknown }) =>
      api.post("/api/v1/destinations", {
        body: {
          ...bodies[type],
          config: { ...bodies[type].config, ...patch.config },
          ...("credentials" in patch ? { credentials: patch.credentials } : {}),
        },
      });
    expectError(await post("postgres", { config: { table: "customers; DROP TABLE x" } }), 400, "validation_failed", "config.table");
    expectError(await post("postgres", { config: { schema: "1bad" } }), 400, "validation_failed", "config.schema");
    expectError(await post("postgres", { config: { key_column: "" } }), 400, "validation_failed", "config.key_column");
    expectError(
      await post("postgres", { credentials: { connection_string: "mysql://x@y/z" } }),
      400,
      "validation_failed",
      "credentials.connection_string",
    );
    expectError(await post("postgres", { credentials: undefined }), 400, "validation_failed", "credentials");

    expectError(
      await post("salesforce", { config: { instance_url: "https://evil.example.com" } }),
      400,
      "validation_failed",
      "config.instance_url",
    );
    expectError(
      await post("salesforce", { config: { instance_url: "http://acme.my.salesforce.com" } }),
      400,
      "validation_failed",
      "config.instance_url",
    );
    expectError(await post("salesforce", { config: { object: "Contact Info" } }), 400, "validation_failed", "config.object");
    expectError(await post("salesforce", { config: { external_id_field: "" } }), 400, "validation_failed", "config.external_id_field");
    expectError(await post("salesforce", { config: { api_version: "60" } }), 400, "validation_failed", "config.api_version");
    expectError(await post("salesforce", { credentials: {} }), 400, "validation_failed", "credentials.refresh_token");
    const partial = await post("salesforce", { credentials: { refresh_token: "r", client_id: "c" } });
    expectError(partial, 400, "validation_failed", "credentials.client_secret");

    expectError(await post("hubspot", { config: { object_type: "leads_and_stuff" } }), 400, "validation_failed", "config.object_type");
    expectError(await post("hubspot", { config: { id_property: "Email Address" } }), 400, "validation_failed", "config.id_property");
    expectError(await post("hubspot", { config: { batch_size: 101 } }), 400, "validation_failed", "config.batch_size");
    expectError(await post("hubspot", { credentials: { access_token: "" } }), 400, "validation_failed", "credentials.access_token");
    expectError(await post("hubspot", { credentials: null }), 400, "validation_failed", "credentials");
  });

  it("updates name, config and credentials, validating against the stored type, which cannot change", async () => {
    const id = await createDestination("webhook");
    const before = await env.DB.prepare("SELECT credentials_ciphertext FROM destinations WHERE id = ?")
      .bind(id)
      .first<{ credentials_ciphertext: string }>();

    const renamed = await api.put(`/api/v1/destinations/${id}`, { body: { name: "renamed", type: "webhook" } });
    expectStatus(renamed, 200);
    expect(renamed.body.name).toBe("renamed");
    expect(renamed.body.config.headers).toEqual({ "X-Team": "growth" });

    const reconfigured = await api.put(`/api/v1/destinations/${id}`, {
      body: { config: { url: "https://other.example.com/in", batch_size: 5 } },
    });
    expectStatus(reconfigured, 200);
    expect(reconfigured.body.config).toEqual({ url: "https://other.example.com/in", batch_size: 5, timeout_ms: 10_000 });
    expect(reconfigured.body.credentials).toEqual(renamed.body.credentials);

    const rekeyed = await api.put(`/api/v1/destinations/${id}`, {
      body: { credentials: { signing_secret: "a-brand-new-signing-secret" } },
    });
    expectStatus(rekeyed, 200);
    expect(rekeyed.body.credentials).toEqual({ signing_secret: "****cret" });
    const after = await env.DB.prepare("SELECT credentials_ciphertext FROM destinations WHERE id = ?")
      .bind(id)
      .first<{ credentials_ciphertext: string }>();
    expect(after?.credentials_ciphertext).not.toBe(before?.credentials_ciphertext);
    expect(JSON.stringify(after)).not.toContain("a-brand-new-signing-secret");

    const cleared = await api.put(`/api/v1/destinations/${id}`, { body: { credentials: null } });
    expectStatus(cleared, 200);
    expect(cleared.body.credentials).toBeNull();

    const retyped = await api.put(`/api/v1/destinations/${id}`, { body: { type: "hubspot" } });
    expectError(retyped, 400, "validation_failed", "type");
    const badConfig = await api.put(`/api/v1/destinations/${id}`, {
      body: { config: { url: "gopher://x", batch_size: 0 }, credentials: { signing_secret: "x" } },
    });
    expectError(badConfig, 400, "validation_failed", "config.url");
    expectError(badConfig, 400, "validation_failed", "config.batch_size");
    expectError(badConfig, 400, "validation_failed", "credentials.signing_secret");
    expectError(await api.put(`/api/v1/destinations/${id}`, { body: { config: "x" } }), 400, "validation_failed", "config");

    const hubspot = await createDestination("hubspot");
    expectError(await api.put(`/api/v1/destinations/${hubspot}`, { body: { credentials: null } }), 400, "validation_failed", "credentials");
    expectError(
      await api.put(`/api/v1/destinations/${hubspot}`, { body: { config: { object_type: "contacts" } } }),
      400,
      "validation_failed",
      "config.id_property",
    );
    // Refused updates changed nothing.
    const got = await api.get(`/api/v1/destinations/${id}`);
    expect(got.body).toEqual(cleared.body);
  });

  it("deletes an unused destination and refuses one a sync writes to", async () => {
    const id = await createDestination("hubspot");
    expectStatus(await api.delete(`/api/v1/destinations/${id}`), 204);
    expectError(await api.get(`/api/v1/destinations/${id}`), 404, "not_found");
    expectError(await api.delete(`/api/v1/destinations/${id}`), 404, "not_found");

    const used = await createDestination("webhook");
    const syncId = await seedSyncTo(used);
    const res = await api.delete(`/api/v1/destinations/${used}`);
    expectError(res, 409, "conflict");
    expect(res.error?.message).toContain(syncId);
    expect(res.error?.details).toEqual({ sync_id: syncId });
  });

  it("refuses missing and under-scoped tokens, and hides other workspaces' destinations", async () => {
    expectError(await api.get("/api/v1/destinations", { token: null }), 401, "unauthorized");
    expectError(await api.post("/api/v1/destinations", { token: "nope", body: bodies.webhook }), 401, "unauthorized");
    const id = await createDestination("postgres");

    const reader = await tokenFor("wsp_default", "read");
    const got = await api.get(`/api/v1/destinations/${id}`, { token: reader });
    expectStatus(got, 200);
    expectNoSecrets(got.body);
    expectError(await api.post("/api/v1/destinations", { token: reader, body: bodies.webhook }), 403, "forbidden");
    expectError(await api.put(`/api/v1/destinations/${id}`, { token: reader, body: { name: "x" } }), 403, "forbidden");
    expectError(await api.delete(`/api/v1/destinations/${id}`, { token: reader }), 403, "forbidden");

    const other = await newWorkspace("write");
    expectError(await api.get(`/api/v1/destinations/${id}`, { token: other.token }), 404, "not_found");
    expectError(await api.put(`/api/v1/destinations/${id}`, { token: other.token, body: { name: "mine" } }), 404, "not_found");
    expectError(await api.delete(`/api/v1/destinations/${id}`, { token: other.token }), 404, "not_found");
    expect((await api.get("/api/v1/destinations", { token: other.token })).body.data).toEqual([]);
  });

  it("refuses private addresses unless ALLOW_PRIVATE_DESTINATIONS (on in these tests)", () => {
    const strict = { ...env, ALLOW_PRIVATE_DESTINATIONS: "false" };
    const refusal = (fn: () => void) => {
      try {
        fn();
      } catch (err) {
        return err as ApiError;
      }
      return undefined;
    };
    const hook = refusal(() => checkReachable(strict, "webhook", parsedConfig("webhook", { url: "http://169.254.169.254/latest" }), null));
    expect(hook?.code).toBe("validation_failed");
    expect(hook?.details).toEqual([expect.objectContaining({ path: "config.url" })]);
    const db = refusal(() =>
      checkReachable(strict, "postgres", parsedConfig("postgres", { table: "t", key_column: "id" }), {
        connection_string: "postgres://u:p@10.0.0.5/db",
      }),
    );
    expect(db?.details).toEqual([expect.objectContaining({ path: "credentials.connection_string" })]);
    expect(
      refusal(() => checkReachable(strict, "webhook", parsedConfig("webhook", { url: "https://hooks.example.com" }), null)),
    ).toBeUndefined();
    expect(refusal(() => checkReachable(env, "webhook", parsedConfig("webhook", { url: "http://127.0.0.1:9/x" }), null))).toBeUndefined();
  });

  it("recognises literal private, loopback and link-local hosts", () => {
    for (const host of [
      "localhost",
      "api.localhost",
      "127.0.0.1",
      "10.1.2.3",
      "172.20.0.1",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "[::1]",
      "[fd00::1]",
      "[fe80::1]",
      "[::ffff:7f00:1]",
      "metadata.google.internal",
      "intranet",
    ]) {
      expect(isPrivateHost(host), host).toBe(true);
    }
    for (const host of ["hooks.example.com", "8.8.8.8", "172.32.0.1", "[2606:4700::1111]", "acme.my.salesforce.com"]) {
      expect(isPrivateHost(host), host).toBe(false);
    }
  });
});

/** A sync writing to `destinationId` (with a model of its own), straight to D1 so these tests do not depend on the syncs API. */
async function seedSyncTo(destinationId: string, workspaceId = "wsp_default"): Promise<string> {
  const db = createDb(env.DB);
  const now = new Date().toISOString();
  const modelId = await seedModel(workspaceId);
  const syncId = newId("sync");
  await db.insert(syncs).values({
    id: syncId,
    workspaceId,
    name: "seeded",
    modelId,
    destinationId,
    mode: "upsert",
    schedule: { type: "manual" },
    fieldMappings: [{ source: "id", destination: "id" }],
    status: "created",
    triggerSecretCiphertext: "v1.x.y",
    createdAt: now,
    updatedAt: now,
  });
  return syncId;
}
