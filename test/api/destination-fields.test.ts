import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { control, stateOf } from "../destinations/helpers";
import { api, expectError, expectStatus } from "../harness";
import { createDestination, customersTable, modelOf, pg, uniqueName } from "../harness/run";

/** A Salesforce destination on a fresh fake org whose Contacts require `required`. */
async function salesforce(required: string[] = []) {
  const org = `${env.SALESFORCE_URL}/t/${uniqueName("org")}`;
  await control(`${org}/_config`, { required_fields: required });
  const id = await createDestination({
    type: "salesforce",
    config: { instance_url: org, object: "Contact", external_id_field: "External_Id__c" },
    credentials: { access_token: "sf-test-token" },
  });
  const describes = async () =>
    (await stateOf<{ requests: { path: string }[] }>(`${org}/_state`)).requests.filter((r) => r.path.endsWith("/describe")).length;
  return { id, org, describes };
}

/** The `data` of a fields answer. */
const dataOf = (res: { body: unknown }) => (res.body as { data: { name: string }[] }).data;

const mapping = (source: string, destination: string) => ({ source, destination });

describe("GET /api/v1/destinations/{id}/fields", () => {
  it("lists the fields the destination describes, with types, required and identifier flags, and caches them", async () => {
    const { id, describes } = await salesforce(["LastName"]);
    const res = await api.get(`/api/v1/destinations/${id}/fields`);
    expectStatus(res, 200);
    const fields = new Map(dataOf(res).map((f) => [f.name, f]));
    expect(fields.get("LastName")).toEqual({ name: "LastName", label: "LastName", type: "string", required: true });
    expect(fields.get("Score__c")).toMatchObject({ type: "number", required: false });
    expect(fields.get("External_Id__c")).toMatchObject({ identifier: true });
    expect(fields.has("Id")).toBe(false);
    // A second look within the TTL is served from the cache, not a second describe call.
    expectStatus(await api.get(`/api/v1/destinations/${id}/fields`), 200);
    expect(await describes()).toBe(1);
  });

  it("a HubSpot destination lists its properties", async () => {
    const portal = `${env.HUBSPOT_URL}/t/${uniqueName("portal")}`;
    const id = await createDestination({
      type: "hubspot",
      config: { object_type: "contacts", id_property: "external_id", api_base: portal },
      credentials: { access_token: "hubspot-test-token" },
    });
    const res = await api.get(`/api/v1/destinations/${id}/fields`);
    expectStatus(res, 200);
    expect(dataOf(res)).toContainEqual({ name: "amount", label: "amount", type: "number", required: false });
  });

  it("409 for a type that cannot describe its fields, 422 when the destination refuses, 404 for an unknown id", async () => {
    const hook = await createDestination({ type: "webhook", config: { url: `${env.WEBHOOK_RECEIVER_URL}/hook/x` } });
    const conflict = expectError(await api.get(`/api/v1/destinations/${hook}/fields`), 409, "conflict");
    expect(conflict.message).toMatch(/webhook destination does not describe its fields/);

    const org = `${env.SALESFORCE_URL}/t/${uniqueName("org")}`;
    const refused = await createDestination({
      type: "salesforce",
      config: { instance_url: org, object: "Contact", external_id_field: "External_Id__c" },
      credentials: { access_token: "a-wrong-token" },
    });
    const error = expectError(await api.get(`/api/v1/destinations/${refused}/fields`), 422, "destination_error");
    expect(error.message).toMatch(/401/);
    expectError(await api.get("/api/v1/destinations/dst_00000000000000000000000000/fields"), 404, "not_found");
  });
});

