import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, expectError, expectStatus } from "../harness";
import { changeModel, createDestination, customersTable, modelNow, modelOf, runSync, uniqueName } from "../harness/run";
import { control, stateOf } from "./helpers";

/**
 * Klaviyo and Intercom end to end: a model in the warehouse, destinations and syncs through the API,
 * runs through the whole engine (extract, diff, queue, connector) against the fake vendors.
 */
const mapping = (source: string, destination: string) => ({ source, destination });
const syncBody = (modelId: string, destinationId: string, mode: string, field_mappings: unknown[]) => ({
  name: "engagement",
  model_id: modelId,
  destination_id: destinationId,
  mode,
  schedule: { type: "manual" },
  field_mappings,
});

interface KlaviyoState {
  profiles: {
    id: string;
    email?: string;
    external_id?: string;
    attributes: Record<string, unknown>;
    properties: Record<string, unknown>;
  }[];
  lists: Record<string, string[]>;
  requests: { method: string; path: string }[];
}

interface IntercomState {
  contacts: { external_id: string; email: string; name: string; archived: boolean; custom_attributes: Record<string, unknown> }[];
}

const KLAVIYO_FIELDS = [mapping("id", "external_id"), mapping("email", "email"), mapping("name", "first_name"), mapping("plan", "plan")];
const INTERCOM_FIELDS = [mapping("id", "external_id"), mapping("email", "email"), mapping("name", "name"), mapping("plan", "plan")];

async function klaviyoDestination(account: string, config: Record<string, unknown> = {}): Promise<string> {
  // Jobs complete at the first read, so runs do not wait on polls.
  await control(`${account}/_config`, { job_polls: 0 });
  return createDestination({
    type: "klaviyo",
    config: { identifier: "external_id", list_id: "Y6nRLr", api_base: account, rate_limit: { requests_per_second: 20 }, ...config },
    credentials: { api_key: "pk_test_klaviyo" },
  });
}

describe("Klaviyo syncs", () => {
  it("mirror without list_id → 400 on mode saying what to set; without the identifier mapped → 400 on field_mappings", async () => {
    const modelId = await modelOf(await customersTable(3));
    const account = `${env.KLAVIYO_URL}/t/${uniqueName("acct")}`;
    const noList = await klaviyoDestination(account, { list_id: undefined });
    const mirror = await api.post("/api/v1/syncs", { body: syncBody(modelId, noList, "mirror", KLAVIYO_FIELDS) });
    const error = expectError(mirror, 400, "validation_failed", "mode");
    expect(JSON.stringify(error.details)).toMatch(/has no list_id: set config.list_id on the destination, or use upsert mode/);
    expectStatus(await api.post("/api/v1/syncs", { body: syncBody(modelId, noList, "upsert", KLAVIYO_FIELDS) }), 201);
    expectError(
      await api.post("/api/v1/syncs", { body: syncBody(modelId, noList, "upsert", KLAVIYO_FIELDS.slice(1)) }),
      400,
      "validation_failed",
      "field_mappings",
    );
  });

  it("mirror: imports the model into the list, then updates changed rows and removes deleted ones from the list", async () => {
    const table = await customersTable(40);
    const account = `${env.KLAVIYO_URL}/t/${uniqueName("acct")}`;
    const created = await api.post("/api/v1/syncs", {
      body: syncBody(await modelOf(table), await klaviyoDestination(account), "mirror", KLAVIYO_FIELDS),
    });
    expectStatus(created, 201);
    const first = await runSync(created.body.id);
    expect(first, JSON.stringify(first)).toMatchObject({ status: "succeeded", rows_created: 40, rows_failed: 0 });
    expect((await stateOf<KlaviyoState>(`${account}/_state`)).lists.Y6nRLr).toHaveLength(40);

    await changeModel(table, 40);
    const second = await runSync(created.body.id);
    expect(second, JSON.stringify(second)).toMatchObject({
      status: "succeeded",
      rows_created: 5,
      rows_updated: 6,
      rows_deleted: 4,
      rows_failed: 0,
    });
    const state = await stateOf<KlaviyoState>(`${account}/_state`);
    const byId = new Map(state.profiles.map((p) => [p.id, p]));
    const members = (state.lists.Y6nRLr ?? []).map((id) => byId.get(id)?.external_id).sort();
    expect(members).toEqual(Object.keys(await modelNow(table)).sort());
    // Removed from the list, not erased: 45 profiles for 41 members.
    expect(state.profiles).toHaveLength(45);
    expect(state.profiles.find((p) => p.external_id === "12")?.properties).toEqual({ plan: "enterprise" });
  });

  it("upsert: rows gone from the model stay in the list", async () => {
    const table = await customersTable(40);
    const account = `${env.KLAVIYO_URL}/t/${uniqueName("acct")}`;
    const created = await api.post("/api/v1/syncs", {
      body: syncBody(await modelOf(table), await klaviyoDestination(account), "upsert", KLAVIYO_FIELDS),
    });
    expectStatus(created, 201);
    expect(await runSync(created.body.id)).toMatchObject({ status: "succeeded", rows_failed: 0 });
    await changeModel(table, 40);
    expect(await runSync(created.body.id)).toMatchObject({ status: "succeeded", rows_deleted: 0, rows_failed: 0 });
    const state = await stateOf<KlaviyoState>(`${account}/_state`);
    expect(state.lists.Y6nRLr).toHaveLength(45);
    expect(state.requests.filter((r) => r.method === "DELETE")).toEqual([]);
  });
});

describe("Intercom syncs", () => {
  it("mirror: creates contacts by external_id, updates changed ones and archives deleted ones", async () => {
    const table = await customersTable(40);
    const workspace = `${env.INTERCOM_URL}/t/${uniqueName("ws")}`;
    const destinationId = await createDestination({
      type: "intercom",
      config: { api_base: workspace, batch_size: 10, rate_limit: { requests_per_second: 20, concurrency: 4 } },
      credentials: { access_token: "intercom-test-token" },
    });
    // Mirror deletes find contacts by the key: a non-key column on external_id is refused.
    const modelId = await modelOf(table);
    expectError(
      await api.post("/api/v1/syncs", { body: syncBody(modelId, destinationId, "mirror", [mapping("email", "external_id")]) }),
      400,
      "validation_failed",
      "field_mappings.0.source",
    );
    const created = await api.post("/api/v1/syncs", { body: syncBody(modelId, destinationId, "mirror", INTERCOM_FIELDS) });
    expectStatus(created, 201);
    const first = await runSync(created.body.id);
    expect(first, JSON.stringify(first)).toMatchObject({ status: "succeeded", rows_created: 40, rows_failed: 0 });

    await changeModel(table, 40);
    const second = await runSync(created.body.id);
    expect(second, JSON.stringify(second)).toMatchObject({
      status: "succeeded",
      rows_created: 5,
      rows_updated: 6,
      rows_deleted: 4,
      rows_failed: 0,
    });
    const { contacts } = await stateOf<IntercomState>(`${workspace}/_state`);
    expect(contacts).toHaveLength(45);
    const live = contacts.filter((c) => !c.archived).map((c) => c.external_id);
    expect(live.sort()).toEqual(Object.keys(await modelNow(table)).sort());
    expect(
      contacts
        .filter((c) => c.archived)
        .map((c) => c.external_id)
        .sort(),
    ).toEqual(["31", "32", "33", "34"]);
    expect(contacts.find((c) => c.external_id === "11")).toMatchObject({ custom_attributes: { plan: "enterprise" } });
  });
});
