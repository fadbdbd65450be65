// Over 400 lines: one operation per describe block of the syncs API (create, update, lifecycle, runs, triggers, cancel), sharing its fixtures.
/** The syncs API: create, update, lifecycle, runs and trigger webhooks. Over 400 lines: one file per resource, like the other API tests. */
import { env } from "cloudflare:workers";
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type ApiResult,
  api,
  expectError,
  expectStatus,
  newWorkspace,
  seedModelAndDestination,
  syncBody,
  tokenFor,
  type Run,
} from "../harness";
import { hmacSha256Hex } from "../../src/lib/crypto";
import type { SyncObject } from "../../durable-objects/sync-object";

const stubOf = (id: string) => env.SYNC.get(env.SYNC.idFromName(id));
const alarmOf = (id: string) => runInDurableObject(stubOf(id), (_o, state) => state.storage.getAlarm());

/**
 * Routes every D1 statement of this isolate (the Worker's and the objects') through `handle`
 * until the returned function is called: `statement()` runs it as usual (its result settles
 * when the statement ran), throwing or delaying stands for a D1 outage or a slow write.
 */
function interceptD1(handle: (query: string, statement: () => Promise<unknown>) => Promise<unknown>): () => void {
  const d1 = Object.getPrototypeOf(env.DB) as D1Database;
  const prepare = d1.prepare;
  d1.prepare = function (this: D1Database, query: string) {
    return gated(prepare.call(this, query), query, handle);
  };
  return () => {
    d1.prepare = prepare;
  };
}

