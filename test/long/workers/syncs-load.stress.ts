import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createSource, expectStatus, type ApiResult, type Page, type Run } from "../../harness";
import { customersTable, pg, stubOf } from "../../harness/run";
import { between, percentile, sample, seeded, sleep, table } from "../lib";
import { setting } from "./lib";

/**
 * Load (a): hundreds of syncs at once, each its own SyncObject, with overlapping schedules (half on
 * a cron firing every minute, all at the same instant; half on 1-minute intervals) and bursts of
 * concurrent manual triggers, while the model keeps changing so runs have batches to deliver.
 *
 * Checked per sync, from the runs the API reports:
 * - one run at a time: no two runs of a sync overlap in [started_at, finished_at];
 * - no lost trigger: every trigger is answered 202 with a queued run, that run reaches a final
 *   status and starts after the trigger was sent (a trigger is never absorbed by a run already
 *   going);
 * - coalescing as documented: a burst of concurrent triggers creates at most 2 runs (the next one
 *   and one queued behind it), plus one per run of that sync that ended during the burst;
 * - the schedules fired (each sync's next_run_at moved past its first fire time).
 *
 * `STRESS_LOAD_SYNCS`, `STRESS_LOAD_SECONDS` and `STRESS_SEED` resize and replay it.
 */

const SYNCS = setting("STRESS_LOAD_SYNCS", 200);
const WINDOW_S = setting("STRESS_LOAD_SECONDS", 75);
const SEED = setting("STRESS_SEED", Math.floor(Math.random() * 2 ** 31));
const ROWS = 40;
const DESTINATIONS = 10;
/** Syncs that get a burst each round, and triggers per burst. */
const BURST_SYNCS = 8;
const BURST_MIN = 2;
const BURST_MAX = 6;
const FINAL = ["succeeded", "partial", "failed", "cancelled"];

interface Trigger {
  syncId: string;
  burst: number;
  sentAt: number;
  answeredAt: number;
  status: number;
  runId: string | null;
  runStatus: string | null;
}

/** `items` through `fn`, at most `width` at a time. */
async function pool<T, R>(items: T[], width: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i] as T, i);
      }
    }),
  );
  return out;
}

async function allRuns(syncId: string): Promise<Run[]> {
  const out: Run[] = [];
  let cursor: string | null = null;
  do {
    const res: ApiResult<Page<Run>> = await api.get(`/api/v1/syncs/${syncId}/runs?limit=200${cursor ? `&cursor=${cursor}` : ""}`);
    expectStatus(res, 200);
    out.push(...res.body.data);
    cursor = res.body.next_cursor;
  } while (cursor);
  return out;
}

const ms = (iso: string | null) => (iso === null ? Number.NaN : Date.parse(iso));