describe("a sync save checks its mappings against the described fields", () => {
  let modelId: string;
  beforeAll(async () => {
    modelId = await modelOf(await customersTable(3));
  });
  const body = (destinationId: string, mode: string, field_mappings: unknown[]) => ({
    name: "described",
    model_id: modelId,
    destination_id: destinationId,
    mode,
    schedule: { type: "manual" },
    field_mappings,
  });

  it("a required field left unmapped → 400 naming field_mappings and the field; mapped, the sync saves", async () => {
    const { id } = await salesforce(["LastName", "Plan__c"]);
    const res = await api.post("/api/v1/syncs", { body: body(id, "upsert", [mapping("email", "Email"), mapping("plan", "Plan__c")]) });
    const error = expectError(res, 400, "validation_failed", "field_mappings");
    expect(error.message).toMatch(/required destination field LastName must be mapped/);
    expect(error.message).not.toMatch(/Plan__c/);
    const ok = await api.post("/api/v1/syncs", {
      body: body(id, "upsert", [mapping("email", "Email"), mapping("name", "LastName"), mapping("plan", "Plan__c")]),
    });
    expectStatus(ok, 201);
    // An update that drops the required field is refused the same way.
    const update = await api.put(`/api/v1/syncs/${ok.body.id}`, { body: { field_mappings: [mapping("email", "Email")] } });
    expect(expectError(update, 400, "validation_failed", "field_mappings").message).toMatch(/LastName, Plan__c must be mapped/);
  });

  it("a field the destination does not describe → 400 naming field_mappings.N.destination", async () => {
    const { id } = await salesforce();
    const res = await api.post("/api/v1/syncs", {
      body: body(id, "upsert", [mapping("email", "Email"), mapping("plan", "Plan"), mapping("name", "lastname")]),
    });
    const error = expectError(res, 400, "validation_failed", "field_mappings.1.destination");
    const details = error.details as { path: string; message: string }[];
    expect(details.find((d) => d.path === "field_mappings.1.destination")?.message).toMatch(/"Plan" is not a writable field/);
    expect(details.find((d) => d.path === "field_mappings.2.destination")?.message).toMatch(/did you mean "LastName"/);
  });

  it("a field added at the destination since its description was cached is accepted (a refusal is confirmed afresh)", async () => {
    const { id, org } = await salesforce();
    const mappings = [mapping("email", "Email"), mapping("plan", "Tier__c")];
    expectError(
      await api.post("/api/v1/syncs", { body: body(id, "upsert", mappings) }),
      400,
      "validation_failed",
      "field_mappings.1.destination",
    );
    await control(`${org}/_config`, { extra_fields: [{ name: "Tier__c", type: "picklist" }] });
    expectStatus(await api.post("/api/v1/syncs", { body: body(id, "upsert", mappings) }), 201);
  });

  it("a destination that cannot be described now does not block the save", async () => {
    const org = `${env.SALESFORCE_URL}/t/${uniqueName("org")}`;
    await control(`${org}/_config`, { faults: [{ status: 503, body: [{ errorCode: "SERVER_UNAVAILABLE", message: "down" }] }] });
    const id = await createDestination({
      type: "salesforce",
      config: { instance_url: org, object: "Contact", external_id_field: "External_Id__c" },
      credentials: { access_token: "sf-test-token" },
    });
    expectStatus(await api.post("/api/v1/syncs", { body: body(id, "upsert", [mapping("plan", "Not_A_Field__c")]) }), 201);
  });

  it("Postgres: a NOT NULL column without default must be mapped; an unknown column is refused", async () => {
    const table = uniqueName("describe_api");
    await pg(`CREATE TABLE ${table} (id text PRIMARY KEY, email text NOT NULL, plan text, created_at timestamptz NOT NULL DEFAULT now())`);
    const id = await createDestination({
      type: "postgres",
      config: { table, key_column: "id" },
      credentials: { connection_string: env.TEST_WAREHOUSE_URL },
    });
    const missing = await api.post("/api/v1/syncs", { body: body(id, "append", [mapping("plan", "plan")]) });
    expect(expectError(missing, 400, "validation_failed", "field_mappings").message).toMatch(/required destination field email/);
    const unknown = await api.post("/api/v1/syncs", { body: body(id, "upsert", [mapping("email", "email"), mapping("plan", "tier")]) });
    expectError(unknown, 400, "validation_failed", "field_mappings.1.destination");
    expectStatus(await api.post("/api/v1/syncs", { body: body(id, "mirror", [mapping("email", "email"), mapping("plan", "plan")]) }), 201);
    await pg(`DROP TABLE ${table}`);
  });
});