/** A prepared statement whose executions go through `handle`. */
function gated(statement: D1PreparedStatement, query: string, handle: Parameters<typeof interceptD1>[0]): D1PreparedStatement {
  return new Proxy(statement, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      if (prop === "bind") return (...args: unknown[]) => gated(target.bind(...args), query, handle);
      if (prop === "run" || prop === "all" || prop === "raw" || prop === "first") {
        return (...args: unknown[]) => handle(query, () => Promise.resolve((value as (...a: unknown[]) => unknown).apply(target, args)));
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

let ids: { modelId: string; destinationId: string };
beforeAll(async () => {
  ids = await seedModelAndDestination();
});

async function createSync(extra: Record<string, unknown> = {}, token?: string, seeded = ids) {
  const res = await api.post("/api/v1/syncs", { body: syncBody(seeded, extra), token });
  expectStatus(res, 201);
  return res.body;
}

describe("POST /api/v1/syncs", () => {
  it("creates a sync in `created` with its interval schedule armed", async () => {
    const before = Date.now();
    const sync = await createSync();
    expect(sync.id).toMatch(/^syn_[0-9a-z]{26}$/);
    expect(sync).toMatchObject({ status: "created", mode: "upsert", status_reason: null, last_run: null, mass_delete_threshold_pct: 50 });
    const next = Date.parse(sync.next_run_at ?? "");
    expect(next).toBeGreaterThanOrEqual(before + 60 * 60_000);
    expect(next).toBeLessThanOrEqual(Date.now() + 60 * 60_000);
    expect(await alarmOf(sync.id)).toBe(next);
    expect(sync.trigger_url).toMatch(new RegExp(`/api/v1/hooks/syncs/${sync.id}/[\\w-]{20,}$`));
    const again = await api.get(`/api/v1/syncs/${sync.id}`);
    expect(again.body.trigger_url.endsWith("/****")).toBe(true);
  });

  it("arms a cron schedule at the next 06:00 Berlin time", async () => {
    const sync = await createSync({ schedule: { type: "cron", expression: "0 6 * * *", timezone: "Europe/Berlin" } });
    const at = new Date(sync.next_run_at ?? "");
    const berlin = new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/Berlin", hour: "2-digit", minute: "2-digit" }).format(at);
    expect(berlin).toBe("06:00");
    expect(await alarmOf(sync.id)).toBe(at.getTime());
  });

  it("creates paused or manual syncs without an alarm", async () => {
    const paused = await createSync({ paused: true });
    expect(paused.status).toBe("paused");
    expect(paused.next_run_at).toBeNull();
    expect(await alarmOf(paused.id)).toBeNull();
    const manual = await createSync({ schedule: { type: "manual" } });
    expect(manual.next_run_at).toBeNull();
    expect(await alarmOf(manual.id)).toBeNull();
  });

  it("names each bad field", async () => {
    const bad = (extra: Record<string, unknown>) => api.post("/api/v1/syncs", { body: syncBody(ids, extra) });
    expectError(await bad({ field_mappings: [{ source: "nope", destination: "X" }] }), 400, "validation_failed", "field_mappings.0.source");
    expectError(
      await bad({
        field_mappings: [
          { source: "email", destination: "X" },
          { source: "plan", destination: "X" },
        ],
      }),
      400,
      "validation_failed",
      "field_mappings.1.destination",
    );
    expectError(await bad({ field_mappings: [] }), 400, "validation_failed", "field_mappings");
    expectError(
      await bad({ schedule: { type: "cron", expression: "0 25 * * *", timezone: "UTC" } }),
      400,
      "validation_failed",
      "schedule.expression",
    );
    expectError(
      await bad({ schedule: { type: "cron", expression: "0 6 * * *", timezone: "Mars/Base" } }),
      400,
      "validation_failed",
      "schedule.timezone",
    );
    expectError(await bad({ schedule: { type: "interval", interval_minutes: 0 } }), 400, "validation_failed", "schedule.interval_minutes");
    expectError(await bad({ schedule: { type: "hourly" } }), 400, "validation_failed", "schedule.type");
    expectError(await bad({ mode: "merge" }), 400, "validation_failed", "mode");
    expectError(await bad({ model_id: "mod_missing" }), 400, "validation_failed", "model_id");
    expectError(await bad({ destination_id: "dst_missing" }), 400, "validation_failed", "destination_id");
    expectError(await bad({ name: 42 }), 400, "validation_failed", "name");
    const unknown = await bad({ colour: "red" });
    expectError(unknown, 400, "validation_failed");
    expect(JSON.stringify(unknown.error?.details)).toContain("colour");
    expectError(await api.post("/api/v1/syncs", { raw: "[1,2" }), 400, "bad_request");
  });

  it("does not let a workspace use another workspace's model", async () => {
    const other = await newWorkspace();
    const res = await api.post("/api/v1/syncs", { body: syncBody(ids), token: other.token });
    expectError(res, 400, "validation_failed", "model_id");
  });
});

describe("GET/PUT /api/v1/syncs", () => {
  it("lists newest first, hides archived unless asked, and filters by status", async () => {
    const { workspaceId, token } = await newWorkspace();
    const seeded = await seedModelAndDestination(workspaceId);
    const a = await createSync({}, token, seeded);
    const b = await createSync({ paused: true }, token, seeded);
    expectStatus(await api.delete(`/api/v1/syncs/${a.id}`, { token }), 200);
    const list = await api.get("/api/v1/syncs", { token });
    expect(list.body.data.map((s) => s.id)).toEqual([b.id]);
    const archived = await api.get("/api/v1/syncs?status=archived", { token });
    expect(archived.body.data.map((s) => s.id)).toEqual([a.id]);
    expectError(await api.get("/api/v1/syncs?status=gone", { token }), 400, "validation_failed", "status");
    expectError(await api.get("/api/v1/syncs?limit=0", { token }), 400, "validation_failed", "limit");
  });

  it("filters by model and destination, alone, together and with a status and a cursor", async () => {
    const { workspaceId, token } = await newWorkspace();
    const one = await seedModelAndDestination(workspaceId);
    const two = await seedModelAndDestination(workspaceId);
    const a = await createSync({}, token, one);
    const b = await createSync({}, token, { modelId: one.modelId, destinationId: two.destinationId });
    const c = await createSync({ paused: true }, token, two);
    const d = await createSync({}, token, one);
    const ids = async (query: string) => {
      const res = await api.get(`/api/v1/syncs?${query}` as "/api/v1/syncs", { token });
      expectStatus(res, 200);
      return res.body.data.map((s) => s.id);
    };
    expect(await ids(`model_id=${one.modelId}`)).toEqual([d.id, b.id, a.id]);
    expect(await ids(`destination_id=${two.destinationId}`)).toEqual([c.id, b.id]);
    expect(await ids(`model_id=${one.modelId}&destination_id=${one.destinationId}`)).toEqual([d.id, a.id]);
    expect(await ids(`model_id=${two.modelId}&status=paused`)).toEqual([c.id]);
    expect(await ids(`model_id=${two.modelId}&status=active`)).toEqual([]);
    expect(await ids(`model_id=${one.modelId}&cursor=${d.id}&limit=1`)).toEqual([b.id]);
    // Every field of the answer comes from its own column, decoded (JSON, integers).
    const [listed] = (await api.get(`/api/v1/syncs?destination_id=${two.destinationId}&status=paused`, { token })).body.data;
    const fetched = (await api.get(`/api/v1/syncs/${c.id}`, { token })).body;
    expect(listed).toEqual(fetched);
    expect(listed).toMatchObject({
      id: c.id,
      status: "paused",
      model_id: two.modelId,
      schedule: { type: "interval", interval_minutes: 60 },
    });
    expect(listed?.field_mappings).toEqual(syncBody(two).field_mappings);
  });

  it("updates fields, re-checks mappings and re-arms a changed schedule", async () => {
    const sync = await createSync();
    const res = await api.put(`/api/v1/syncs/${sync.id}`, {
      body: { name: "renamed", mode: "mirror", schedule: { type: "interval", interval_minutes: 5 } },
    });
    expectStatus(res, 200);
    expect(res.body).toMatchObject({ name: "renamed", mode: "mirror", schedule: { type: "interval", interval_minutes: 5 } });
    expect(Date.parse(res.body.next_run_at ?? "")).toBeLessThanOrEqual(Date.now() + 5 * 60_000);
    expect(await alarmOf(sync.id)).toBe(Date.parse(res.body.next_run_at ?? ""));
    expectError(
      await api.put(`/api/v1/syncs/${sync.id}`, { body: { field_mappings: [{ source: "missing", destination: "A" }] } }),
      400,
      "validation_failed",
      "field_mappings.0.source",
    );
    expectError(await api.put(`/api/v1/syncs/${sync.id}`, { body: { status: "active" } }), 400, "validation_failed");
    expectError(await api.put("/api/v1/syncs/syn_nope", { body: { name: "x" } }), 404, "not_found");
  });
});

describe("sync lifecycle over the API", () => {
  it("pauses, resumes, archives and restores, arming and clearing the alarm", async () => {
    const sync = await createSync();
    const paused = await api.post(`/api/v1/syncs/${sync.id}/pause`);
    expectStatus(paused, 200);
    expect(paused.body).toMatchObject({ status: "paused", next_run_at: null });
    expect(await alarmOf(sync.id)).toBeNull();

    const again = await api.post(`/api/v1/syncs/${sync.id}/pause`);
    expectError(again, 409, "conflict");
    expect(again.error?.details).toMatchObject({ status: "paused" });

    const resumed = await api.post(`/api/v1/syncs/${sync.id}/resume`);
    expect(resumed.body.status).toBe("active");
    expect(await alarmOf(sync.id)).toBe(Date.parse(resumed.body.next_run_at ?? ""));

    const archived = await api.delete(`/api/v1/syncs/${sync.id}`);
    expect(archived.body).toMatchObject({ status: "archived", next_run_at: null });
    expect(await alarmOf(sync.id)).toBeNull();
    expectError(await api.post(`/api/v1/syncs/${sync.id}/resume`), 409, "conflict");
    expectError(await api.post(`/api/v1/syncs/${sync.id}/trigger`), 409, "conflict");
    expectError(await api.put(`/api/v1/syncs/${sync.id}`, { body: { name: "x" } }), 409, "conflict");

    const restored = await api.post(`/api/v1/syncs/${sync.id}/restore`);
    expect(restored.body).toMatchObject({ status: "paused", next_run_at: null });
    expectError(await api.post(`/api/v1/syncs/${sync.id}/restore`), 409, "conflict");
  });

  it("deletes permanently: the sync, its runs and its snapshots", async () => {
    const sync = await createSync();
    const run = await api.post(`/api/v1/syncs/${sync.id}/trigger`);
    expectStatus(run, 202);
    await env.SNAPSHOTS.put(`syncs/${sync.id}/snapshot/part-0`, "x");
    expectStatus(await api.delete(`/api/v1/syncs/${sync.id}?permanent=true`), 204);
    expectError(await api.get(`/api/v1/syncs/${sync.id}`), 404, "not_found");
    expect((await env.SNAPSHOTS.list({ prefix: `syncs/${sync.id}/` })).objects).toHaveLength(0);
    const runs = await env.DB.prepare("SELECT count(*) AS n FROM sync_runs WHERE sync_id = ?").bind(sync.id).first<{ n: number }>();
    expect(runs?.n).toBe(0);
    expect(await alarmOf(sync.id)).toBeNull();
  });
});

describe("runs and triggers", () => {
  it("answers 202 with a queued manual run and coalesces triggers during a run", async () => {
    const sync = await createSync();
    const first = await api.post(`/api/v1/syncs/${sync.id}/trigger`);
    expectStatus(first, 202);
    expect(first.body).toMatchObject({ status: "queued", trigger: "manual", sync_id: sync.id, phase: "queued" });
    expect(first.body.id).toMatch(/^run_/);
    const second = await api.post(`/api/v1/syncs/${sync.id}/trigger`, { body: { full_resync: true } });
    const third = await api.post(`/api/v1/syncs/${sync.id}/trigger`);
    expect(second.body.id).not.toBe(first.body.id);
    expect(third.body.id).toBe(second.body.id);
    expect(third.body.options).toEqual({ full_resync: true });
    // A trigger during a run names the run in flight, its phase and age.
    expect(first.body.in_flight).toBeUndefined();
    expect(third.body.in_flight, JSON.stringify(third.body)).toMatchObject({ run_id: first.body.id, phase: "queued" });
    expect(third.body.in_flight?.age_seconds).toBeGreaterThanOrEqual(0);
    const state = await stubOf(sync.id).describe();
    expect(state.current?.id).toBe(first.body.id);
    expect(state.queued?.id).toBe(second.body.id);
    // The run is handed to the object's run loop: its alarm is due now.
    expect(await alarmOf(sync.id)).toBeLessThanOrEqual(Date.now());

    const runs = await api.get(`/api/v1/syncs/${sync.id}/runs`);
    expect(runs.body.data.map((r) => r.id)).toEqual([second.body.id, first.body.id]);
    const one = await api.get(`/api/v1/syncs/${sync.id}/runs/${first.body.id}`);
    expect(one.body.id).toBe(first.body.id);
    expectError(await api.get(`/api/v1/syncs/${sync.id}/runs/run_nope`), 404, "not_found");
    const errors = await api.get(`/api/v1/syncs/${sync.id}/runs/${first.body.id}/errors`);
    expect(errors.body).toEqual({ data: [], next_cursor: null });
  });

  it("cancels a queued run at once, answers 409 once it has ended and 404 for an unknown run", async () => {
    const sync = await createSync();
    expect(sync.max_run_minutes, "the default time limit").toBe(360);
    const first = await api.post(`/api/v1/syncs/${sync.id}/trigger`);
    const queued = await api.post(`/api/v1/syncs/${sync.id}/trigger`);
    const cancel = await api.post(`/api/v1/syncs/${sync.id}/runs/${queued.body.id}/cancel`);
    expectStatus(cancel, 202);
    expect(cancel.body).toMatchObject({ id: queued.body.id, status: "cancelled", phase: "done", error: { code: "cancelled" } });
    expect((await api.get(`/api/v1/syncs/${sync.id}/runs/${queued.body.id}`)).body.status).toBe("cancelled");
    expect((await stubOf(sync.id).describe()).queued).toBeNull();
    const again = expectError(await api.post(`/api/v1/syncs/${sync.id}/runs/${queued.body.id}/cancel`), 409, "conflict");
    expect(again.message).toContain("already ended");
    expectError(await api.post(`/api/v1/syncs/${sync.id}/runs/run_nope/cancel`), 404, "not_found");
    // The run in flight, not yet started, ends at once too.
    const current = await api.post(`/api/v1/syncs/${sync.id}/runs/${first.body.id}/cancel`);
    expectStatus(current, 202);
    expect(current.body).toMatchObject({ status: "cancelled" });
    expect(await stubOf(sync.id).describe()).toMatchObject({ current: null, queued: null });
  });

  it("validates max_run_minutes (1 to 10080)", async () => {
    for (const bad of [0, 10_081, 1.5, "60"]) {
      expectError(
        await api.post("/api/v1/syncs", { body: syncBody(ids, { max_run_minutes: bad }) }),
        400,
        "validation_failed",
        "max_run_minutes",
      );
    }
    const sync = await createSync({ max_run_minutes: 10_080 });
    expect(sync.max_run_minutes).toBe(10_080);
  });

  it("validates the trigger body", async () => {
    const sync = await createSync();
    expectError(
      await api.post(`/api/v1/syncs/${sync.id}/trigger`, { body: { full_resync: "yes" } }),
      400,
      "validation_failed",
      "full_resync",
    );
    expectError(await api.post(`/api/v1/syncs/${sync.id}/trigger`, { body: { now: true } }), 400, "validation_failed");
  });

  it("replays a trigger sent twice with one Idempotency-Key", async () => {
    const sync = await createSync();
    const headers = { "idempotency-key": crypto.randomUUID() };
    const a = await api.post(`/api/v1/syncs/${sync.id}/trigger`, { headers });
    const b = await api.post(`/api/v1/syncs/${sync.id}/trigger`, { headers });
    expect(b.body.id).toBe(a.body.id);
    const state = await stubOf(sync.id).describe();
    expect(state.queued).toBeNull();
  });

  it("starts a due scheduled run from the alarm, once for many missed ticks", async () => {
    const sync = await createSync({ schedule: { type: "interval", interval_minutes: 1 } });
    const stub = stubOf(sync.id);
    // The object slept through ten ticks.
    await runInDurableObject(stub, (_o, state) => {
      const s = state.storage.kv.get<Record<string, unknown>>("sync");
      state.storage.kv.put("sync", { ...s, nextRunAt: Date.now() - 10 * 60_000 });
    });
    await evictDurableObject(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const runs = await api.get(`/api/v1/syncs/${sync.id}/runs`);
    expect(runs.body.data).toHaveLength(1);
    expect(runs.body.data[0]?.trigger).toBe("schedule");
    const after = await api.get(`/api/v1/syncs/${sync.id}`);
    expect(Date.parse(after.body.next_run_at ?? "")).toBeGreaterThan(Date.now());
    expect(after.body.last_run?.id).toBe(runs.body.data[0]?.id);
  });

  it("keeps an alarm and starts exactly one run when a schedule tick's D1 writes fail", async () => {
    const sync = await createSync({ schedule: { type: "interval", interval_minutes: 1 } });
    const stub = stubOf(sync.id);
    await runInDurableObject(stub, (_o, state) => {
      const s = state.storage.kv.get<Record<string, unknown>>("sync");
      state.storage.kv.put("sync", { ...s, nextRunAt: Date.now() - 60_000 });
    });
    await evictDurableObject(stub);
    // D1 refuses every write to sync_runs and syncs during the tick.
    const restore = interceptD1((query, statement) => {
      if (/^(insert into|update) "(sync_runs|syncs)"/i.test(query)) throw new Error("injected: D1 unavailable");
      return statement();
    });
    try {
      await runDurableObjectAlarm(stub).catch(() => false);
    } finally {
      restore();
    }
    // The pass failed, yet an alarm is left to retry it (were the runtime's own retries to run out).
    expect(await alarmOf(sync.id)).not.toBeNull();
    await evictDurableObject(stub);
    for (let i = 0; i < 3; i++) await runDurableObjectAlarm(stub);
    const runs = await api.get(`/api/v1/syncs/${sync.id}/runs`);
    expect(runs.body.data.map((r) => r.trigger)).toEqual(["schedule"]);
  });

  it("answers an error and starts no run when a trigger cannot record its run in D1", async () => {
    const sync = await createSync({ schedule: { type: "manual" } });
    const stub = stubOf(sync.id);
    const restore = interceptD1((query, statement) => {
      if (/^insert into "sync_runs"/i.test(query)) throw new Error("injected: D1 unavailable");
      return statement();
    });
    let res: ApiResult<Run>;
    try {
      res = await api.post(`/api/v1/syncs/${sync.id}/trigger`);
    } finally {
      restore();
    }
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(res.error?.code, JSON.stringify(res.body)).toEqual(expect.any(String));
    // Nothing was started behind the error: the object holds no run and its alarm starts none.
    expect(await stub.describe()).toMatchObject({ current: null, queued: null });
    await evictDurableObject(stub);
    await runDurableObjectAlarm(stub);
    expect((await api.get(`/api/v1/syncs/${sync.id}/runs`)).body.data).toEqual([]);
    // Once D1 is back, the same trigger works.
    expectStatus(await api.post(`/api/v1/syncs/${sync.id}/trigger`), 202);
  });

  it("lets a trigger record its run in D1 before an alarm starts that run", async () => {
    const sync = await createSync({ schedule: { type: "manual" } });
    const stub = stubOf(sync.id);
    // The trigger's write of its new run is slow, and the alarm runs meanwhile. (Both inside the
    // object: D1 may only be called from the context that made the call.)
    let reached = () => {};
    const writing = new Promise<void>((resolve) => (reached = resolve));
    let delayed = false;
    const restore = interceptD1((query, statement) => {
      if (delayed || !/^insert into "sync_runs"/i.test(query)) return statement();
      delayed = true;
      reached();
      return new Promise((resolve) => setTimeout(resolve, 500)).then(statement);
    });
    try {
      const runId = await runInDurableObject(stub, async (object: SyncObject) => {
        const triggered = object.trigger("manual", {});
        await writing;
        const alarm = object.alarm();
        const result = await triggered;
        await alarm;
        return result.ok ? result.run.id : null;
      });
      // D1 must not hold the run as queued (the trigger's late write) once the alarm has started it.
      const run = await api.get(`/api/v1/syncs/${sync.id}/runs/${runId}`);
      expect(run.body.status).not.toBe("queued");
      expect(run.body.started_at).not.toBeNull();
    } finally {
      restore();
    }
  });

  it("runs one run at a time: the queued run starts only after the first finishes", async () => {
    const sync = await createSync({ schedule: { type: "manual" } });
    const first = await api.post(`/api/v1/syncs/${sync.id}/trigger`);
    const second = await api.post(`/api/v1/syncs/${sync.id}/trigger`);
    const stub = stubOf(sync.id);
    for (let i = 0; i < 50 && ((await stub.describe()).current || (await stub.describe()).queued); i++) {
      const state = await stub.describe();
      // Never two runs in flight: the queued one has not started while the first is current.
      if (state.current?.id === first.body.id) expect(state.queued?.status ?? "queued").toBe("queued");
      await runDurableObjectAlarm(stub);
    }
    const runs = await api.get(`/api/v1/syncs/${sync.id}/runs`);
    const [b, a] = runs.body.data;
    expect([b?.id, a?.id]).toEqual([second.body.id, first.body.id]);
    expect(Date.parse(b?.started_at ?? "")).toBeGreaterThanOrEqual(Date.parse(a?.finished_at ?? ""));
  });

  it("puts the sync in error after three failed runs and stops its schedule until resume", async () => {
    // The seeded source cannot be reached, so every run fails.
    const sync = await createSync();
    const stub = stubOf(sync.id);
    for (let n = 0; n < 3; n++) {
      await api.post(`/api/v1/syncs/${sync.id}/trigger`);
      while ((await stub.describe()).current) await runDurableObjectAlarm(stub);
    }
    const after = await api.get(`/api/v1/syncs/${sync.id}`);
    expect(after.body.last_run?.status).toBe("failed");
    expect(after.body).toMatchObject({ status: "error", next_run_at: null });
    expect(after.body.status_reason).toMatch(/3 consecutive runs failed/);
    expect(await alarmOf(sync.id)).toBeNull();
    // Manual runs are still allowed in error; resume re-arms the schedule.
    expectStatus(await api.post(`/api/v1/syncs/${sync.id}/trigger`), 202);
    const resumed = await api.post(`/api/v1/syncs/${sync.id}/resume`);
    expect(resumed.body.status).toBe("active");
    expect(resumed.body.next_run_at).not.toBeNull();
  });
});

/** The path of a trigger URL, typed as the hook route's. */
function hookPath(triggerUrl: string): `/api/v1/hooks/syncs/${string}` {
  const prefix = "/api/v1/hooks/syncs/";
  const path = new URL(triggerUrl).pathname;
  expect(path.startsWith(prefix), triggerUrl).toBe(true);
  return `${prefix}${path.slice(prefix.length)}`;
}

describe("trigger webhooks", () => {
  it("starts a webhook run from the secret URL and refuses a wrong or rotated secret", async () => {
    const sync = await createSync();
    const path = hookPath(sync.trigger_url);
    const res = await api.post(path, { token: null });
    expectStatus(res, 202);
    expect(res.body.trigger).toBe("webhook");
    expectError(await api.post(`/api/v1/hooks/syncs/${sync.id}/wrong-secret-wrong-secret`, { token: null }), 401, "unauthorized");
    expectError(await api.post(`/api/v1/hooks/syncs/syn_unknown/abc`, { token: null }), 401, "unauthorized");
    const rotated = await api.post(`/api/v1/syncs/${sync.id}/trigger-secret`);
    expectStatus(rotated, 200);
    expectError(await api.post(path, { token: null }), 401, "unauthorized");
    expectStatus(await api.post(hookPath(rotated.body.trigger_url), { token: null }), 202);
  });

  it("accepts an HMAC-signed request and refuses a bad or stale signature", async () => {
    const sync = await createSync();
    const rotated = await api.post(`/api/v1/syncs/${sync.id}/trigger-secret`);
    const secret = rotated.body.secret;
    const body = JSON.stringify({ source: "dbt", job: "nightly" });
    const ts = String(Math.floor(Date.now() / 1000));
    const sig = `sha256=${await hmacSha256Hex(secret, `${ts}.${body}`)}`;
    const ok = await api.post(`/api/v1/hooks/syncs/${sync.id}`, {
      token: null,
      raw: body,
      headers: { "x-timestamp": ts, "x-signature": sig },
    });
    expectStatus(ok, 202);
    expect(ok.body.trigger).toBe("webhook");
    // The same signed request captured and sent again inside its 5 minutes starts nothing.
    const replay = await api.post(`/api/v1/hooks/syncs/${sync.id}`, {
      token: null,
      raw: body,
      headers: { "x-timestamp": ts, "x-signature": sig },
    });
    expectError(replay, 409, "conflict");
    expect(replay.error?.message).toContain("already used");
    expect((await api.get(`/api/v1/syncs/${sync.id}/runs`)).body.data).toHaveLength(1);
    const tampered = await api.post(`/api/v1/hooks/syncs/${sync.id}`, {
      token: null,
      raw: body.replace("nightly", "hourly"),
      headers: { "x-timestamp": ts, "x-signature": sig },
    });
    expectError(tampered, 401, "unauthorized");
    const old = String(Math.floor(Date.now() / 1000) - 3600);
    const oldSig = `sha256=${await hmacSha256Hex(secret, `${old}.${body}`)}`;
    expectError(
      await api.post(`/api/v1/hooks/syncs/${sync.id}`, {
        token: null,
        raw: body,
        headers: { "x-timestamp": old, "x-signature": oldSig },
      }),
      401,
      "unauthorized",
    );
  });

  it("answers a trigger behind a run in flight with that run, its phase and age, from both hooks", async () => {
    const sync = await createSync();
    const first = await api.post(hookPath(sync.trigger_url), { token: null });
    expectStatus(first, 202);
    expect(first.body.in_flight).toBeUndefined();
    // The first run has not taken a step (no alarm ran): it is in flight, phase queued.
    const bySecret = await api.post(hookPath(sync.trigger_url), { token: null });
    expectStatus(bySecret, 202);
    expect(bySecret.body.id).not.toBe(first.body.id);
    expect(bySecret.body.in_flight, JSON.stringify(bySecret.body)).toMatchObject({ run_id: first.body.id, phase: "queued" });
    expect(bySecret.body.in_flight?.age_seconds).toBeGreaterThanOrEqual(0);
    const rotated = await api.post(`/api/v1/syncs/${sync.id}/trigger-secret`);
    const body = JSON.stringify({ source: "ci" });
    const ts = String(Math.floor(Date.now() / 1000));
    const signed = await api.post(`/api/v1/hooks/syncs/${sync.id}`, {
      token: null,
      raw: body,
      headers: { "x-timestamp": ts, "x-signature": `sha256=${await hmacSha256Hex(rotated.body.secret, `${ts}.${body}`)}` },
    });
    expectStatus(signed, 202);
    // Coalesced into the same queued follow-up; the run in flight is still the first.
    expect(signed.body.id).toBe(bySecret.body.id);
    expect(signed.body.in_flight).toMatchObject({ run_id: first.body.id, phase: "queued" });
  });

  it("keeps the trigger secret encrypted in D1", async () => {
    const sync = await createSync();
    const secret = sync.trigger_url.split("/").at(-1);
    const row = await env.DB.prepare("SELECT * FROM syncs WHERE id = ?").bind(sync.id).first();
    expect(JSON.stringify(row)).not.toContain(secret);
  });
});

describe("sync security", () => {
  it("needs a token, a write scope to change, and hides other workspaces' syncs", async () => {
    const sync = await createSync();
    expectError(await api.get("/api/v1/syncs", { token: null }), 401, "unauthorized");
    expectError(await api.post(`/api/v1/syncs/${sync.id}/trigger`, { token: "retl_bogus" }), 401, "unauthorized");
    const reader = await tokenFor("wsp_default", "read");
    expectStatus(await api.get(`/api/v1/syncs/${sync.id}`, { token: reader }), 200);
    for (const [method, path] of [
      ["POST", `/api/v1/syncs/${sync.id}/trigger`],
      ["POST", `/api/v1/syncs/${sync.id}/pause`],
      ["PUT", `/api/v1/syncs/${sync.id}`],
      ["DELETE", `/api/v1/syncs/${sync.id}`],
      ["POST", `/api/v1/syncs/${sync.id}/runs/run_x/cancel`],
    ] as const) {
      expectError(await api.send(method, path, { token: reader, body: method === "PUT" ? { name: "x" } : undefined }), 403, "forbidden");
    }
    const other = await newWorkspace();
    for (const [method, path] of [
      ["GET", `/api/v1/syncs/${sync.id}`],
      ["GET", `/api/v1/syncs/${sync.id}/runs`],
      ["POST", `/api/v1/syncs/${sync.id}/trigger`],
      ["POST", `/api/v1/syncs/${sync.id}/pause`],
      ["POST", `/api/v1/syncs/${sync.id}/trigger-secret`],
      ["POST", `/api/v1/syncs/${sync.id}/runs/run_x/cancel`],
      ["DELETE", `/api/v1/syncs/${sync.id}?permanent=true`],
    ] as const) {
      expectError(await api.send(method, path, { token: other.token }), 404, "not_found");
    }
    const list = await api.get("/api/v1/syncs", { token: other.token });
    expect(list.body.data).toEqual([]);
  });
});
