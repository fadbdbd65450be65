import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { closePostgres, connectPostgres } from "../../src/sources/postgres/connection";
import type { SinkConfig, SinkRequest } from "../servers/delivery-sink-types";
import { call, createSource, expectStatus, WAREHOUSE_URL, type CallResult } from "../harness";
import { pg, stubOf } from "../run/harness";

/** A model row as every destination should hold it, values as text (HubSpot stores strings). */
export type Row = { email: string | null; name: string | null; plan: string | null; score: string | null };
export type Rows = Record<string, Row>;
export type Mode = "upsert" | "mirror" | "append";

/** A unique lower-case name for a sink endpoint, fake org/portal or table. */
export const uniqueName = (prefix: string) => `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;

const text = (v: unknown): string | null => (v === null || v === undefined || v === "" ? null : String(v));

/** The model's rows now (text values), keyed by id. */
export async function modelNow(table: string): Promise<Rows> {
  const client = await connectPostgres(WAREHOUSE_URL, { statementTimeoutMs: 30_000, allowPrivate: true });
  try {
    const result = await client.query<Record<string, unknown>>(`SELECT id, email, name, plan, score FROM ${table}`);
    return Object.fromEntries(
      result.rows.map((r) => [String(r.id), { email: text(r.email), name: text(r.name), plan: text(r.plan), score: text(r.score) }]),
    );
  } finally {
    await closePostgres(client);
  }
}

/** What the destination holds after the initial rows, then the changes to `after`, in `mode` (the design's table). */
export function expectedRows(mode: Mode, before: Rows, after: Rows): Rows {
  if (mode === "mirror") return after;
  const out: Rows = { ...before };
  for (const [key, row] of Object.entries(after)) {
    // upsert: new and changed rows; append: new rows only. Neither deletes.
    if (mode === "upsert" || !(key in before)) out[key] = row;
  }
  return out;
}

/** Inserts 5 rows, updates 6 and deletes 4 of a table made by customersTable(n) (n ≥ 40). */
export async function changeModel(table: string, n: number): Promise<void> {
  await pg(
    `INSERT INTO ${table} SELECT g::text, 'new' || g || '@example.com', 'New ' || g, 'free', g FROM generate_series(${n + 1}, ${n + 5}) g`,
  );
  await pg(`UPDATE ${table} SET plan = 'enterprise', score = score + 1000 WHERE id::int BETWEEN 11 AND 16`);
  await pg(`DELETE FROM ${table} WHERE id::int BETWEEN 31 AND 34`);
}

/** A source and a model over a customers table (id, email, name, plan, score). */
export async function modelOf(table: string): Promise<string> {
  const sourceId = await createSource();
  const model = await call("POST", "/api/v1/models", {
    body: { name: table, source_id: sourceId, sql: `SELECT id, email, name, plan, score FROM ${table}`, primary_key: "id" },
  });
  expectStatus(model, 201);
  return model.body.id;
}

/** Creates a destination through the API and returns its id. */
export async function createDestination(body: Record<string, unknown>): Promise<string> {
  const res = await call("POST", "/api/v1/destinations", { body: { name: "destination", ...body } });
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
  const res = await call("POST", "/api/v1/syncs", {
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

/** A run as the API returns it. */
export type Run = {
  id: string;
  status: string;
  error: { code: string; message: string } | null;
  progress: Record<string, number>;
} & Record<string, any>;

/**
 * Polls the run until it is final, nudging the sync's alarm so steps do not wait for the scheduler.
 * (Like test/run/harness.ts's waitForRun, without expect.poll, which concurrent tests cannot use.)
 */
export async function waitForRun(syncId: string, runId: string, timeoutMs = 90_000): Promise<Run> {
  const deadline = Date.now() + timeoutMs;
  let run: Run | undefined;
  while (Date.now() < deadline) {
    await runDurableObjectAlarm(stubOf(syncId));
    const res = await call<Run>("GET", `/api/v1/syncs/${syncId}/runs/${runId}`);
    expectStatus(res, 200);
    run = res.body;
    if (["succeeded", "partial", "failed", "cancelled"].includes(run.status)) return run;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`run ${runId} not final after ${timeoutMs} ms: ${JSON.stringify(run)}`);
}

/** Triggers a run and waits for its end. */
export async function runSync(syncId: string, body?: Record<string, unknown>): Promise<Run> {
  const res = await call("POST", `/api/v1/syncs/${syncId}/trigger`, body ? { body } : {});
  expectStatus(res, 202);
  return waitForRun(syncId, res.body.id);
}

// ---- the delivery sink (test/servers/delivery-sink.ts) ----

export interface SinkState {
  rows: Record<string, Record<string, unknown>>;
  creates: Record<string, number>;
  requests: SinkRequest[];
}

/** URL of the sink endpoint `name` (the webhook destination's `url`). */
export const sinkUrl = (name: string) => `${env.DELIVERY_SINK_URL}/hook/${name}`;

export async function configureSink(name: string, config: SinkConfig): Promise<void> {
  const res = await fetch(`${env.DELIVERY_SINK_URL}/config/${name}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(config),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  await res.body?.cancel();
}

export async function sinkState(name: string, bodies = false): Promise<SinkState> {
  const res = await fetch(`${env.DELIVERY_SINK_URL}/state/${name}${bodies ? "?bodies=1" : ""}`);
  expect(res.status).toBe(200);
  return (await res.json()) as SinkState;
}

/** The sink's rows in the common shape (the webhook mapping is Email, Name, Plan, Score). */
export function sinkRows(state: SinkState): Rows {
  return Object.fromEntries(
    Object.entries(state.rows).map(([k, r]) => [k, { email: text(r.Email), name: text(r.Name), plan: text(r.Plan), score: text(r.Score) }]),
  );
}

export const WEBHOOK_FIELDS = { email: "Email", name: "Name", plan: "Plan", score: "Score" };

export interface RowError {
  primary_key: string | null;
  operation: string;
  message: string;
}

/** Every failed row of a run, all pages. */
export async function runErrors(syncId: string, runId: string): Promise<RowError[]> {
  const out: RowError[] = [];
  let cursor: string | null = null;
  do {
    const res: CallResult<{ data: RowError[]; next_cursor: string | null }> = await call(
      "GET",
      `/api/v1/syncs/${syncId}/runs/${runId}/errors?limit=200${cursor ? `&cursor=${cursor}` : ""}`,
    );
    expectStatus(res, 200);
    out.push(...res.body.data);
    cursor = res.body.next_cursor;
  } while (cursor);
  return out;
}
