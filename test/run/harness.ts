import { env } from "cloudflare:workers";
import { runDurableObjectAlarm } from "cloudflare:test";
import { expect } from "vitest";
import { closePostgres, connectPostgres } from "../../src/sources/postgres/connection";
import { call, createSource, expectStatus, WAREHOUSE_URL } from "../harness";

const opts = { statementTimeoutMs: 30_000, allowPrivate: true };

/** Runs SQL on the test warehouse (setup only: models themselves are read-only). */
export async function pg(sql: string, params: unknown[] = []): Promise<void> {
  const client = await connectPostgres(WAREHOUSE_URL, opts);
  try {
    await client.query(sql, params);
  } finally {
    await closePostgres(client);
  }
}

/** A fresh warehouse table of `rows` customers: id, email, name, plan. */
export async function customersTable(rows: number): Promise<string> {
  const table = `run_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await pg(`CREATE TABLE ${table} (id text PRIMARY KEY, email text, name text, plan text, score int)`);
  await pg(
    `INSERT INTO ${table} SELECT g::text, 'user' || g || '@example.com', 'Name ' || g, CASE WHEN g % 3 = 0 THEN 'pro' ELSE 'free' END, g FROM generate_series(1, $1) g`,
    [rows],
  );
  return table;
}

export interface SyncFixture {
  syncId: string;
  table: string;
  /** Name of this sync's endpoint on the webhook receiver. */
  endpoint: string;
}

/** Optional parts of a {@link webhookSync}. */
export interface WebhookSyncOptions {
  /** More fields of the sync's body (e.g. a schedule). */
  sync?: Record<string, unknown>;
  /** More fields of the webhook destination's config (batch size, timeout, rate limit). */
  destination?: Record<string, unknown>;
  /** The receiver endpoint's name (default: the table's). */
  endpoint?: string;
}

/** A source, a model over `table`, a webhook destination on the receiver and a manual sync in `mode`. */
export async function webhookSync(
  table: string,
  mode: "upsert" | "mirror" | "append",
  options: WebhookSyncOptions = {},
): Promise<SyncFixture> {
  const sourceId = await createSource();
  const model = await call("POST", "/api/v1/models", {
    body: { name: table, source_id: sourceId, sql: `SELECT id, email, name, plan, score FROM ${table}`, primary_key: "id" },
  });
  expectStatus(model, 201);
  const endpoint = options.endpoint ?? table;
  const destination = await call("POST", "/api/v1/destinations", {
    body: {
      name: "receiver",
      type: "webhook",
      config: { url: `${env.WEBHOOK_RECEIVER_URL}/hook/${endpoint}`, batch_size: 250, ...options.destination },
    },
  });
  expectStatus(destination, 201);
  const sync = await call("POST", "/api/v1/syncs", {
    body: {
      name: `sync ${table}`,
      model_id: model.body.id,
      destination_id: destination.body.id,
      mode,
      schedule: { type: "manual" },
      field_mappings: [
        { source: "email", destination: "Email" },
        { source: "name", destination: "Name" },
        { source: "plan", destination: "Plan" },
        { source: "score", destination: "Score" },
      ],
      ...options.sync,
    },
  });
  expectStatus(sync, 201);
  return { syncId: sync.body.id, table, endpoint };
}

export const stubOf = (syncId: string) => env.SYNC.get(env.SYNC.idFromName(syncId));

/** Polls the run until it is final; nudges the object's alarm so steps do not wait for the scheduler. */
export async function waitForRun(syncId: string, runId: string, timeout = 60_000) {
  let run: { status: string } & Record<string, any> = { status: "queued" };
  await expect
    .poll(
      async () => {
        await runDurableObjectAlarm(stubOf(syncId));
        run = (await call("GET", `/api/v1/syncs/${syncId}/runs/${runId}`)).body;
        return run.status;
      },
      { timeout, interval: 200 },
    )
    .toMatch(/^(succeeded|partial|failed|cancelled)$/);
  return run;
}

/** Triggers a run and waits for its end. */
export async function runSync(syncId: string, body?: Record<string, unknown>) {
  const res = await call("POST", `/api/v1/syncs/${syncId}/trigger`, body ? { body } : {});
  expectStatus(res, 202);
  return waitForRun(syncId, res.body.id);
}

export interface ReceiverState {
  rows: Record<string, Record<string, unknown>>;
  requests: number;
  operations: number;
  creates: Record<string, number>;
  batch_ids: string[];
}

export async function receiver(endpoint: string): Promise<ReceiverState> {
  const res = await fetch(`${env.WEBHOOK_RECEIVER_URL}/state/${endpoint}`);
  return (await res.json()) as ReceiverState;
}

export async function configureReceiver(endpoint: string, config: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${env.WEBHOOK_RECEIVER_URL}/config/${endpoint}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(config),
  });
  expect(res.status).toBe(200);
}

/** The model's rows as the destination should hold them. */
export async function modelRows(table: string): Promise<Record<string, Record<string, unknown>>> {
  const client = await connectPostgres(WAREHOUSE_URL, opts);
  try {
    const result = await client.query<{ id: string; email: string | null; name: string | null; plan: string | null; score: number | null }>(
      `SELECT id, email, name, plan, score FROM ${table} WHERE id IS NOT NULL`,
    );
    return Object.fromEntries(result.rows.map((r) => [r.id, { Email: r.email, Name: r.name, Plan: r.plan, Score: r.score }]));
  } finally {
    await closePostgres(client);
  }
}
