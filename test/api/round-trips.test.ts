import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { api, expectError, expectStatus, newWorkspace, seedModelAndDestination, syncBody, tokenFor } from "../harness";
import { waitForRun } from "../harness/run";

/**
 * D1 round trips per API request, counted at the binding: every statement run (`run`, `all`,
 * `raw`, `first`) and every `batch` on the Worker's D1 database and its sessions is one trip, as
 * in production where each is a network hop from the edge.
 */
const trips: string[] = [];
const restores: (() => void)[] = [];

function count(target: object, method: "prepare" | "batch"): void {
  const original = Reflect.get(target, method) as (...a: unknown[]) => unknown;
  Reflect.set(target, method, function (this: unknown, ...args: unknown[]) {
    if (method === "batch") {
      trips.push("batch");
      return original.apply(this, args);
    }
    return counted(original.apply(this, args) as D1PreparedStatement, String(args[0]));
  });
  restores.push(() => Reflect.set(target, method, original));
}

function counted(statement: D1PreparedStatement, query: string): D1PreparedStatement {
  return new Proxy(statement, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      if (prop === "bind") return (...args: unknown[]) => counted(target.bind(...args), query);
      if (prop === "run" || prop === "all" || prop === "raw" || prop === "first") trips.push(query);
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

afterEach(() => {
  for (const restore of restores.splice(0)) restore();
});

/** The D1 trips one request made (waits for its background writes, e.g. last_used_at). */
async function tripsOf(request: () => Promise<{ status: number }>): Promise<{ status: number; trips: string[] }> {
  trips.length = 0;
  count(Object.getPrototypeOf(env.DB), "prepare");
  count(Object.getPrototypeOf(env.DB), "batch");
  const session = env.DB.withSession("first-unconstrained");
  count(Object.getPrototypeOf(session), "prepare");
  count(Object.getPrototypeOf(session), "batch");
  const res = await request();
  await new Promise((r) => setTimeout(r, 50));
  for (const restore of restores.splice(0)) restore();
  return { status: res.status, trips: [...trips] };
}

describe("API reads in one D1 round trip", () => {
  let token: string;
  let admin: string;
  let syncId: string;
  beforeAll(async () => {
    const ws = await newWorkspace("admin");
    admin = ws.token;
    token = await tokenFor(ws.workspaceId, "read");
    const ids = await seedModelAndDestination(ws.workspaceId);
    for (let i = 0; i < 3; i++) {
      const res = await api.post("/api/v1/syncs", { token: admin, body: syncBody(ids, { name: `round trip ${i}` }) });
      expectStatus(res, 201);
      syncId = res.body.id;
    }
    // The newest sync has a last run: the list joins it in the same trip.
    const run = await api.post(`/api/v1/syncs/${syncId}/trigger`, { token: admin });
    expectStatus(run, 202);
    // The run's own D1 writes (its object's) are not a request's: let it end before counting.
    await waitForRun(syncId, run.body.id, { token: admin });
  });

  it("a scoped token is looked up once, then GET /syncs and GET /syncs/{id} each make one trip", async () => {
    // The first request with this token in the isolate looks it up (and stamps last_used_at).
    const first = await tripsOf(() => api.get("/api/v1/syncs", { token }));
    expect(first.trips.length).toBeGreaterThanOrEqual(2);
    const list = await tripsOf(() => api.get("/api/v1/syncs", { token }));
    expect(list.status).toBe(200);
    expect(list.trips).toHaveLength(1);
    const one = await tripsOf(() => api.get(`/api/v1/syncs/${syncId}`, { token }));
    expect(one.status).toBe(200);
    expect(one.trips).toHaveLength(1);
  });

  it("every GET of a resource makes one trip with a known token", async () => {
    const run = await api.post(`/api/v1/syncs/${syncId}/trigger`, { token: admin });
    expectStatus(run, 202);
    await waitForRun(syncId, run.body.id, { token });
    const sync = (await api.get(`/api/v1/syncs/${syncId}`, { token })).body;
    const paths = [
      "/api/v1/syncs",
      `/api/v1/syncs/${syncId}`,
      `/api/v1/syncs/${syncId}/runs`,
      `/api/v1/syncs/${syncId}/runs/${run.body.id}`,
      `/api/v1/syncs/${syncId}/runs/${run.body.id}/errors`,
      "/api/v1/sources",
      "/api/v1/models",
      `/api/v1/models/${sync.model_id}`,
      "/api/v1/destinations",
      `/api/v1/destinations/${sync.destination_id}`,
    ] as const;
    const counted: Record<string, number> = {};
    for (const path of paths) {
      const res = await tripsOf(() => api.get(path as "/api/v1/syncs", { token }));
      expect(res.status, path).toBe(200);
      counted[path] = res.trips.length;
    }
    expect(counted).toEqual(Object.fromEntries(paths.map((p) => [p, 1])));
  });

  it("lists syncs with their last run from that one trip", async () => {
    const res = await api.get("/api/v1/syncs?limit=2", { token });
    expectStatus(res, 200);
    expect(res.body.data).toHaveLength(2);
    expect(res.body.data[0]).toMatchObject({ id: syncId, last_run: { id: expect.stringMatching(/^run_/) } });
    expect(res.body.data[1]?.last_run).toBeNull();
    expect(res.body.next_cursor).toBe(res.body.data[1]?.id);
    const next = await api.get(`/api/v1/syncs?limit=2&cursor=${res.body.next_cursor}`, { token });
    expect(next.body.data.map((s) => s.name)).toEqual(["round trip 0"]);
  });

  it("hands out a D1 session bookmark and takes it back; a malformed one is a 400 naming the header", async () => {
    const first = await api.get("/api/v1/syncs", { token });
    const bookmark = first.headers.get("x-d1-bookmark");
    expect(bookmark).toMatch(/^[0-9a-f]+(-[0-9a-f]+)*$/i);
    const again = await api.get("/api/v1/syncs", { token, headers: { "x-d1-bookmark": bookmark ?? "" } });
    expectStatus(again, 200);
    const bad = await api.get("/api/v1/syncs", { token, headers: { "x-d1-bookmark": "'; drop table syncs" } });
    expectError(bad, 400, "bad_request");
    expect(bad.body).toMatchObject({ error: { message: expect.stringContaining("X-D1-Bookmark") } });
  });

  it("a revoked token answers 401 at once, though it was cached", async () => {
    const created = await api.post("/api/v1/tokens", { token: admin, body: { name: "short-lived", scope: "read" } });
    expectStatus(created, 201);
    expectStatus(await api.get("/api/v1/syncs", { token: created.body.token }), 200);
    expectStatus(await api.delete(`/api/v1/tokens/${created.body.id}`, { token: admin }), 200);
    expectError(await api.get("/api/v1/syncs", { token: created.body.token }), 401, "unauthorized");
  });
});
