import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, expectError, expectStatus } from "../harness";
import { exerciseModes, type ModesTarget, type TargetDestination } from "../harness/modes";
import { createDestination, customersTable, modelOf, type Rows, text, uniqueName } from "../harness/run";
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

async function klaviyoDestination(account: string, config: Record<string, unknown> = {}): Promise<string> {
  // Jobs complete at the first read, so runs do not wait on polls.
  await control(`${account}/_config`, { job_polls: 0 });
  return createDestination({
    type: "klaviyo",
    config: { identifier: "external_id", list_id: "Y6nRLr", api_base: account, rate_limit: { requests_per_second: 20 }, ...config },
    credentials: { api_key: "pk_test_klaviyo" },
  });
}

/** The Klaviyo list's members as rows, keyed by external_id (plan and score are custom properties). */
function listRows(state: KlaviyoState): Rows {
  const byId = new Map(state.profiles.map((p) => [p.id, p]));
  return Object.fromEntries(
    (state.lists.Y6nRLr ?? []).map((id) => {
      const p = byId.get(id);
      return [
        String(p?.external_id),
        { email: text(p?.email), name: text(p?.attributes.first_name), plan: text(p?.properties.plan), score: text(p?.properties.score) },
      ];
    }),
  );
}

const klaviyo: ModesTarget<TargetDestination & { account: string }> = {
  fields: { email: "email", name: "first_name", plan: "plan", score: "score" },
  keyField: "external_id",
  async create() {
    const account = `${env.KLAVIYO_URL}/t/${uniqueName("acct")}`;
    const destinationId = await klaviyoDestination(account);
    return { destinationId, account, read: async () => listRows(await stateOf<KlaviyoState>(`${account}/_state`)) };
  },
};

/** Intercom's contacts that are not archived as rows, keyed by external_id (plan and score are custom attributes). */
function liveContacts(state: IntercomState): Rows {
  return Object.fromEntries(
    state.contacts
      .filter((c) => !c.archived)
      .map((c) => [
        c.external_id,
        { email: text(c.email), name: text(c.name), plan: text(c.custom_attributes.plan), score: text(c.custom_attributes.score) },
      ]),
  );
}

const intercom: ModesTarget<TargetDestination & { workspace: string }> = {
  fields: { email: "email", name: "name", plan: "plan", score: "score" },
  keyField: "external_id",
  async create() {
    const workspace = `${env.INTERCOM_URL}/t/${uniqueName("ws")}`;
    const destinationId = await createDestination({
      type: "intercom",
      config: { api_base: workspace, batch_size: 10, rate_limit: { requests_per_second: 20, concurrency: 4 } },
      credentials: { access_token: "intercom-test-token" },
    });
    return { destinationId, workspace, read: async () => liveContacts(await stateOf<IntercomState>(`${workspace}/_state`)) };
  },
};

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
    // The list's members equal the model after each run (exerciseModes).
    const { destination } = await exerciseModes(klaviyo, "mirror");
    const state = await stateOf<KlaviyoState>(`${destination.account}/_state`);
    // Removed from the list, not erased: 45 profiles for 41 members.
    expect(state.profiles).toHaveLength(45);
    expect(state.profiles.find((p) => p.external_id === "12")?.properties).toEqual({ plan: "enterprise", score: 1012 });
  });

  it("upsert: rows gone from the model stay in the list", async () => {
    const { destination } = await exerciseModes(klaviyo, "upsert");
    const state = await stateOf<KlaviyoState>(`${destination.account}/_state`);
    expect(state.lists.Y6nRLr).toHaveLength(45);
    expect(state.requests.filter((r) => r.method === "DELETE")).toEqual([]);
  });
});

describe("Intercom syncs", () => {
  it("mirror: a non-key column on external_id is refused (deletes find contacts by the key)", async () => {
    const { destinationId } = await intercom.create();
    const modelId = await modelOf(await customersTable(3));
    expectError(
      await api.post("/api/v1/syncs", { body: syncBody(modelId, destinationId, "mirror", [mapping("email", "external_id")]) }),
      400,
      "validation_failed",
      "field_mappings.0.source",
    );
  });

  it("mirror: creates contacts by external_id, updates changed ones and archives deleted ones", async () => {
    // The contacts not archived equal the model after each run (exerciseModes).
    const { destination } = await exerciseModes(intercom, "mirror");
    const { contacts } = await stateOf<IntercomState>(`${destination.workspace}/_state`);
    expect(contacts).toHaveLength(45);
    expect(
      contacts
        .filter((c) => c.archived)
        .map((c) => c.external_id)
        .sort(),
    ).toEqual(["31", "32", "33", "34"]);
    expect(contacts.find((c) => c.external_id === "11")).toMatchObject({ custom_attributes: { plan: "enterprise" } });
  });
});
