import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { closePostgres, connectPostgres } from "../../src/sources/postgres/connection";
import { WAREHOUSE_URL } from "../harness";
import { exerciseModes, exerciseUpdate, type ModesTarget } from "../harness/modes";
import {
  configureWebhook,
  createDestination,
  pg,
  text,
  uniqueName,
  WEBHOOK_FIELDS,
  webhookRows,
  webhookState,
  webhookUrl,
} from "../harness/run";
import { stateOf } from "../destinations/helpers";

const BATCH = 15;
const MODES = ["upsert", "mirror", "append"] as const;

const targets: Record<"webhook" | "postgres" | "salesforce" | "hubspot", ModesTarget> = {
  webhook: {
    fields: WEBHOOK_FIELDS,
    async create() {
      const name = uniqueName("modes");
      await configureWebhook(name, { idempotent: true });
      const destinationId = await createDestination({ type: "webhook", config: { url: webhookUrl(name), batch_size: BATCH } });
      return {
        destinationId,
        read: async () => webhookRows(await webhookState(name)),
        // Every key was created once: updates never re-created a row, redeliveries were absorbed.
        extra: async () => {
          const state = await webhookState(name);
          expect(
            Object.values(state.creates).filter((n) => n !== 1),
            JSON.stringify(state.creates),
          ).toEqual([]);
        },
      };
    },
  },
  postgres: {
    fields: { email: "email", name: "name", plan: "plan", score: "score" },
    async create() {
      const table = uniqueName("dst");
      await pg(`CREATE TABLE ${table} (id text PRIMARY KEY, email text, name text, plan text, score int)`);
      const destinationId = await createDestination({
        type: "postgres",
        config: { table, key_column: "id", batch_size: BATCH },
        credentials: { connection_string: WAREHOUSE_URL },
      });
      const read = async () => {
        const client = await connectPostgres(WAREHOUSE_URL, { statementTimeoutMs: 30_000, allowPrivate: true });
        try {
          const result = await client.query<Record<string, unknown>>(`SELECT id, email, name, plan, score FROM ${table}`);
          return Object.fromEntries(
            result.rows.map((r) => [String(r.id), { email: text(r.email), name: text(r.name), plan: text(r.plan), score: text(r.score) }]),
          );
        } finally {
          await closePostgres(client);
        }
      };
      return { destinationId, read };
    },
  },
  salesforce: {
    fields: { email: "Email", name: "LastName", plan: "Plan__c", score: "Score__c" },
    async create() {
      const org = `${env.SALESFORCE_URL}/t/${uniqueName("org")}`;
      const destinationId = await createDestination({
        type: "salesforce",
        config: { instance_url: org, object: "Contact", external_id_field: "External_Id__c", batch_size: BATCH },
        credentials: { access_token: "sf-test-token" },
      });
      const read = async () => {
        const state = await stateOf<{ records: Record<string, Record<string, unknown>[]> }>(`${org}/_state`);
        return Object.fromEntries(
          (state.records.Contact ?? []).map((r) => [
            String(r.External_Id__c),
            { email: text(r.Email), name: text(r.LastName), plan: text(r.Plan__c), score: text(r.Score__c) },
          ]),
        );
      };
      return { destinationId, read };
    },
  },
  hubspot: {
    fields: { email: "email", name: "firstname", plan: "company", score: "amount" },
    // HubSpot matches records by the mapped id_property; mirror deletes need it to be the key.
    keyField: "external_id",
    async create() {
      const portal = `${env.HUBSPOT_URL}/t/${uniqueName("portal")}`;
      const destinationId = await createDestination({
        type: "hubspot",
        config: { object_type: "contacts", id_property: "external_id", api_base: portal, batch_size: BATCH },
        credentials: { access_token: "hubspot-test-token" },
      });
      const read = async () => {
        const state = await stateOf<{ objects: Record<string, { properties: Record<string, string> }[]> }>(`${portal}/_state`);
        return Object.fromEntries(
          (state.objects.contacts ?? []).map(({ properties: p }) => [
            String(p.external_id),
            { email: text(p.email), name: text(p.firstname), plan: text(p.company), score: text(p.amount) },
          ]),
        );
      };
      return { destinationId, read };
    },
  },
};

describe("each mode × each connector, end to end through the API", () => {
  for (const [type, target] of Object.entries(targets)) {
    it.concurrent(`${type}: upsert, mirror and append leave the destination as the mode implies`, async () => {
      await Promise.all(MODES.map((mode) => exerciseModes(target, mode)));
    }, 90_000);
    it.concurrent(`${type}: update mode updates what the destination holds and creates nothing`, async () => {
      await exerciseUpdate(target);
    }, 90_000);
  }
});
