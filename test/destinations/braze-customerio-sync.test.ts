import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, expectError } from "../harness";
import { exerciseModes, type ModesTarget, type TargetDestination } from "../harness/modes";
import { createDestination, createSync, customersTable, modelNow, modelOf, type Rows, runSync, text, uniqueName } from "../harness/run";
import { control, stateOf } from "./helpers";

/**
 * Braze and Customer.io end to end through the API: a model synced to each fake in upsert and
 * mirror mode, then changed (5 inserts, 6 updates, 4 deletes) and synced again. Profiles are keyed
 * by the model's primary key (Braze external_id, Customer.io id), which is how mirror deletes find them.
 */
const FIELDS = { email: "email", name: "first_name", plan: "plan", score: "score" };

interface Vendor extends ModesTarget<TargetDestination & { workspace: string }> {
  /** The destination field the connector fills from the key itself. */
  connectorKey: string;
}

const asRows = (profiles: Record<string, Record<string, unknown>>): Rows =>
  Object.fromEntries(
    Object.entries(profiles).map(([key, p]) => [
      key,
      { email: text(p.email), name: text(p.first_name), plan: text(p.plan), score: text(p.score) },
    ]),
  );

const vendors: Record<"braze" | "customerio", Vendor> = {
  braze: {
    fields: FIELDS,
    connectorKey: "external_id",
    async create() {
      const workspace = `${env.BRAZE_URL}/t/${uniqueName("ws")}`;
      const destinationId = await createDestination({
        type: "braze",
        config: { rest_endpoint: workspace, batch_size: 15 },
        credentials: { api_key: "braze-test-key" },
      });
      return {
        destinationId,
        workspace,
        read: async () => asRows((await stateOf<{ users: Record<string, Record<string, unknown>> }>(`${workspace}/_state`)).users),
      };
    },
  },
  customerio: {
    fields: FIELDS,
    connectorKey: "id",
    async create() {
      const workspace = `${env.CUSTOMERIO_URL}/t/${uniqueName("ws")}`;
      const destinationId = await createDestination({
        type: "customerio",
        config: { region: "us", api_base: workspace, batch_size: 15 },
        credentials: { site_id: "cio-site", api_key: "cio-key" },
      });
      return {
        destinationId,
        workspace,
        read: async () => asRows((await stateOf<{ people: Record<string, Record<string, unknown>> }>(`${workspace}/_state`)).people),
      };
    },
  },
};

describe("engagement destinations end to end through the API", () => {
  for (const [type, vendor] of Object.entries(vendors)) {
    it.concurrent(`${type}: upsert and mirror (with deletes) leave the profiles as the mode implies`, async () => {
      await Promise.all((["upsert", "mirror"] as const).map((mode) => exerciseModes(vendor, mode)));
    }, 90_000);

    it.concurrent(`${type}: a 503 and a 429 with Retry-After during a run are retried; every row arrives`, async () => {
      const table = await customersTable(20);
      const { destinationId, read, workspace } = await vendor.create();
      await control(`${workspace}/_config`, { faults: [{ status: 503 }, { status: 429, retry_after: "1" }] });
      const syncId = await createSync(await modelOf(table), destinationId, "mirror", FIELDS);
      const run = await runSync(syncId);
      expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_created: 20, rows_failed: 0 });
      expect(await read()).toEqual(await modelNow(table));
      const { requests } = await stateOf<{ requests: { status: number }[] }>(`${workspace}/_state`);
      expect(requests.map((r) => r.status).slice(0, 2)).toEqual([503, 429]);
    }, 90_000);

    it.concurrent(`${type}: a sync mapping a column onto the key's field (${vendor.connectorKey}) is refused with a 400 naming it`, async () => {
      const { destinationId } = await vendor.create();
      const modelId = await modelOf(await customersTable(3));
      const res = await api.post("/api/v1/syncs", {
        body: {
          name: `${type} keyed wrongly`,
          model_id: modelId,
          destination_id: destinationId,
          mode: "mirror",
          schedule: { type: "manual" },
          field_mappings: [
            { source: "name", destination: "first_name" },
            { source: "email", destination: vendor.connectorKey },
          ],
        },
      });
      const error = expectError(res, 400, "validation_failed", "field_mappings.1.destination");
      expect(JSON.stringify(error.details)).toMatch(/is set by the connector.*primary key \\"id\\"/);
    });
  }
});
