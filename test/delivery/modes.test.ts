import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { closePostgres, connectPostgres } from "../../src/sources/postgres/connection";
import { WAREHOUSE_URL } from "../harness";
import {
  changeModel,
  configureWebhook,
  createDestination,
  createSync,
  customersTable,
  expectedRows,
  type Mode,
  modelNow,
  modelOf,
  pg,
  type Rows,
  runErrors,
  runSync,
  SECOND_RUN_COUNTS,
  uniqueName,
  WEBHOOK_FIELDS,
  webhookRows,
  webhookState,
  webhookUrl,
} from "../harness/run";

const N = 40;
const BATCH = 15;
const MODES = ["upsert", "mirror", "append"] as const;

const text = (v: unknown): string | null => (v === null || v === undefined || v === "" ? null : String(v));

/** A fresh destination of one type, through the API, and how to read back what it holds. */
interface Target {
  fields: { email: string; name: string; plan: string; score: string };
  /** Where the model's key column goes too, when the destination matches records by a mapped field (HubSpot's id_property). */
  keyField?: string;
  create(): Promise<{ destinationId: string; read: () => Promise<Rows>; extra?: () => Promise<void> }>;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  expect(res.status, url).toBe(200);
  return (await res.json()) as T;
}

const targets: Record<"webhook" | "postgres" | "salesforce" | "hubspot", Target> = {
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
        const state = await getJson<{ records: Record<string, Record<string, unknown>[]> }>(`${org}/_state`);
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
        const state = await getJson<{ objects: Record<string, { properties: Record<string, string> }[]> }>(`${portal}/_state`);
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

/** Syncs a table in one mode: the destination must equal what the mode implies after each run. */
async function exercise(target: Target, mode: Exclude<Mode, "update">): Promise<void> {
  const table = await customersTable(N);
  const before = await modelNow(table);
  const { destinationId, read, extra } = await target.create();
  const mappings = (["email", "name", "plan", "score"] as const).map((source) => ({ source, destination: target.fields[source] }));
  const keyMapping = target.keyField ? { field_mappings: [...mappings, { source: "id", destination: target.keyField }] } : {};
  const syncId = await createSync(await modelOf(table), destinationId, mode, target.fields, keyMapping);

  const first = await runSync(syncId);
  expect(first, `${mode} run 1: ${JSON.stringify(first)}`).toMatchObject({ status: "succeeded", rows_created: N, rows_failed: 0 });
  expect(await read(), `${mode} after run 1`).toEqual(before);

  await changeModel(table, N);
  const after = await modelNow(table);
  const second = await runSync(syncId);
  expect(second, `${mode} run 2: ${JSON.stringify(second)}`).toMatchObject({
    status: "succeeded",
    rows_failed: 0,
    ...SECOND_RUN_COUNTS[mode],
  });
  const expected = expectedRows(mode, before, after);
  expect(await read(), `${mode} after run 2`).toEqual(expected);
  // The expectation itself differs by mode (so each assertion can tell modes apart).
  if (mode !== "mirror") expect(expected["31"], mode).toEqual(before["31"]);
  if (mode === "append") expect(expected["11"]?.plan).not.toBe("enterprise");
  await extra?.();
}

/**
 * Update mode: an upsert sync of half the customers puts their records at the destination; an
 * update sync of all of them updates those and creates nothing. The others fail as `not_found`
 * once, and are sent again only when they change.
 */
async function exerciseUpdate(target: Target): Promise<void> {
  const half = N / 2;
  const seedTable = await customersTable(half);
  const table = await customersTable(N);
  const { destinationId, read, extra } = await target.create();
  const mappings = (["email", "name", "plan", "score"] as const).map((source) => ({ source, destination: target.fields[source] }));
  const keyMapping = target.keyField ? { field_mappings: [...mappings, { source: "id", destination: target.keyField }] } : {};
  const seed = await createSync(await modelOf(seedTable), destinationId, "upsert", target.fields, keyMapping);
  expect(await runSync(seed)).toMatchObject({ status: "succeeded", rows_created: half });
  const held = await read();
  expect(Object.keys(held)).toHaveLength(half);

  const syncId = await createSync(await modelOf(table), destinationId, "update", target.fields, keyMapping);
  const first = await runSync(syncId);
  expect(first, JSON.stringify(first)).toMatchObject({ status: "partial", rows_created: 0, rows_updated: half, rows_failed: N - half });
  const errors = await runErrors(syncId, first.id);
  expect(new Set(errors.map((e) => e.code))).toEqual(new Set(["not_found"]));
  expect(errors.map((e) => Number(e.primary_key)).sort((a, b) => a - b)).toEqual(Array.from({ length: N - half }, (_, i) => half + 1 + i));
  expect(await read(), "nothing created").toEqual(held);

  // Nothing changed: the records that were not found are not tried again.
  expect(await runSync(syncId)).toMatchObject({ status: "succeeded", rows_updated: 0, rows_failed: 0 });

  const before = await modelNow(table);
  await changeModel(table, N);
  const after = await modelNow(table);
  const third = await runSync(syncId);
  // 11-16 changed and are held: updated. 41-45 are new and not held: not found. 31-34 left the model: kept.
  expect(third, JSON.stringify(third)).toMatchObject({
    status: "partial",
    rows_created: 0,
    rows_updated: 6,
    rows_deleted: 0,
    rows_failed: 5,
  });
  const expected = expectedRows("update", held, after);
  expect(expected["11"]?.plan).toBe("enterprise");
  expect(expected["41"]).toBeUndefined();
  expect(before["11"]?.plan).not.toBe("enterprise");
  expect(await read(), "after the changes").toEqual(expected);
  await extra?.();
}

describe("each mode × each connector, end to end through the API", () => {
  for (const [type, target] of Object.entries(targets)) {
    it.concurrent(`${type}: upsert, mirror and append leave the destination as the mode implies`, async () => {
      await Promise.all(MODES.map((mode) => exercise(target, mode)));
    }, 90_000);
    it.concurrent(`${type}: update mode updates what the destination holds and creates nothing`, async () => {
      await exerciseUpdate(target);
    }, 90_000);
  }
});
