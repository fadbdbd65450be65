import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, expectError } from "../harness";
import { control } from "./helpers";
import {
  changeModel,
  createDestination,
  createSync,
  customersTable,
  expectedRows,
  type Mode,
  modelNow,
  modelOf,
  type Rows,
  runSync,
  uniqueName,
} from "../harness/run";

/**
 * Braze and Customer.io end to end through the API: a model synced to each fake in upsert and
 * mirror mode, then changed (5 inserts, 6 updates, 4 deletes) and synced again. Profiles are keyed
 * by the model's primary key (Braze external_id, Customer.io id), which is how mirror deletes find them.
 */
const N = 40;
const FIELDS = { email: "email", name: "first_name", plan: "plan", score: "score" };
const text = (v: unknown): string | null => (v === null || v === undefined || v === "" ? null : String(v));

interface Vendor {
  create(): Promise<{ destinationId: string; read: () => Promise<Rows>; workspace: string }>;
  /** The destination field the connector fills from the key itself. */
  keyField: string;
}

const asRows = (profiles: Record<string, Record<string, unknown>>): Rows =>
  Object.fromEntries(
    Object.entries(profiles).map(([key, p]) => [
      key,
      { email: text(p.email), name: text(p.first_name), plan: text(p.plan), score: text(p.score) },
    ]),
  );

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  expect(res.status, url).toBe(200);
  return (await res.json()) as T;
}

const vendors: Record<"braze" | "customerio", Vendor> = {
  braze: {
    keyField: "external_id",
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
        read: async () => asRows((await getJson<{ users: Record<string, Record<string, unknown>> }>(`${workspace}/_state`)).users),
      };
    },
  },
  customerio: {
    keyField: "id",
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
        read: async () => asRows((await getJson<{ people: Record<string, Record<string, unknown>> }>(`${workspace}/_state`)).people),
      };
    },
  },
};

const secondRunCounts: Record<"upsert" | "mirror", { rows_created: number; rows_updated: number; rows_deleted: number }> = {
  mirror: { rows_created: 5, rows_updated: 6, rows_deleted: 4 },
  upsert: { rows_created: 5, rows_updated: 6, rows_deleted: 0 },
};

async function exercise(vendor: Vendor, mode: "upsert" | "mirror"): Promise<void> {
  const table = await customersTable(N);
  const before = await modelNow(table);
  const { destinationId, read } = await vendor.create();
  const syncId = await createSync(await modelOf(table), destinationId, mode as Mode, FIELDS);

  const first = await runSync(syncId);
  expect(first, `${mode} run 1: ${JSON.stringify(first)}`).toMatchObject({ status: "succeeded", rows_created: N, rows_failed: 0 });
  expect(await read(), `${mode} after run 1`).toEqual(before);

  await changeModel(table, N);
  const after = await modelNow(table);
  const second = await runSync(syncId);
  expect(second, `${mode} run 2: ${JSON.stringify(second)}`).toMatchObject({
    status: "succeeded",
    rows_failed: 0,
    ...secondRunCounts[mode],
  });
  const expected = expectedRows(mode, before, after);
  expect(await read(), `${mode} after run 2`).toEqual(expected);
  // Mirror removed the 4 deleted keys; upsert kept them.
  expect("31" in expected, mode).toBe(mode === "upsert");
}

describe("engagement destinations end to end through the API", () => {
  for (const [type, vendor] of Object.entries(vendors)) {
    it.concurrent(`${type}: upsert and mirror (with deletes) leave the profiles as the mode implies`, async () => {
      await Promise.all((["upsert", "mirror"] as const).map((mode) => exercise(vendor, mode)));
    }, 90_000);

    it.concurrent(`${type}: a 503 and a 429 with Retry-After during a run are retried; every row arrives`, async () => {
      const table = await customersTable(20);
      const { destinationId, read, workspace } = await vendor.create();
      await control(`${workspace}/_config`, { faults: [{ status: 503 }, { status: 429, retry_after: "1" }] });
      const syncId = await createSync(await modelOf(table), destinationId, "mirror", FIELDS);
      const run = await runSync(syncId);
      expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", rows_created: 20, rows_failed: 0 });
      expect(await read()).toEqual(await modelNow(table));
      const { requests } = await getJson<{ requests: { status: number }[] }>(`${workspace}/_state`);
      expect(requests.map((r) => r.status).slice(0, 2)).toEqual([503, 429]);
    }, 90_000);

    it.concurrent(`${type}: a sync mapping a column onto the key's field (${vendor.keyField}) is refused with a 400 naming it`, async () => {
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
            { source: "email", destination: vendor.keyField },
          ],
        },
      });
      const error = expectError(res, 400, "validation_failed", "field_mappings.1.destination");
      expect(JSON.stringify(error.details)).toMatch(/is set by the connector.*primary key \\"id\\"/);
    });
  }
});
