import { describe, expect, it } from "vitest";
import { api, detailPaths, expectError, expectStatus } from "../harness";
import { createDestination, customersTable, modelOf, pg, runSync, uniqueName, webhookState, webhookUrl } from "../harness/run";

/** A webhook sync of a customers table with a column, a constant and a template. */
async function mappedSync(table: string, endpoint: string) {
  const modelId = await modelOf(table);
  const destinationId = await createDestination({ type: "webhook", config: { url: webhookUrl(endpoint), batch_size: 100 } });
  const res = await api.post("/api/v1/syncs", {
    body: {
      name: "mapped",
      model_id: modelId,
      destination_id: destinationId,
      mode: "upsert",
      schedule: { type: "manual" },
      field_mappings: [
        { source: "email", destination: "Email" },
        { static: "Warehouse", destination: "LeadSource" },
        { static: { tier: 2 }, destination: "Meta" },
        { template: "{{ name | upcase }} ({{ plan }}, {{ score | plus: 1 }})", destination: "Label" },
      ],
    },
  });
  expectStatus(res, 201);
  return { syncId: res.body.id, modelId, destinationId };
}

describe("static values and templates in field mappings", () => {
  it("sends constants and rendered templates; a template's columns are read though no mapping names them", async () => {
    const table = await customersTable(30);
    const endpoint = uniqueName("mapped");
    const { syncId } = await mappedSync(table, endpoint);
    const run = await runSync(syncId);
    expect(run).toMatchObject({ status: "succeeded", rows_created: 30 });
    const { rows } = await webhookState(endpoint);
    expect(rows["3"]).toEqual({ Email: "user3@example.com", LeadSource: "Warehouse", Meta: { tier: 2 }, Label: "NAME 3 (pro, 4)" });
    expect(rows["7"]?.Label).toBe("NAME 7 (free, 8)");
    expect(Object.keys(rows)).toHaveLength(30);

    // A column only a template reads is still diffed: changing it updates the rows.
    await pg(`UPDATE ${table} SET score = 100 WHERE id IN ('1', '2')`);
    const second = await runSync(syncId);
    expect(second).toMatchObject({ rows_updated: 2, rows_created: 0 });
    expect((await webhookState(endpoint)).rows["1"]?.Label).toBe("NAME 1 (free, 101)");
  });

  it("editing a template or a constant sends every row again with the new value", async () => {
    const table = await customersTable(12);
    const endpoint = uniqueName("mapped");
    const { syncId } = await mappedSync(table, endpoint);
    await runSync(syncId);
    expect(await runSync(syncId)).toMatchObject({ rows_updated: 0, rows_created: 0 });
    const sync = (await api.get(`/api/v1/syncs/${syncId}`)).body;
    const edited = sync.field_mappings.map((m) =>
      "template" in m ? { template: "{{ email | split: '@' | first }}", destination: "Label" } : m,
    );
    expectStatus(await api.put(`/api/v1/syncs/${syncId}`, { body: { field_mappings: edited } }), 200);
    expect(await runSync(syncId)).toMatchObject({ rows_updated: 12 });
    expect((await webhookState(endpoint)).rows["5"]?.Label).toBe("user5");
  });

  it("refuses a template that does not compile or reads a column the model lacks, naming the mapping", async () => {
    const table = await customersTable(1);
    const endpoint = uniqueName("mapped");
    const { syncId } = await mappedSync(table, endpoint);
    const bad = await api.put(`/api/v1/syncs/${syncId}`, {
      body: {
        field_mappings: [
          { source: "email", destination: "Email" },
          { template: "{{ nickname }}", destination: "Nick" },
          { template: "{% for x in y %}", destination: "Loop" },
          { template: "{% include 'x' %}", destination: "File" },
        ],
      },
    });
    const error = expectError(bad, 400, "validation_failed");
    expect(detailPaths(bad)).toEqual(["field_mappings.1.template", "field_mappings.2.template", "field_mappings.3.template"]);
    expect(JSON.stringify(error.details)).toContain('\\"nickname\\"');
    expect(JSON.stringify(error.details)).toContain("{% include %} is not allowed");
    const shape = await api.put(`/api/v1/syncs/${syncId}`, { body: { field_mappings: [{ destination: "Nothing" }] } });
    expectError(shape, 400, "validation_failed");
  });
});
