import { env } from "cloudflare:workers";
import { afterAll, describe, expect, it } from "vitest";
import { control, stateOf } from "../destinations/helpers";
import { api, createSource, expectStatus } from "../harness";
import { createDestination, pg, runErrors, runSync, uniqueName } from "../harness/run";

const table = uniqueName("describe_cast");
afterAll(() => pg(`DROP TABLE IF EXISTS ${table}`));

describe("delivery casts mapped values to the described field types", () => {
  it("numeric and boolean text arrive as numbers and booleans; a value that cannot be cast fails only its row", async () => {
    await pg(`CREATE TABLE ${table} (id text PRIMARY KEY, email text, amount text, opted text, born text)`);
    await pg(`INSERT INTO ${table} VALUES
      ('1', 'a@example.com', '12.5', 'yes', '1990-02-03'),
      ('2', 'b@example.com', '7', '0', '1985-12-31T22:00:00-03:00'),
      ('3', 'c@example.com', 'lots', 'no', NULL),
      ('4', 'd@example.com', NULL, 'true', '1970-01-01')`);
    const org = `${env.SALESFORCE_URL}/t/${uniqueName("org")}`;
    await control(`${org}/_config`, {});
    const destinationId = await createDestination({
      type: "salesforce",
      config: { instance_url: org, object: "Contact", external_id_field: "External_Id__c" },
      credentials: { access_token: "sf-test-token" },
    });
    const model = await api.post("/api/v1/models", {
      body: { name: table, source_id: await createSource(), sql: `SELECT * FROM ${table}`, primary_key: "id" },
    });
    expectStatus(model, 201);
    const sync = await api.post("/api/v1/syncs", {
      body: {
        name: "cast",
        model_id: model.body.id,
        destination_id: destinationId,
        mode: "upsert",
        schedule: { type: "manual" },
        field_mappings: [
          { source: "email", destination: "Email" },
          { source: "amount", destination: "Score__c" },
          { source: "opted", destination: "HasOptedOutOfEmail" },
          { source: "born", destination: "Birthdate" },
        ],
      },
    });
    expectStatus(sync, 201);

    const run = await runSync(sync.body.id);
    expect(run, JSON.stringify(run)).toMatchObject({ status: "partial", rows_failed: 1 });
    const errors = await runErrors(sync.body.id, run.id);
    expect(errors.map((e) => [e.primary_key, e.message])).toEqual([["3", 'field Score__c (number): "lots" is not a number']]);

    const state = await stateOf<{ records: { Contact?: Record<string, unknown>[] } }>(`${org}/_state`);
    const byKey = Object.fromEntries((state.records.Contact ?? []).map((r) => [String(r.External_Id__c), r]));
    expect(Object.keys(byKey).sort()).toEqual(["1", "2", "4"]);
    expect(byKey["1"]).toMatchObject({ Score__c: 12.5, HasOptedOutOfEmail: true, Birthdate: "1990-02-03" });
    expect(byKey["2"]).toMatchObject({ Score__c: 7, HasOptedOutOfEmail: false, Birthdate: "1986-01-01" });
    expect(byKey["4"]).toMatchObject({ Score__c: null, HasOptedOutOfEmail: true, Birthdate: "1970-01-01" });
  });
});
