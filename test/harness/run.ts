import type { SyncMode } from "../../src/sync/mode";
/**
 * The run harness: warehouse tables, syncs to the fake destinations, triggering and awaiting runs,
 * and the fake webhook receiver's control (test/servers/webhook-receiver.ts). Used by the run,
 * delivery, sweep and stress tests.
 */
import { abortAllDurableObjects, runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { closePostgres, connectPostgres } from "../../src/sources/postgres/connection";
import type { ReceiverState, WebhookConfig } from "../servers/webhook-receiver-types";
import { ADMIN, type ApiResult, api, expectStatus, type Page, type RowError, type Run } from "./api";
import { createSource, WAREHOUSE_URL } from "./seed";

export type { RowError, Run } from "./api";
export {
  CHAOS_KINDS,
  type Delivery,
  type ReceiverState,
  type ReceiverStats,
  type ReceiverSummary,
  type WebhookConfig,
} from "../servers/webhook-receiver-types";

// ---- the warehouse ----

const warehouseOptions = { statementTimeoutMs: 30_000, allowPrivate: true };

/** Runs SQL on the test warehouse (setup only: models themselves are read-only). */
export async function pg(sql: string, params: unknown[] = []): Promise<void> {
  const client = await connectPostgres(WAREHOUSE_URL, warehouseOptions);
  try {
    await client.query(sql, params);
  } finally {
    await closePostgres(client);
  }
}

/** A unique lower-case name for a receiver endpoint, fake org/portal or table. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const uniqueName = (prefix: string) => `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;

/** A fresh warehouse table of `rows` customers: id, email, name, plan, score. */
export async function customersTable(rows: number): Promise<string> {
  const table = uniqueName("run");
  await pg(`CREATE TABLE ${table} (id text PRIMARY KEY, email text, name text, plan text, score int)`);
  await pg(
    `INSERT INTO ${table} SELECT g::text, 'user' || g || '@example.com', 'Name ' || g, CASE WHEN g % 3 = 0 THEN 'pro' ELSE 'free' END, g FROM generate_series(1, $1) g`,
    [rows],
  );
  return table;
}

/** Inserts 5 rows, updates 6 and deletes 4 of a table made by customersTable(n) (n ≥ 40). */
export async function changeModel(table: string, n: number): Promise<void> {
  await pg(
    `INSERT INTO ${table} SELECT g::text, 'new' || g || '@example.com', 'New ' || g, 'free', g FROM generate_series(${n + 1}, ${n + 5}) g`,
  );
  await pg(`UPDATE ${table} SET plan = 'enterprise', score = score + 1000 WHERE id::int BETWEEN 11 AND 16`);
  await pg(`DELETE FROM ${table} WHERE id::int BETWEEN 31 AND 34`);
}

interface CustomerRow {
  id: string;
  email: string | null;
  name: string | null;
  plan: string | null;
  score: number | null;
}

async function customers(table: string): Promise<CustomerRow[]> {
  const client = await connectPostgres(WAREHOUSE_URL, warehouseOptions);
  try {
    return (await client.query<CustomerRow>(`SELECT id, email, name, plan, score FROM ${table} WHERE id IS NOT NULL`)).rows;
  } finally {
    await closePostgres(client);
  }
}

/** The model's rows as the webhook receiver should hold them under {@link WEBHOOK_FIELDS} (values as sent). */
export async function modelRows(table: string): Promise<Record<string, Record<string, unknown>>> {
  const rows = await customers(table);
  return Object.fromEntries(rows.map((r) => [r.id, { Email: r.email, Name: r.name, Plan: r.plan, Score: r.score }]));
}

/** A model row as every destination should hold it, values as text (HubSpot stores strings). */
type Row = { email: string | null; name: string | null; plan: string | null; score: string | null };
export type Rows = Record<string, Row>;
export type Mode = SyncMode;

/** A value as destinations hold it: text, with empty and missing as null. */
export const text = (v: unknown): string | null => (v === null || v === undefined || v === "" ? null : String(v));

/** Counts the run after changeModel (5 inserts, 6 updates, 4 deletes) must report, by mode. */
export const SECOND_RUN_COUNTS: Record<Exclude<Mode, "update">, { rows_created: number; rows_updated: number; rows_deleted: number }> = {
  mirror: { rows_created: 5, rows_updated: 6, rows_deleted: 4 },
  upsert: { rows_created: 5, rows_updated: 6, rows_deleted: 0 },
  append: { rows_created: 5, rows_updated: 0, rows_deleted: 0 },
};

/** The model's rows now (text values), keyed by id. */
export async function modelNow(table: string): Promise<Rows> {
  const rows = await customers(table);
  return Object.fromEntries(
    rows.map((r) => [String(r.id), { email: text(r.email), name: text(r.name), plan: text(r.plan), score: text(r.score) }]),
  );
}

/** What the destination holds after the initial rows, then the changes to `after`, in `mode` (the design's table). */
export function expectedRows(mode: Mode, before: Rows, after: Rows): Rows {
  if (mode === "mirror") return after;
  const out: Rows = { ...before };
  for (const [key, row] of Object.entries(after)) {
    // upsert: new and changed rows; append: new rows only; update: changed rows the destination
    // holds. None deletes.
    if (mode === "upsert" || (mode === "append" && !(key in before)) || (mode === "update" && key in before)) out[key] = row;
  }
  return out;
}

// ---- sources, models, destinations and syncs through the API ----

/** A source and a model over a customers table (id, email, name, plan, score). */
export async function modelOf(table: string): Promise<string> {
  const sourceId = await createSource();
  const model = await api.post("/api/v1/models", {
    body: { name: table, source_id: sourceId, sql: `SELECT id, email, name, plan, score FROM ${table}`, primary_key: "id" },
  });
  expectStatus(model, 201);
  return model.body.id;
}

/** Creates a destination through the API and returns its id. */
export async function createDestination(body: Record<string, unknown>): Promise<string> {
  const res = await api.post("/api/v1/destinations", { body: { name: "destination", ...body } });
  expectStatus(res, 201);
  return res.body.id;
}

/** A manual sync (unless `extra` says otherwise) of the model to the destination. */
export async function createSync(
  modelId: string,
  destinationId: string,
  mode: Mode,
  fields: { email: string; name: string; plan: string; score: string },
  extra: Record<string, unknown> = {},
): Promise<string> {
  const res = await api.post("/api/v1/syncs", {
    body: {
      name: `sync ${mode}`,
      model_id: modelId,
      destination_id: destinationId,
      mode,
      schedule: { type: "manual" },
      field_mappings: (["email", "name", "plan", "score"] as const).map((source) => ({ source, destination: fields[source] })),
      ...extra,
    },
  });
  expectStatus(res, 201);
  return res.body.id;
}

/** The webhook mapping of the customers' columns. */
export const WEBHOOK_FIELDS = { email: "Email", name: "Name", plan: "Plan", score: "Score" };

interface SyncFixture {
  syncId: string;
  table: string;
  /** Name of this sync's endpoint on the webhook receiver. */
  endpoint: string;
}

/** Optional parts of a {@link webhookSync}. */
interface WebhookSyncOptions {
  /** More fields of the sync's body (e.g. a schedule). */
  sync?: Record<string, unknown>;
  /** More fields of the webhook destination's config (batch size, timeout, rate limit). */
  destination?: Record<string, unknown>;
  /** The receiver endpoint's name (default: the table's). */
  endpoint?: string;
}

/** A source, a model over `table`, a webhook destination on the receiver and a manual sync in `mode`. */
export async function webhookSync(table: string, mode: Mode, options: WebhookSyncOptions = {}): Promise<SyncFixture> {
  const modelId = await modelOf(table);
  const endpoint = options.endpoint ?? table;
  const destinationId = await createDestination({
    name: "receiver",
    type: "webhook",
    config: { url: webhookUrl(endpoint), batch_size: 250, ...options.destination },
  });
  const syncId = await createSync(modelId, destinationId, mode, WEBHOOK_FIELDS, { name: `sync ${table}`, ...options.sync });
  return { syncId, table, endpoint };
}

// ---- runs ----

export const stubOf = (syncId: string) => env.SYNC.get(env.SYNC.idFromName(syncId));

const FINAL = ["succeeded", "partial", "failed", "cancelled"];

/**
 * Polls the run until it is final, nudging the sync's alarm so steps do not wait for the scheduler.
 * (A loop rather than expect.poll, which concurrent tests cannot use.)
 */
export async function waitForRun(syncId: string, runId: string, opts: { token?: string; timeoutMs?: number } = {}): Promise<Run> {
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const deadline = Date.now() + timeoutMs;
  let run: Run | undefined;
  while (Date.now() < deadline) {
    await runDurableObjectAlarm(stubOf(syncId));
    const res = await api.get(`/api/v1/syncs/${syncId}/runs/${runId}`, { token: opts.token ?? ADMIN });
    expectStatus(res, 200);
    run = res.body;
    if (FINAL.includes(run.status)) return run;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${runId} not final after ${timeoutMs} ms: ${JSON.stringify(run)}`);
}

/** Triggers a run; its id. */
export async function triggerRun(syncId: string, body?: Record<string, unknown>): Promise<string> {
  const res = await api.post(`/api/v1/syncs/${syncId}/trigger`, body ? { body } : {});
  expectStatus(res, 202);
  return res.body.id;
}

/** Triggers a run and waits for its end. */
export async function runSync(syncId: string, body?: Record<string, unknown>): Promise<Run> {
  return waitForRun(syncId, await triggerRun(syncId, body));
}

/*
 * Kills (abortAllDurableObjects: every object of the isolate loses its memory, storage and alarms
 * stay), so a test file using them runs its tests one at a time.
 */

/** Triggers a run, kills the sync's object after each of its first `kills` steps, then lets the run finish. */
export async function runKilledBetweenSteps(syncId: string, kills = 8): Promise<Run> {
  const runId = await triggerRun(syncId);
  for (let i = 0; i < kills; i++) {
    await runDurableObjectAlarm(stubOf(syncId));
    await abortAllDurableObjects();
  }
  return waitForRun(syncId, runId);
}

/** Triggers a run, kills the sync's object a few times while a step is under way, then lets the run finish. */
export async function runKilledInSteps(syncId: string): Promise<Run> {
  const runId = await triggerRun(syncId);
  for (const ms of [5, 30, 60, 120, 10, 250]) {
    const step = runDurableObjectAlarm(stubOf(syncId)).catch(() => false);
    await new Promise((r) => setTimeout(r, ms));
    await abortAllDurableObjects();
    await step;
  }
  return waitForRun(syncId, runId);
}

/** Every failed row of a run, all pages. */
export async function runErrors(syncId: string, runId: string): Promise<RowError[]> {
  const out: RowError[] = [];
  let cursor: string | null = null;
  do {
    const res: ApiResult<Page<RowError>> = await api.get(
      `/api/v1/syncs/${syncId}/runs/${runId}/errors?limit=200${cursor ? `&cursor=${cursor}` : ""}`,
    );
    expectStatus(res, 200);
    out.push(...res.body.data);
    cursor = res.body.next_cursor;
  } while (cursor);
  return out;
}

// ---- the fake webhook receiver (test/servers/webhook-receiver.ts) ----

/** URL of the receiver endpoint `name` (the webhook destination's `url`). */
export const webhookUrl = (name: string) => `${env.WEBHOOK_RECEIVER_URL}/hook/${name}`;

/** Replaces the endpoint's config (its rows stay). */
export async function configureWebhook(name: string, config: WebhookConfig): Promise<void> {
  const res = await fetch(`${env.WEBHOOK_RECEIVER_URL}/config/${name}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(config),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  await res.body?.cancel();
}

/** What the endpoint holds and saw; `bodies` adds the request bodies it kept (`keep_bodies`). */
export async function webhookState(name: string, bodies = false): Promise<ReceiverState> {
  const res = await fetch(`${env.WEBHOOK_RECEIVER_URL}/state/${name}${bodies ? "?bodies=1" : ""}`);
  expect(res.status).toBe(200);
  return (await res.json()) as ReceiverState;
}

/** The endpoint's rows in the common shape (the webhook mapping is {@link WEBHOOK_FIELDS}). */
export function webhookRows(state: ReceiverState): Rows {
  return Object.fromEntries(
    Object.entries(state.rows).map(([k, r]) => [k, { email: text(r.Email), name: text(r.Name), plan: text(r.Plan), score: text(r.Score) }]),
  );
}

/** Most requests the receiver saw arrive within any window of `windowMs` (its own arrival timestamps). */
export function peakPerWindow(state: ReceiverState, windowMs: number): number {
  const arrivals = state.deliveries.map((d) => d.at).sort((a, b) => a - b);
  let peak = 0;
  for (let i = 0, j = 0; i < arrivals.length; i++) {
    const start = arrivals[i] ?? 0;
    while (j < arrivals.length && (arrivals[j] ?? 0) < start + windowMs) j++;
    peak = Math.max(peak, j - i);
  }
  return peak;
}
