/**
 * A workspace holding one object of every type (source, model, destination, sync with a finished
 * run, token) on the test warehouse and webhook receiver, plus valid sample bodies per operation.
 */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { newWorkspace, WAREHOUSE_URL } from "../harness";
import { customersTable, waitForRun } from "../harness/run";
import { type Json, send, type SendOptions } from "./sweep";

export interface Fixtures {
  workspaceId: string;
  token: string;
  table: string;
  sourceId: string;
  modelId: string;
  destinationId: string;
  syncId: string;
  runId: string;
  tokenId: string;
  /** Plaintext of `tokenId`, shown once at creation. */
  tokenSecret: string;
  triggerSecret: string;
  /** A webhook alert channel on the alert receiver. */
  channelId: string;
}

async function ok(method: string, path: string, opts: SendOptions, status: number): Promise<Record<string, unknown>> {
  const res = await send(method, path, opts);
  expect(res.status, `${method} ${path}: ${res.text.slice(0, 500)}`).toBe(status);
  return res.json as Record<string, unknown>;
}

/** Creates the workspace and its objects through the API; the sync's one run is finished. */
export async function createFixtures(opts: { connectionString?: string; credentials?: Record<string, unknown> } = {}): Promise<Fixtures> {
  const { workspaceId, token } = await newWorkspace("admin");
  const table = await customersTable(5);
  const source = await ok(
    "POST",
    "/api/v1/sources",
    { token, body: { name: "warehouse", type: "postgres", connection_string: opts.connectionString ?? WAREHOUSE_URL } },
    201,
  );
  const model = await ok(
    "POST",
    "/api/v1/models",
    { token, body: { name: "customers", source_id: source.id, sql: `SELECT id, email, name, plan FROM ${table}`, primary_key: "id" } },
    201,
  );
  const destination = await ok(
    "POST",
    "/api/v1/destinations",
    {
      token,
      body: {
        name: "receiver",
        type: "webhook",
        config: { url: `${env.WEBHOOK_RECEIVER_URL}/hook/${table}` },
        ...(opts.credentials ? { credentials: opts.credentials } : {}),
      },
    },
    201,
  );
  const sync = await ok(
    "POST",
    "/api/v1/syncs",
    {
      token,
      body: {
        name: "customers to receiver",
        model_id: model.id,
        destination_id: destination.id,
        mode: "upsert",
        schedule: { type: "manual" },
        field_mappings: [
          { source: "email", destination: "Email" },
          { source: "name", destination: "Name" },
        ],
      },
    },
    201,
  );
  const syncId = String(sync.id);
  const run = await ok("POST", `/api/v1/syncs/${syncId}/trigger`, { token }, 202);
  const finished = await waitForRun(syncId, String(run.id), { token });
  expect(finished.status, JSON.stringify(finished)).toBe("succeeded");
  const created = await ok("POST", "/api/v1/tokens", { token, body: { name: "reader", scope: "read" } }, 201);
  const channel = await ok(
    "POST",
    "/api/v1/alert-channels",
    { token, body: { name: "alerts", type: "webhook", config: { url: `${env.ALERT_RECEIVER_URL}/r/${table}` } } },
    201,
  );
  return {
    workspaceId,
    token,
    table,
    sourceId: String(source.id),
    modelId: String(model.id),
    destinationId: String(destination.id),
    syncId,
    runId: String(run.id),
    tokenId: String(created.id),
    tokenSecret: String(created.token),
    triggerSecret: String(sync.trigger_url).split("/").at(-1) ?? "",
    channelId: String(channel.id),
  };
}

/** A valid body for each operation that takes one (the sweeps mutate these one field at a time). */
export function sampleBodies(f: Fixtures): Record<string, Json> {
  const mappings = [
    { source: "email", destination: "Email" },
    { source: "plan", destination: "Plan" },
  ];
  return {
    createSource: { name: "warehouse 2", type: "postgres", connection_string: WAREHOUSE_URL },
    updateSource: { name: "renamed", connection_string: WAREHOUSE_URL },
    createModel: { name: "emails", source_id: f.sourceId, sql: `SELECT id, email FROM ${f.table}`, primary_key: "id" },
    updateModel: { name: "renamed", sql: `SELECT id, email, name, plan FROM ${f.table}`, primary_key: "id" },
    previewModel: { limit: 5 },
    previewQuery: { source_id: f.sourceId, sql: `SELECT id, email FROM ${f.table}`, limit: 5 },
    createDestination: {
      name: "hook",
      type: "webhook",
      config: { url: "https://hooks.example.com/crm", headers: { "X-Env": "test" }, batch_size: 100, timeout_ms: 5000 },
      credentials: { signing_secret: "0123456789abcdef0123", headers: { Authorization: "Bearer abc" } },
    },
    updateDestination: { name: "renamed", config: { url: "https://hooks.example.com/other" } },
    createToken: { name: "ci", scope: "read" },
    createSync: {
      name: "second sync",
      model_id: f.modelId,
      destination_id: f.destinationId,
      mode: "mirror",
      schedule: { type: "cron", expression: "0 6 * * *", timezone: "Europe/Berlin" },
      field_mappings: mappings,
      paused: true,
      mass_delete_threshold_pct: 40,
      alerts: {
        channel_ids: [f.channelId],
        on_failure: true,
        rows_failed_pct: 5,
        row_count_change_pct: 50,
        late_minutes: 30,
        max_duration_minutes: 120,
      },
    },
    updateSync: {
      name: "renamed",
      mode: "upsert",
      schedule: { type: "interval", interval_minutes: 30 },
      field_mappings: mappings,
      mass_delete_threshold_pct: 10,
      alerts: { on_recovery: false, late_minutes: 15 },
    },
    triggerSync: { full_resync: true, allow_mass_delete: false },
    createAlertChannel: { name: "on call", type: "webhook", config: { url: "https://hooks.example.com/alerts" }, default: false },
    updateAlertChannel: { name: "renamed", config: { url: "https://hooks.example.com/other" }, default: true },
  };
}

/** The fixture object a path parameter names, by the path segment before it. */
export function pathValues(path: string, f: Fixtures): Record<string, string> | string {
  const values: Record<string, string> = {};
  const segments = path.split("/");
  for (const [i, segment] of segments.entries()) {
    const m = /^\{(\w+)\}$/.exec(segment);
    if (!m?.[1]) continue;
    const before = segments[i - 1] ?? "";
    const byCollection: Record<string, string> = {
      sources: f.sourceId,
      models: f.modelId,
      destinations: f.destinationId,
      syncs: f.syncId,
      runs: f.runId,
      tokens: f.tokenId,
      "alert-channels": f.channelId,
      // A primary key of the fixture table (record history).
      records: "1",
    };
    const value = m[1] === "secret" ? f.triggerSecret : byCollection[before];
    if (value === undefined) return `no fixture for {${m[1]}} after "${before}" in ${path}`;
    values[m[1]] = value;
  }
  return values;
}

/** An id of another object type than the path expects (e.g. a model id in /sources/{id}). */
export function otherTypeId(path: string, param: string, f: Fixtures): string {
  const own = pathValues(path, f);
  const ids = [f.sourceId, f.modelId, f.destinationId, f.syncId, f.runId, f.tokenId, f.channelId];
  return ids.find((id) => typeof own === "string" || own[param] !== id) ?? "src_other";
}
