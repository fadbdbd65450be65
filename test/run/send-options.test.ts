import { describe, expect, it } from "vitest";
import { api, expectError, expectStatus } from "../harness";
import {
  configureWebhook,
  createDestination,
  customersTable,
  modelOf,
  modelRows,
  pg,
  runSync,
  uniqueName,
  webhookState,
  webhookUrl,
} from "../harness/run";

/** The id column mapped too: the field the primary key is mapped to is what the record is found by. */
const MAPPINGS = [
  { source: "id", destination: "Id" },
  { source: "email", destination: "Email" },
  { source: "name", destination: "Name" },
  { source: "plan", destination: "Plan" },
  { source: "score", destination: "Score" },
];

/** A webhook sync of a customers table with the given options; the receiver keeps request bodies. */
async function sendSync(table: string, mode: "upsert" | "mirror", options: Record<string, unknown>) {
  const endpoint = uniqueName("send");
  await configureWebhook(endpoint, { keep_bodies: true });
  const modelId = await modelOf(table);
  const destinationId = await createDestination({ type: "webhook", config: { url: webhookUrl(endpoint), batch_size: 100 } });
  const res = await api.post("/api/v1/syncs", {
    body: {
      name: "send",
      model_id: modelId,
      destination_id: destinationId,
      mode,
      schedule: { type: "manual" },
      field_mappings: MAPPINGS,
      ...options,
    },
  });
  expectStatus(res, 201);
  return { syncId: res.body.id, endpoint, sync: res.body };
}

type Sent = { op: string; key: string; fields: Record<string, unknown> };

/** Operations the receiver got from request `from` on, by key. */
async function sentSince(endpoint: string, from: number): Promise<Map<string, Sent>> {
  const { deliveries } = await webhookState(endpoint, true);
  const out = new Map<string, Sent>();
  for (const d of deliveries.slice(from)) for (const o of (d.body as { operations: Sent[] }).operations) out.set(o.key, o);
  return out;
}

const requests = async (endpoint: string) => (await webhookState(endpoint)).deliveries.length;

/** Model rows with the id field the mappings add. */
async function expectedRows(table: string) {
  const rows = await modelRows(table);
  return Object.fromEntries(Object.entries(rows).map(([id, r]) => [id, { Id: id, ...r }]));
}