describe("load: hundreds of syncs with overlapping schedules and trigger bursts", () => {
  it("runs one run at a time per sync and loses no trigger", async () => {
    const random = seeded(SEED ^ 0x10ad);
    console.log(`load scenario: seed ${SEED}, ${SYNCS} syncs, ${WINDOW_S} s of schedules and bursts`);
    const tableName = await customersTable(ROWS);
    const sourceId = await createSource();
    const model = await api.post("/api/v1/models", {
      body: { name: tableName, source_id: sourceId, sql: `SELECT id, email, name, plan, score FROM ${tableName}`, primary_key: "id" },
    });
    expectStatus(model, 201);
    const destinations = await pool(
      Array.from({ length: DESTINATIONS }, (_, i) => i),
      5,
      async (i) => {
        const res = await api.post("/api/v1/destinations", {
          body: {
            name: `load ${i}`,
            type: "webhook",
            config: {
              url: `${env.WEBHOOK_RECEIVER_URL}/hook/load_${tableName}_${i}`,
              batch_size: 100,
              rate_limit: { requests_per_second: 1000, concurrency: 50 },
            },
          },
        });
        expectStatus(res, 201);
        return res.body.id as string;
      },
    );

    const setupStarted = Date.now();
    const syncs = await pool(
      Array.from({ length: SYNCS }, (_, i) => i),
      8,
      async (i) => {
        const schedule =
          i % 2 === 0 ? { type: "cron", expression: "* * * * *", timezone: "UTC" } : { type: "interval", interval_minutes: 1 };
        const res = await api.post("/api/v1/syncs", {
          body: {
            name: `load ${i}`,
            model_id: model.body.id,
            destination_id: destinations[i % DESTINATIONS],
            mode: "upsert",
            schedule,
            field_mappings: [
              { source: "email", destination: "Email" },
              { source: "score", destination: "Score" },
            ],
          },
        });
        expectStatus(res, 201);
        return { id: res.body.id as string, firstFire: ms(res.body.next_run_at as string) };
      },
    );
    const setupSeconds = (Date.now() - setupStarted) / 1000;

    // The window: bursts of concurrent triggers on random syncs; the model changes every few seconds.
    const triggers: Trigger[] = [];
    const windowStart = Date.now();
    const windowEnd = windowStart + WINDOW_S * 1000;
    let burst = 0;
    let changes = 0;
    let lastChange = 0;
    const inFlight: Promise<void>[] = [];
    while (Date.now() < windowEnd) {
      if (Date.now() - lastChange > 5_000) {
        lastChange = Date.now();
        changes += 1;
        await pg(`UPDATE ${tableName} SET score = score + 1 WHERE id::int % 7 = ${changes % 7}`);
      }
      for (const target of sample(random, syncs, BURST_SYNCS)) {
        const b = burst++;
        const k = between(random, BURST_MIN, BURST_MAX);
        for (let j = 0; j < k; j++) {
          const t: Trigger = { syncId: target.id, burst: b, sentAt: Date.now(), answeredAt: 0, status: 0, runId: null, runStatus: null };
          triggers.push(t);
          inFlight.push(
            api.post(`/api/v1/syncs/${target.id}/trigger`).then((res) => {
              t.answeredAt = Date.now();
              t.status = res.status;
              t.runId = res.body?.id ?? null;
              t.runStatus = res.body?.status ?? null;
            }),
          );
        }
      }
      await sleep(between(random, 300, 900));
    }
    await Promise.all(inFlight);
    const windowSeconds = (Date.now() - windowStart) / 1000;

    // Where each schedule stands at the end of the window (pausing clears next_run_at).
    const nextRuns = await pool(
      syncs,
      8,
      async (s) => ((await api.get(`/api/v1/syncs/${s.id}`)).body as { next_run_at: string | null }).next_run_at,
    );

    // Schedules off; wait for every sync's object to finish its current and queued runs.
    await pool(syncs, 8, async (s) => expectStatus(await api.post(`/api/v1/syncs/${s.id}/pause`), 200));
    const drainStarted = Date.now();
    for (;;) {
      const busy = (
        await pool(syncs, 16, async (s) => {
          const d = await stubOf(s.id).describe();
          return d.current !== null || d.queued !== null;
        })
      ).filter(Boolean).length;
      if (busy === 0) break;
      if (Date.now() - drainStarted > 180_000) throw new Error(`${busy} syncs still have runs 180 s after the window`);
      await sleep(1_000);
    }
    const drainSeconds = (Date.now() - drainStarted) / 1000;

    // ---- checks ----
    const runsBySync = new Map<string, Run[]>();
    await pool(syncs, 8, async (s) => runsBySync.set(s.id, await allRuns(s.id)));
    const runById = new Map<string, Run>();
    for (const runs of runsBySync.values()) for (const r of runs) runById.set(r.id, r);

    const notAccepted = triggers.filter((t) => t.status !== 202 || !t.runId || t.runStatus !== "queued");
    const lost = triggers.filter((t) => t.runId && !FINAL.includes(runById.get(t.runId)?.status ?? "missing"));
    const startedBeforeTrigger = triggers.filter((t) => {
      const run = t.runId ? runById.get(t.runId) : undefined;
      return run !== undefined && ms(run.started_at) < t.sentAt;
    });

    const overlaps: string[] = [];
    const intervals: [number, number][] = [];
    let unfinished = 0;
    for (const [syncId, runs] of runsBySync) {
      const ordered = [...runs].sort((a, b) => ms(a.started_at) - ms(b.started_at) || a.id.localeCompare(b.id));
      for (const r of ordered) {
        if (!FINAL.includes(r.status) || r.started_at === null || r.finished_at === null) unfinished += 1;
        else intervals.push([ms(r.started_at), ms(r.finished_at)]);
      }
      for (let i = 1; i < ordered.length; i++) {
        const prev = ordered[i - 1] as Run;
        const cur = ordered[i] as Run;
        if (ms(cur.started_at) < ms(prev.finished_at))
          overlaps.push(`${syncId}: ${prev.id} [${prev.started_at}, ${prev.finished_at}] and ${cur.id} from ${cur.started_at}`);
      }
    }

    // Coalescing: a burst makes at most 2 runs, plus one per run of that sync that ended meanwhile.
    const bursts = new Map<number, Trigger[]>();
    for (const t of triggers) bursts.set(t.burst, [...(bursts.get(t.burst) ?? []), t]);
    const overBursts: string[] = [];
    let distinctPerBurst = 0;
    for (const [b, ts] of bursts) {
      const ids = new Set(ts.map((t) => t.runId));
      distinctPerBurst += ids.size;
      const from = Math.min(...ts.map((t) => t.sentAt));
      const to = Math.max(...ts.map((t) => t.answeredAt));
      const ended = (runsBySync.get(ts[0]?.syncId ?? "") ?? []).filter((r) => ms(r.finished_at) >= from && ms(r.finished_at) <= to).length;
      if (ids.size > 2 + ended) overBursts.push(`burst ${b}: ${ts.length} triggers, ${ids.size} runs, ${ended} ended meanwhile`);
    }

    // The schedules fired: by the end of the window next_run_at had moved past the first fire time.
    const due = syncs.filter((s) => s.firstFire <= windowEnd - 5_000);
    const neverFired = syncs.filter((s, i) => s.firstFire <= windowEnd - 5_000 && !(ms(nextRuns[i] ?? null) > s.firstFire));
    // The object's run might be queued behind a scheduled tick: count the ticks that made runs of their own.
    const allRunList = [...runById.values()];
    const scheduled = allRunList.filter((r) => r.trigger === "schedule").length;
    const byStatus: Record<string, number> = {};
    for (const r of allRunList) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    const failures = allRunList.filter((r) => r.status === "failed").map((r) => `${r.error?.code}: ${r.error?.message}`);
    const failureKinds: Record<string, number> = {};
    for (const f of failures) failureKinds[f.slice(0, 100)] = (failureKinds[f.slice(0, 100)] ?? 0) + 1;

    // Most runs in flight at once, across all syncs (sweep over the run intervals).
    const edges = intervals.flatMap(([a, b]) => [
      [a, 1],
      [b, -1],
    ]) as [number, number][];
    edges.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let live = 0;
    let peak = 0;
    for (const [, d] of edges) {
      live += d;
      peak = Math.max(peak, live);
    }
    const latencies = triggers.map((t) => t.answeredAt - t.sentAt);
    const durations = intervals.map(([a, b]) => b - a);

    console.log(
      [
        "",
        `LOAD (a) — seed ${SEED}, ${SYNCS} SyncObjects, window ${windowSeconds.toFixed(0)} s (setup ${setupSeconds.toFixed(0)} s, drain ${drainSeconds.toFixed(0)} s)`,
        table([
          ["figure", "value"],
          ["syncs (SyncObjects)", SYNCS],
          ["schedules: cron every minute / interval 1 min", `${Math.ceil(SYNCS / 2)} / ${Math.floor(SYNCS / 2)}`],
          ["trigger bursts / triggers sent", `${bursts.size} / ${triggers.length}`],
          ["triggers answered 202 with a queued run", triggers.length - notAccepted.length],
          [
            "distinct runs given to triggers (coalesced)",
            `${new Set(triggers.map((t) => t.runId)).size} (${triggers.length - new Set(triggers.map((t) => t.runId)).size} coalesced)`,
          ],
          ["schedules due in the window / fired", `${due.length} / ${due.length - neverFired.length}`],
          ["runs in all / started by a schedule tick (others coalesced)", `${allRunList.length} / ${scheduled}`],
          [
            "runs by status",
            Object.entries(byStatus)
              .map(([k, v]) => `${k} ${v}`)
              .join(", "),
          ],
          ["peak runs in flight at once (all syncs)", peak],
          ["run duration p50 / p99 (ms)", `${percentile(durations, 50)} / ${percentile(durations, 99)}`],
          ["trigger latency p50 / p99 (ms)", `${percentile(latencies, 50)} / ${percentile(latencies, 99)}`],
          ["model changes during the window", changes],
          ["overlapping runs of one sync", overlaps.length],
          ["lost triggers (run never final)", lost.length],
          ["triggers given a run already started", startedBeforeTrigger.length],
          ["bursts over the coalescing bound", overBursts.length],
          ["syncs whose schedule never fired", neverFired.length],
          ["runs not final with both timestamps", unfinished],
        ]),
        failures.length ? `failed runs by error: ${JSON.stringify(failureKinds)}` : "",
      ].join("\n"),
    );

    expect(triggers.length, "triggers sent").toBeGreaterThan(SYNCS);
    expect(
      notAccepted.slice(0, 5).map((t) => `${t.status} ${t.runStatus}`),
      `${notAccepted.length} triggers not answered 202 with a queued run`,
    ).toEqual([]);
    expect(lost.slice(0, 5), `${lost.length} triggers whose run never finished`).toEqual([]);
    expect(startedBeforeTrigger.slice(0, 5), "triggers given a run that had already started").toEqual([]);
    expect(overlaps.slice(0, 5), `${overlaps.length} overlapping runs`).toEqual([]);
    expect(unfinished, "runs left without a final status and both timestamps").toBe(0);
    expect(overBursts.slice(0, 5), "bursts that made more runs than coalescing allows").toEqual([]);
    expect(neverFired.map((s) => s.id).slice(0, 5), `${neverFired.length} syncs whose schedule never fired`).toEqual([]);
    expect(failures.slice(0, 5), `${failures.length} runs failed`).toEqual([]);
    expect(distinctPerBurst).toBeGreaterThan(0);
  });
});
