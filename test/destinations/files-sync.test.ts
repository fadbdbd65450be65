import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RunManifest } from "../../src/destinations/files/connector";
import { api, expectStatus } from "../harness";
import {
  changeModel,
  createDestination,
  createSync,
  customersTable,
  modelNow,
  modelOf,
  pg,
  type Rows,
  runSync,
  uniqueName,
} from "../harness/run";

/**
 * A files sync end to end through the API, on the Worker's own R2 bucket: a full export, then a
 * changes run, then full exports again (mirror deletes still reach the snapshot), each checked
 * against its manifest and the model's rows.
 */
const FIELDS = { email: "email", name: "name", plan: "plan", score: "score" };

async function object(key: string): Promise<string> {
  const found = await env.SNAPSHOTS.get(key);
  if (!found) {
    const listed = await env.SNAPSHOTS.list({ prefix: key.split("/").slice(0, 2).join("/") });
    throw new Error(`no object ${key}; there are ${listed.objects.map((o) => o.key).join(", ")}`);
  }
  return found.text();
}

/** A run's manifest and its rows (every file, in order), parsed from NDJSON. */
async function runOutput(syncId: string, runId: string) {
  const folder = `exports/${syncId}/e2e/${runId}/`;
  const manifest = JSON.parse(await object(`${folder}${runId}.manifest.json`)) as RunManifest;
  const rows: Record<string, unknown>[] = [];
  for (const file of manifest.files) {
    for (const line of (await object(`exports/${syncId}/${file.path}`)).trim().split("\n")) rows.push(JSON.parse(line));
  }
  expect(rows.length).toBe(manifest.rows);
  const staged = await env.SNAPSHOTS.list({ prefix: `exports/${syncId}/e2e/_staging/` });
  expect(
    staged.objects.map((o) => o.key),
    "staged parts are removed once the files are written",
  ).toEqual([]);
  return { manifest, rows };
}

const asRows = (rows: Record<string, unknown>[]): Rows =>
  Object.fromEntries(
    rows.map((r) => [
      String(r._key),
      { email: r.email as string, name: r.name as string, plan: r.plan as string, score: r.score === null ? null : String(r.score) },
    ]),
  );

describe("files sync end to end", () => {
  it("full export, then changes with _op, then full again: manifests and rows match the model", async () => {
    const table = await customersTable(40);
    const config = { format: "ndjson", contents: "full", path: "e2e/{{ run_id }}/", batch_size: 7 };
    const destinationId = await createDestination({ type: "files", config });
    const syncId = await createSync(await modelOf(table), destinationId, "mirror", FIELDS);

    const first = await runSync(syncId);
    expect(first, JSON.stringify(first)).toMatchObject({ status: "succeeded", rows_failed: 0 });
    const full = await runOutput(syncId, first.id);
    expect(full.manifest).toMatchObject({ contents: "full", format: "ndjson", rows: 40, operations: { create: 40, delete: 0 } });
    expect(full.manifest.schema.map((c) => c.name)).toEqual(["_key", "email", "name", "plan", "score"]);
    expect(asRows(full.rows)).toEqual(await modelNow(table));
    expect(full.rows.every((r) => !("_op" in r))).toBe(true);

    // Changes only: 5 new, 6 updated, 4 deleted.
    expectStatus(await api.put(`/api/v1/destinations/${destinationId}`, { body: { config: { ...config, contents: "changes" } } }), 200);
    await changeModel(table, 40);
    const second = await runSync(syncId);
    expect(second, JSON.stringify(second)).toMatchObject({ status: "succeeded", rows_created: 5, rows_updated: 6, rows_deleted: 4 });
    const changes = await runOutput(syncId, second.id);
    expect(changes.manifest).toMatchObject({ contents: "changes", rows: 15, operations: { create: 5, update: 6, delete: 4, upsert: 0 } });
    const byOp = (kind: string) =>
      changes.rows
        .filter((r) => r._op === kind)
        .map((r) => String(r._key))
        .sort();
    expect(byOp("create")).toEqual(["41", "42", "43", "44", "45"]);
    expect(byOp("update")).toEqual(["11", "12", "13", "14", "15", "16"]);
    expect(byOp("delete")).toEqual(["31", "32", "33", "34"]);
    // Deletes come first in a partition's plan (one partition here): their rows have only the key.
    expect(changes.rows[0]).toEqual({
      _op: "delete",
      _key: expect.stringMatching(/^3[1-4]$/),
      email: null,
      name: null,
      plan: null,
      score: null,
    });

    // Full again, after two more deletes: every row of the model; the deletes are planned (and counted).
    expectStatus(await api.put(`/api/v1/destinations/${destinationId}`, { body: { config } }), 200);
    await pg(`DELETE FROM ${table} WHERE id IN ('1', '2')`);
    const third = await runSync(syncId);
    expect(third, JSON.stringify(third)).toMatchObject({ status: "succeeded", rows_deleted: 2 });
    const again = await runOutput(syncId, third.id);
    expect(again.manifest).toMatchObject({ rows: 39, operations: { delete: 2 } });
    expect(asRows(again.rows)).toEqual(await modelNow(table));

    // And again with no change: the same 39 rows, no delete left over (the snapshot forgot 1 and 2).
    const fourth = await runSync(syncId);
    const last = await runOutput(syncId, fourth.id);
    expect(last.manifest).toMatchObject({ rows: 39, operations: { delete: 0 } });
    expect(asRows(last.rows)).toEqual(await modelNow(table));
  });
});

describe("files sync whose files cannot be assembled", () => {
  it("a bucket that refuses listing fails the run with the store's reason and commits nothing; the next run sends every row", async () => {
    const bucket = uniqueName("drop").replaceAll("_", "-");
    const control = (method: string, body: unknown) =>
      fetch(`${env.S3_URL}/_control/${bucket}`, { method, body: JSON.stringify(body) }).then((r) => r.body?.cancel());
    const keys = { access_key_id: "AKIDFILESSYNC", secret_access_key: "files-sync-secret" };
    // A write-only policy: PutObject is allowed, listing the staged parts is not.
    await control("PUT", { ...keys, region: "us-east-1", deny: ["ListObjectsV2"] });
    const table = await customersTable(12);
    const destinationId = await createDestination({
      type: "files",
      config: { target: "s3", endpoint: env.S3_URL, bucket, format: "csv", path: "drop/" },
      credentials: keys,
    });
    const syncId = await createSync(await modelOf(table), destinationId, "upsert", FIELDS);
    const failed = await runSync(syncId);
    expect(failed, JSON.stringify(failed)).toMatchObject({
      status: "failed",
      error: { code: "destination_finish_failed", message: expect.stringMatching(/s3:\/\/.*HTTP 403: S3 ListObjectsV2: AccessDenied/) },
    });

    await control("PATCH", {});
    const next = await runSync(syncId);
    expect(next, JSON.stringify(next)).toMatchObject({ status: "succeeded", rows_created: 12 });
    const manifest = (await (await fetch(`${env.S3_URL}/_control/${bucket}/drop/${next.id}.manifest.json`)).json()) as RunManifest;
    expect(manifest).toMatchObject({ rows: 12, operations: { upsert: 12 } });
  });
});