describe("per-sync send and null_values options", () => {
  it("changed_fields: an update carries only its changed fields and the identity field; all_fields carries all", async () => {
    const table = await customersTable(40);
    const { syncId, endpoint, sync } = await sendSync(table, "upsert", { send: "changed_fields" });
    expect(sync).toMatchObject({ send: "changed_fields", null_values: "send" });
    expect(await runSync(syncId)).toMatchObject({ status: "succeeded", rows_created: 40 });
    const created = await sentSince(endpoint, 0);
    expect(created.get("7")?.fields).toEqual({ Id: "7", Email: "user7@example.com", Name: "Name 7", Plan: "free", Score: 7 });

    await pg(`UPDATE ${table} SET plan = 'enterprise' WHERE id::int BETWEEN 11 AND 13`);
    await pg(`UPDATE ${table} SET score = 999, name = 'Renamed' WHERE id = '20'`);
    let from = await requests(endpoint);
    expect(await runSync(syncId)).toMatchObject({ status: "succeeded", rows_updated: 4, rows_created: 0 });
    let sent = await sentSince(endpoint, from);
    expect([...sent.keys()].sort()).toEqual(["11", "12", "13", "20"]);
    expect(sent.get("12")).toEqual({ op: "upsert", key: "12", fields: { Id: "12", Plan: "enterprise" } });
    expect(sent.get("20")?.fields).toEqual({ Id: "20", Name: "Renamed", Score: 999 });
    // The receiver merges updates: it holds the model exactly.
    expect((await webhookState(endpoint)).rows).toEqual(await expectedRows(table));

    // all_fields: every field again.
    expectStatus(await api.put(`/api/v1/syncs/${syncId}`, { body: { send: "all_fields" } }), 200);
    await pg(`UPDATE ${table} SET plan = 'pro' WHERE id = '14'`);
    from = await requests(endpoint);
    expect(await runSync(syncId)).toMatchObject({ status: "succeeded", rows_updated: 1 });
    sent = await sentSince(endpoint, from);
    expect(sent.get("14")?.fields).toEqual({ Id: "14", Email: "user14@example.com", Name: "Name 14", Plan: "pro", Score: 14 });

    // Back to changed_fields: the snapshot of the all_fields run has no field hashes, so the first
    // run sends all fields; its unchanged rows get their field hashes, so the next sends only changes.
    const back = await api.put(`/api/v1/syncs/${syncId}`, { body: { send: "changed_fields" } });
    expectStatus(back, 200);
    expect(back.body.send).toBe("changed_fields");
    await pg(`UPDATE ${table} SET email = 'first@example.com' WHERE id = '15'`);
    from = await requests(endpoint);
    expect(await runSync(syncId)).toMatchObject({ status: "succeeded", rows_updated: 1 });
    expect((await sentSince(endpoint, from)).get("15")?.fields).toEqual({
      Id: "15",
      Email: "first@example.com",
      Name: "Name 15",
      Plan: "pro",
      Score: 15,
    });
    await pg(`UPDATE ${table} SET email = 'second@example.com' WHERE id IN ('15', '16')`);
    from = await requests(endpoint);
    expect(await runSync(syncId)).toMatchObject({ status: "succeeded", rows_updated: 2 });
    sent = await sentSince(endpoint, from);
    expect(sent.get("15")?.fields).toEqual({ Id: "15", Email: "second@example.com" });
    expect(sent.get("16")?.fields).toEqual({ Id: "16", Email: "second@example.com" });

    // A mapping edit: the field hashes of the old mapping are not compared, every field goes.
    const edited = [...MAPPINGS.slice(0, 4), { source: "score", destination: "Points" }];
    expectStatus(await api.put(`/api/v1/syncs/${syncId}`, { body: { field_mappings: edited } }), 200);
    from = await requests(endpoint);
    expect(await runSync(syncId)).toMatchObject({ status: "succeeded", rows_updated: 40 });
    expect((await sentSince(endpoint, from)).get("3")?.fields).toEqual({
      Id: "3",
      Email: "user3@example.com",
      Name: "Name 3",
      Plan: "pro",
      Points: 3,
    });
    await pg(`UPDATE ${table} SET score = 5000 WHERE id = '3'`);
    from = await requests(endpoint);
    expect(await runSync(syncId)).toMatchObject({ status: "succeeded", rows_updated: 1 });
    expect((await sentSince(endpoint, from)).get("3")?.fields).toEqual({ Id: "3", Points: 5000 });
  });

  it("changed_fields in mirror mode: an update op carries the changed fields; a failed one is sent again the next run", async () => {
    const table = await customersTable(20);
    const { syncId, endpoint } = await sendSync(table, "mirror", { send: "changed_fields" });
    expect(await runSync(syncId)).toMatchObject({ status: "succeeded", rows_created: 20 });
    await pg(`UPDATE ${table} SET name = 'N4' WHERE id = '4'`);
    await pg(`UPDATE ${table} SET name = 'N5' WHERE id = '5'`);
    await configureWebhook(endpoint, { keep_bodies: true, fail_keys: { "5": "locked" } });
    let from = await requests(endpoint);
    expect(await runSync(syncId)).toMatchObject({ status: "partial", rows_updated: 1, rows_failed: 1 });
    expect((await sentSince(endpoint, from)).get("4")).toEqual({ op: "update", key: "4", fields: { Id: "4", Name: "N4" } });
    // Row 5 changes again; its committed state is still the one before the failed update.
    await pg(`UPDATE ${table} SET plan = 'pro' WHERE id = '5'`);
    await configureWebhook(endpoint, { keep_bodies: true });
    from = await requests(endpoint);
    expect(await runSync(syncId)).toMatchObject({ status: "succeeded", rows_updated: 1 });
    expect((await sentSince(endpoint, from)).get("5")?.fields).toEqual({ Id: "5", Name: "N5", Plan: "pro" });
    expect((await webhookState(endpoint)).rows).toEqual(await expectedRows(table));
  });

  it("null_values skip leaves null fields out; send (default) sends them", async () => {
    const table = await customersTable(10);
    await pg(`UPDATE ${table} SET name = NULL WHERE id = '3'`);
    const skip = await sendSync(table, "upsert", { null_values: "skip" });
    const send = await sendSync(table, "upsert", {});
    expect(send.sync).toMatchObject({ send: "all_fields", null_values: "send" });
    for (const s of [skip, send]) expect(await runSync(s.syncId)).toMatchObject({ status: "succeeded", rows_created: 10 });
    expect((await sentSince(skip.endpoint, 0)).get("3")?.fields).toEqual({ Id: "3", Email: "user3@example.com", Plan: "pro", Score: 3 });
    expect((await sentSince(send.endpoint, 0)).get("3")?.fields).toMatchObject({ Name: null });

    await pg(`UPDATE ${table} SET email = NULL WHERE id = '4'`);
    const from = await requests(skip.endpoint);
    expect(await runSync(skip.syncId)).toMatchObject({ status: "succeeded", rows_updated: 1 });
    expect((await sentSince(skip.endpoint, from)).get("4")?.fields).toEqual({ Id: "4", Name: "Name 4", Plan: "free", Score: 4 });
    // The destination keeps the email it had.
    expect((await webhookState(skip.endpoint)).rows["4"]?.Email).toBe("user4@example.com");
  });

  it("refuses bad values with a 400 naming the field, on create and on update", async () => {
    const table = await customersTable(3);
    const modelId = await modelOf(table);
    const destinationId = await createDestination({ type: "webhook", config: { url: webhookUrl(uniqueName("send")) } });
    const body = {
      name: "bad",
      model_id: modelId,
      destination_id: destinationId,
      mode: "upsert",
      schedule: { type: "manual" },
      field_mappings: MAPPINGS,
    };
    expectError(await api.post("/api/v1/syncs", { body: { ...body, send: "some_fields" } as never }), 400, "validation_failed", "send");
    expectError(
      await api.post("/api/v1/syncs", { body: { ...body, null_values: "drop" } as never }),
      400,
      "validation_failed",
      "null_values",
    );
    const created = await api.post("/api/v1/syncs", { body: body as never });
    expectStatus(created, 201);
    const id = created.body.id;
    expectError(await api.put(`/api/v1/syncs/${id}`, { body: { null_values: null } as never }), 400, "validation_failed", "null_values");
    const ok = await api.put(`/api/v1/syncs/${id}`, { body: { null_values: "skip" } });
    expectStatus(ok, 200);
    expect(ok.body).toMatchObject({ send: "all_fields", null_values: "skip" });
    expect((await api.get(`/api/v1/syncs/${id}`)).body).toMatchObject({ null_values: "skip" });
  });
});
