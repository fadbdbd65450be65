import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, expectError, expectStatus } from "../harness";
import { createDestination, customersTable, modelOf, runSync, uniqueName } from "../harness/run";

/**
 * A HubSpot sync must map the destination's id_property (issue 18): HubSpot matches records by its
 * value, so a sync without it would send something else as the id. The check is the HubSpot
 * plug-in's `validateSync`, which the sync routes call through the registry.
 */
const mapping = (source: string, destination: string) => ({ source, destination });
const WITHOUT_EMAIL = [mapping("name", "firstname"), mapping("plan", "company")];
const WITH_EMAIL = [...WITHOUT_EMAIL, mapping("email", "email")];

async function hubspotDestination(portal = `${env.HUBSPOT_URL}/t/${uniqueName("portal")}`): Promise<string> {
  return createDestination({
    type: "hubspot",
    config: { object_type: "contacts", id_property: "email", api_base: portal, batch_size: 10 },
    credentials: { access_token: "hubspot-test-token" },
  });
}

const syncBody = (modelId: string, destinationId: string, mode: string, field_mappings: unknown[]) => ({
  name: "to hubspot",
  model_id: modelId,
  destination_id: destinationId,
  mode,
  schedule: { type: "manual" },
  field_mappings,
});

describe("HubSpot syncs must map id_property", () => {
  it("POST without the id_property among the mapped fields → 400 naming field_mappings and saying what to map", async () => {
    const modelId = await modelOf(await customersTable(3));
    const destinationId = await hubspotDestination();
    const res = await api.post("/api/v1/syncs", { body: syncBody(modelId, destinationId, "upsert", WITHOUT_EMAIL) });
    const error = expectError(res, 400, "validation_failed", "field_mappings");
    expect(JSON.stringify(error.details), JSON.stringify(res.body)).toMatch(/id_property \\"email\\" must be mapped/);
  });

  it("PUT that drops the mapping, or switches to mirror with a non-key column on id_property → 400", async () => {
    const modelId = await modelOf(await customersTable(3));
    const destinationId = await hubspotDestination();
    const created = await api.post("/api/v1/syncs", { body: syncBody(modelId, destinationId, "upsert", WITH_EMAIL) });
    expectStatus(created, 201);
    const id = created.body.id;
    expectError(
      await api.put(`/api/v1/syncs/${id}`, { body: { field_mappings: WITHOUT_EMAIL } }),
      400,
      "validation_failed",
      "field_mappings",
    );
    // Mirror deletes find records by id_property, but a row gone from the model leaves only its key (id).
    const mirror = await api.put(`/api/v1/syncs/${id}`, { body: { mode: "mirror" } });
    const error = expectError(mirror, 400, "validation_failed", "field_mappings.2.source");
    expect(JSON.stringify(error.details)).toMatch(
      /mirror mode deletes HubSpot records by id_property \\"email\\".*map \\"id\\" to \\"email\\", or use upsert mode/,
    );
    // Nothing changed.
    const sync = await api.get(`/api/v1/syncs/${id}`);
    expect(sync.body).toMatchObject({ mode: "upsert", field_mappings: WITH_EMAIL });
  });

  it("a model keyed by id with email → email upserts HubSpot contacts by email (the issue's case, end to end)", async () => {
    const table = await customersTable(30);
    const portal = `${env.HUBSPOT_URL}/t/${uniqueName("portal")}`;
    const created = await api.post("/api/v1/syncs", {
      body: syncBody(await modelOf(table), await hubspotDestination(portal), "upsert", WITH_EMAIL),
    });
    expectStatus(created, 201);
    const run = await runSync(created.body.id);
    expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_created: 30, rows_failed: 0 });
    const state = (await (await fetch(`${portal}/_state`)).json()) as { objects: { contacts: { properties: Record<string, string> }[] } };
    const emails = state.objects.contacts.map((c) => c.properties.email).sort();
    expect(emails).toEqual(Array.from({ length: 30 }, (_, i) => `user${i + 1}@example.com`).sort());
  });

  it("mirror with the key column on id_property is accepted", async () => {
    const modelId = await modelOf(await customersTable(3));
    const destinationId = await hubspotDestination();
    const res = await api.post("/api/v1/syncs", {
      body: syncBody(modelId, destinationId, "mirror", [...WITHOUT_EMAIL, mapping("id", "email")]),
    });
    expectStatus(res, 201);
  });
});
