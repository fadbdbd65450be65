import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/lib/crypto";
import { api, createSource, expectError, expectStatus } from "../harness";
import { createDestination, customersTable, modelOf, pg, runErrors, runSync, uniqueName } from "../harness/run";
import { control, stateOf } from "./helpers";

/**
 * Audience syncs end to end through the API (issue 17): a model of customers synced to Google Ads
 * Customer Match and Meta Custom Audiences (the fakes in test/servers), upsert adding members and
 * mirror also removing those who left the model; the sync-save checks of both plug-ins.
 */
const mapping = (source: string, destination: string) => ({ source, destination });
const GOOGLE_LIST = "customers/1234567890/userLists/555";
const META_AUDIENCE = "2385000001";

async function googleDestination(): Promise<{ id: string; base: string }> {
  const base = `${env.GOOGLE_ADS_URL}/t/${uniqueName("gads")}`;
  const refresh = `1//${uniqueName("refresh")}`;
  await control(`${base}/_config`, { refresh_token: refresh });
  const id = await createDestination({
    type: "google_ads",
    config: { customer_id: "123-456-7890", user_list_id: "555", api_base: base, token_url: `${base}/token`, batch_size: 100 },
    credentials: {
      client_id: "google-client",
      client_secret: "google-secret",
      refresh_token: refresh,
      developer_token: "google-dev-token",
    },
  });
  return { id, base };
}

async function metaDestination(): Promise<{ id: string; base: string }> {
  const base = `${env.META_URL}/t/${uniqueName("meta")}`;
  const id = await createDestination({
    type: "meta_audiences",
    config: { audience_id: META_AUDIENCE, api_base: base, batch_size: 100 },
    credentials: { access_token: "meta-test-token" },
  });
  return { id, base };
}

/** A model over a customers table keyed by email (so mirror removals can match people by it). */
async function emailKeyedModel(table: string): Promise<string> {
  const sourceId = await createSource();
  const res = await api.post("/api/v1/models", {
    body: { name: `${table} by email`, source_id: sourceId, sql: `SELECT email, name FROM ${table}`, primary_key: "email" },
  });
  expectStatus(res, 201);
  return res.body.id;
}

async function createSync(modelId: string, destinationId: string, mode: string, fieldMappings: unknown[]) {
  return api.post("/api/v1/syncs", {
    body: {
      name: `audience ${mode}`,
      model_id: modelId,
      destination_id: destinationId,
      mode,
      schedule: { type: "manual" },
      field_mappings: fieldMappings,
    },
  });
}

const hashedEmails = (n: number[]) => Promise.all(n.map((i) => sha256Hex(`user${i}@example.com`)));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.each([
  { vendor: "google_ads", destination: googleDestination, mappings: [mapping("email", "email")] },
  { vendor: "meta_audiences", destination: metaDestination, mappings: [mapping("email", "email"), mapping("name", "first_name")] },
])("$vendor syncs", ({ vendor, destination, mappings }) => {
  /** The hashed emails the fake holds as members of the list/audience. */
  async function memberEmails(base: string): Promise<string[]> {
    const state = await stateOf<{ members: Record<string, string[][]> }>(`${base}/_state`);
    const members = state.members[vendor === "google_ads" ? GOOGLE_LIST : META_AUDIENCE] ?? [];
    return members.map((m) => (m.find((id) => /^(hashedEmail|EMAIL):/.test(id)) ?? "").replace(/^[^:]+:/, "")).sort();
  }

  it("refuses at save time: a destination field that is no identifier, and mirror without the primary key on key_identifier", async () => {
    const table = await customersTable(3);
    const { id } = await destination();
    const unknown = await createSync(await modelOf(table), id, "upsert", [mapping("email", "email"), mapping("plan", "plan")]);
    const error = expectError(unknown, 400, "validation_failed", "field_mappings.1.destination");
    expect(JSON.stringify(error.details)).toMatch(/matches people by email, phone.*\\"plan\\" is none of them/);
    // The model is keyed by id: a removed row leaves only its id, which is no email.
    const mirror = await createSync(await modelOf(table), id, "mirror", [mapping("email", "email")]);
    const mirrorError = expectError(mirror, 400, "validation_failed", "field_mappings.0.source");
    expect(JSON.stringify(mirrorError.details)).toMatch(/map \\"id\\" to \\"email\\"/);
  });

  it("mirror adds the model's people, then removes those who left it; upsert never removes", async () => {
    const table = await customersTable(30);
    const modelId = await emailKeyedModel(table);
    const mirrorDest = await destination();
    const upsertDest = await destination();
    const mirror = await createSync(modelId, mirrorDest.id, "mirror", mappings);
    expectStatus(mirror, 201);
    const upsert = await createSync(modelId, upsertDest.id, "upsert", mappings);
    expectStatus(upsert, 201);

    for (const sync of [mirror, upsert]) {
      const run = await runSync(sync.body.id);
      expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_failed: 0 });
    }
    const everyone = (await hashedEmails(range(1, 30))).sort();
    expect(await memberEmails(mirrorDest.base)).toEqual(everyone);
    expect(await memberEmails(upsertDest.base)).toEqual(everyone);

    await pg(`DELETE FROM ${table} WHERE id::int BETWEEN 11 AND 14`);
    const removed = await runSync(mirror.body.id);
    expect(removed, JSON.stringify(removed)).toMatchObject({ status: "succeeded", rows_deleted: 4, rows_failed: 0 });
    const stays = (await hashedEmails(range(1, 30).filter((i) => i < 11 || i > 14))).sort();
    expect(await memberEmails(mirrorDest.base)).toEqual(stays);
    const upserted = await runSync(upsert.body.id);
    expect(upserted.status).toBe("succeeded");
    expect(await memberEmails(upsertDest.base)).toEqual(everyone);
  }, 120_000);

  it("a row the vendor cannot take fails on its own, with the reason, and the rest are delivered", async () => {
    const table = await customersTable(5);
    await pg(`UPDATE ${table} SET email = 'not-an-email' WHERE id = '3'`);
    const { id, base } = await destination();
    const sync = await createSync(await modelOf(table), id, "upsert", mappings);
    expectStatus(sync, 201);
    const run = await runSync(sync.body.id);
    expect(run, JSON.stringify(run)).toMatchObject({ status: "partial", rows_failed: 1 });
    const errors = await runErrors(sync.body.id, run.id);
    expect(errors.map((e) => [e.primary_key, e.message])).toEqual([
      ["3", expect.stringMatching(/email "not-an-email" is not an email address/)],
    ]);
    expect(await memberEmails(base)).toEqual((await hashedEmails([1, 2, 4, 5])).sort());
  }, 60_000);
});
