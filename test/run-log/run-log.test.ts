import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type ApiResult, api, expectError, expectStatus, type Page, type RecordEvent, type RunOperation } from "../harness";
import { changeModel, configureWebhook, customersTable, runSync, webhookSync } from "../harness/run";
import { operationsPage, purgeRunLogs, writeBatchLog } from "../../src/run-log/store";

/** Every operation of a run through the API, `limit` per page; also returns the page count. */
async function allOperations(syncId: string, runId: string, query = "", limit = 200): Promise<{ ops: RunOperation[]; pages: number }> {
  const ops: RunOperation[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const res: ApiResult<Page<RunOperation>> = await api.get(
      `/api/v1/syncs/${syncId}/runs/${runId}/operations?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ""}`,
    );
    expectStatus(res, 200);
    ops.push(...res.body.data);
    cursor = res.body.next_cursor;
    pages += 1;
  } while (cursor && pages < 100);
  return { ops, pages };
}

const byNumber = (a: string, b: string) => Number(a) - Number(b);

describe("run debugger: every operation of a run", () => {
  it("lists every operation of a real run, successes and failures with the destination's status and response, filtered and paged", async () => {
    const table = await customersTable(40);
    const { syncId, endpoint } = await webhookSync(table, "mirror", { destination: { batch_size: 10 } });
    await configureWebhook(endpoint, {
      idempotent: true,
      fail_keys: { "7": "email is not valid" },
      reject_keys: { "13": "record 13 is malformed" },
      // The first request is answered 503 once: its batch is retried and logged once, with 2 attempts.
      faults: [{ status: 503, retry_after: "0", body: { error: "busy" } }],
    });
    const run = await runSync(syncId);
    expect(run.status, JSON.stringify(run)).toBe("partial");

    const { ops } = await allOperations(syncId, run.id);
    expect(ops.map((o) => o.key).sort(byNumber)).toEqual(Array.from({ length: 40 }, (_, i) => String(i + 1)));
    const of = (key: string) => ops.find((o) => o.key === key);
    expect(of("1")).toMatchObject({
      op: "create",
      status: "succeeded",
      error: null,
      destination_status: 200,
      fields: { Email: "user1@example.com", Name: "Name 1", Plan: "free", Score: 1 },
    });
    // A row the destination refused in a 200 answer: its own message, the 200 and the response body.
    expect(of("7")).toMatchObject({ status: "failed", error: "email is not valid", destination_status: 200 });
    expect(of("7")?.response).toContain("email is not valid");
    // A record that sank its batch (400): split until alone, then failed with the 400 and its body.
    expect(of("13")).toMatchObject({ status: "failed", destination_status: 400 });
    expect(of("13")?.error).toMatch(/HTTP 400.*record 13 is malformed/);
    expect(of("13")?.response).toContain("record 13 is malformed");
    const retried = ops.filter((o) => o.attempts >= 2);
    expect(retried.length, "the batch answered 503 first was logged once, with both attempts").toBeGreaterThanOrEqual(1);
    expect(new Set(retried.map((o) => o.batch_id)).size).toBe(1);

    // Filters.
    const failed = await allOperations(syncId, run.id, "&status=failed");
    expect(failed.ops.map((o) => o.key).sort()).toEqual(["13", "7"]);
    const created = await allOperations(syncId, run.id, "&status=succeeded&op=create");
    expect(created.ops).toHaveLength(38);
    expect((await allOperations(syncId, run.id, "&op=delete")).ops).toHaveLength(0);
    const one = await allOperations(syncId, run.id, "&key=13");
    expect(one.ops.map((o) => o.key)).toEqual(["13"]);
    expect((await allOperations(syncId, run.id, "&key=4000")).ops).toEqual([]);

    // Paging: 7 a page gives the same list in the same order, in ceil(40/7) pages.
    const paged = await allOperations(syncId, run.id, "", 7);
    expect(paged.pages).toBe(6);
    expect(paged.ops).toEqual(ops);
    const pagedFailed = await allOperations(syncId, run.id, "&status=failed", 1);
    expect(pagedFailed.ops).toEqual(failed.ops);
    expect(pagedFailed.pages).toBe(2);

    // A batch settled again (a resend under its own id) overwrites its log object: no duplicate lines.
    const batchId = of("1")?.batch_id ?? "";
    const again = ops.filter((o) => o.batch_id === batchId).map((o) => ({ ...o, at: "2030-01-01T00:00:00.000Z" }));
    await writeBatchLog(env.SNAPSHOTS, syncId, run.id, batchId, again);
    const after = await allOperations(syncId, run.id);
    expect(after.ops).toHaveLength(40);
    expect(after.ops.filter((o) => o.batch_id === batchId).every((o) => o.at === "2030-01-01T00:00:00.000Z")).toBe(true);
  });

  it("a dry run lists its planned operations, equal to the next real run's; a key's history spans the runs", async () => {
    const table = await customersTable(40);
    const { syncId, endpoint } = await webhookSync(table, "mirror", { destination: { batch_size: 8 } });
    await configureWebhook(endpoint, { idempotent: true });
    const first = await runSync(syncId);
    expect(first.status).toBe("succeeded");
    await changeModel(table, 40);

    const dry = await runSync(syncId, { dry_run: true });
    expect(dry.status).toBe("succeeded");
    const planned = (await allOperations(syncId, dry.id)).ops;
    expect(planned.every((o) => o.status === "planned" && o.attempts === 0 && o.destination_status === null)).toBe(true);
    // 5 inserted, 6 updated, 4 deleted (changeModel).
    expect(planned.filter((o) => o.op === "create")).toHaveLength(5);
    expect(planned.filter((o) => o.op === "update")).toHaveLength(6);
    expect(planned.filter((o) => o.op === "delete")).toHaveLength(4);

    const real = await runSync(syncId);
    expect(real.status).toBe("succeeded");
    const sent = (await allOperations(syncId, real.id)).ops;
    const shape = (o: RunOperation) => ({ key: o.key, op: o.op, fields: o.fields, batch: o.batch_id.slice(o.batch_id.indexOf(".")) });
    expect(sent.map(shape)).toEqual(planned.map(shape));
    expect(sent.every((o) => o.status === "succeeded")).toBe(true);

    // Key 11 was created by the first run, planned for update by the dry run and updated by the last.
    const history = await api.get(`/api/v1/syncs/${syncId}/records/11`);
    expectStatus(history, 200);
    expect(history.body.data.map((e: RecordEvent) => [e.run_id, e.op, e.status, e.dry_run])).toEqual([
      [real.id, "update", "succeeded", false],
      [dry.id, "update", "planned", true],
      [first.id, "create", "succeeded", false],
    ]);
    expect(history.body.data[0]?.fields).toMatchObject({ Plan: "enterprise", Score: 1011 });
    // Key 2 never changed: only the first run sent it. Key 31 left the model: deleted by the last run.
    const unchanged = await api.get(`/api/v1/syncs/${syncId}/records/2`);
    expect(unchanged.body.data.map((e: RecordEvent) => e.run_id)).toEqual([first.id]);
    const gone = await api.get(`/api/v1/syncs/${syncId}/records/31`);
    expect(gone.body.data.map((e: RecordEvent) => [e.run_id, e.op])).toEqual([
      [real.id, "delete"],
      [dry.id, "delete"],
      [first.id, "create"],
    ]);
    // Paged by runs: one run a page, newest first.
    const page1 = await api.get(`/api/v1/syncs/${syncId}/records/11?limit=1`);
    expect(page1.body.data.map((e: RecordEvent) => e.run_id)).toEqual([real.id]);
    const page2 = await api.get(`/api/v1/syncs/${syncId}/records/11?limit=1&cursor=${page1.body.next_cursor}`);
    expect(page2.body.data.map((e: RecordEvent) => e.run_id)).toEqual([dry.id]);

    // Retention: a sweep as of now keeps everything; one 8 days on deletes the sync's logs.
    expect(await purgeRunLogs(env.SNAPSHOTS, Date.now(), 7, { syncId })).toBe(0);
    expect((await allOperations(syncId, real.id)).ops).toHaveLength(15);
    const purged = await purgeRunLogs(env.SNAPSHOTS, Date.now() + 8 * 86_400_000, 7, { syncId });
    // 3 manifests; 40 creates in batches of 8, and 15 operations (twice) in 2 batches each.
    expect(purged).toBe(3 + 5 + 2 + 2);
    expect(await operationsPage(env.SNAPSHOTS, syncId, real.id, {}, 50, null)).toBeNull();
    const afterPurge = await api.get(`/api/v1/syncs/${syncId}/runs/${real.id}/operations`);
    expectStatus(afterPurge, 200);
    expect(afterPurge.body).toEqual({ data: [], next_cursor: null });
    expect((await api.get(`/api/v1/syncs/${syncId}/records/11`)).body.data).toEqual([]);
  });

  it("logs a batch that ran out of retries once, failed with the last error and every attempt the queue made", async () => {
    const table = await customersTable(5);
    const { syncId, endpoint } = await webhookSync(table, "upsert");
    await configureWebhook(endpoint, { always: { status: 503, retry_after: "0", body: { error: "maintenance" } } });
    const run = await runSync(syncId);
    expect(run.error?.code, JSON.stringify(run)).toBe("delivery_failed");
    const { ops } = await allOperations(syncId, run.id);
    expect(ops.map((o) => o.key).sort(byNumber)).toEqual(["1", "2", "3", "4", "5"]);
    for (const o of ops) {
      expect(o, JSON.stringify(o)).toMatchObject({ status: "failed", op: "upsert", attempts: 9 });
      expect(o.error).toMatch(/^retries exhausted; last error: HTTP 503.*maintenance/);
    }
  });

  it("answers bad filters, cursors and unknown runs with a 4xx naming the field", async () => {
    const table = await customersTable(3);
    const { syncId } = await webhookSync(table, "upsert");
    const run = await runSync(syncId);
    const base = `/api/v1/syncs/${syncId}/runs/${run.id}/operations`;
    expectError(await api.get(`${base}?status=done`), 400, "validation_failed", "status");
    expectError(await api.get(`${base}?op=merge`), 400, "validation_failed", "op");
    expectError(await api.get(`${base}?limit=0`), 400, "validation_failed", "limit");
    expectError(await api.get(`${base}?cursor=not-a-cursor`), 400, "validation_failed", "cursor");
    expectError(await api.get(`${base}?key=${"k".repeat(1001)}`), 400, "validation_failed", "key");
    expectError(await api.get(`/api/v1/syncs/${syncId}/runs/run_nope/operations`), 404, "not_found");
    expectError(await api.get(`/api/v1/syncs/${syncId}/records/1?limit=51`), 400, "validation_failed", "limit");
    expectError(await api.get(`/api/v1/syncs/syn_nope/records/1`), 404, "not_found");
  });
});
