import { env } from "cloudflare:workers";
import { parquetReadObjects } from "hyparquet";
import { describe, expect, it } from "vitest";
import type { Batch, ConnectorContext, FinishedRun, Operation } from "../../src/destinations/destination";
import type { RunManifest } from "../../src/destinations/files/connector";
import type { FilesConfig, FilesCredentials } from "../../src/destinations/files/schema";
import { destinationOf } from "../../src/destinations/registry";
import { api, expectError } from "../harness";
import { parsedConfig, rowsOf, uniqueName } from "./helpers";

/**
 * The files destination against workerd's local R2 (the Worker's own SNAPSHOTS bucket) and the
 * fake S3 of test/servers/s3.ts, which checks every request's SigV4 signature. Files are read back
 * and parsed: CSV by an RFC 4180 reader below, NDJSON line by line, Parquet with hyparquet.
 */
const { connector } = destinationOf("files");
const S3_KEYS = { access_key_id: "AKIDFILESTEST", secret_access_key: "files-test-secret-key" };

function ctxOf(
  config: Record<string, unknown>,
  credentials: FilesCredentials = {},
  allowPrivate = true,
): ConnectorContext<FilesConfig, FilesCredentials> {
  return {
    config: parsedConfig("files", config),
    credentials,
    allowPrivate,
    fetch: globalThis.fetch.bind(globalThis),
    bucket: (binding) => (binding === "SNAPSHOTS" ? env.SNAPSHOTS : undefined),
  };
}

const op = (kind: Operation["op"], key: string, fields: Record<string, unknown> = {}): Operation => ({ op: kind, key, fields });
const person = (id: number, extra: Record<string, unknown> = {}) => ({ name: `Name ${id}`, score: id, vip: id % 2 === 0, ...extra });

function runOf(fields = ["name", "score", "vip"]): FinishedRun {
  return { sync_id: uniqueName("syn"), run_id: uniqueName("run"), started_at: "2026-03-04T05:06:07.000Z", fields };
}
const batchOf = (run: FinishedRun, batchId: string, operations: Operation[]): Batch => ({
  sync_id: run.sync_id,
  run_id: run.run_id,
  batch_id: `${run.run_id}.${batchId}`,
  operations,
});

/** The objects under `prefix` of the Worker's own bucket, keys and texts. */
async function r2Objects(prefix: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  const page = await env.SNAPSHOTS.list({ prefix });
  for (const o of page.objects)
    out.set(o.key, new Uint8Array((await (await env.SNAPSHOTS.get(o.key))?.arrayBuffer()) ?? new ArrayBuffer(0)));
  return out;
}
const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);

/** RFC 4180: fields separated by commas, records by CRLF, quoted fields may hold both and "" for a quote. */
function parseCsv(input: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = "";
  let quoted = false;
  let i = 0;
  while (i < input.length) {
    const c = input[i];
    const pair = input.slice(i, i + 2);
    if (quoted && pair === '""') {
      field += '"';
      i += 2;
      continue;
    }
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === ",") {
      record.push(field);
      field = "";
    } else if (!quoted && pair === "\r\n") {
      record.push(field);
      records.push(record);
      record = [];
      field = "";
      i += 1;
    } else field += c;
    i += 1;
  }
  expect(field === "" && record.length === 0, "the file ends with CRLF").toBe(true);
  return records;
}

describe("files destination on the Worker's R2 bucket", () => {
  it("changes as CSV: one file in plan order, RFC 4180 quoting, redelivered batches written once, a manifest, parts removed", async () => {
    const run = runOf();
    const ctx = ctxOf({ format: "csv", path: "crm/{{ sync_id }}/{{ yyyy }}/{{ mm }}/{{ dd }}/" });
    const first = batchOf(run, "0.0", [
      op("delete", "9"),
      op("create", "1", person(1, { name: 'Ann "A", Jr.\r\nline 2' })),
      op("update", "2", person(2)),
    ]);
    const second = batchOf(run, "0.3", [
      op("upsert", "3", person(3, { score: null })),
      op("create", "4", person(4, { extra: "not mapped" })),
    ]);
    // The second batch arrives first, the first one three times (two copies at once): each is one part.
    rowsOf(await connector.send(ctx, second));
    const copies = await Promise.all([connector.send(ctx, first), connector.send(ctx, first)]);
    for (const outcome of copies) expect([...rowsOf(outcome).values()].every((r) => r.ok)).toBe(true);
    rowsOf(await connector.send(ctx, first));

    expect(await connector.finishRun?.(ctx, run)).toEqual({ ok: true });
    const root = `exports/${run.sync_id}/`;
    const objects = await r2Objects(root);
    const folder = `${root}crm/${run.sync_id}/2026/03/04/`;
    expect([...objects.keys()].sort()).toEqual([`${folder}${run.run_id}-00001.csv`, `${folder}${run.run_id}.manifest.json`]);
    const records = parseCsv(text(objects.get(`${folder}${run.run_id}-00001.csv`)));
    expect(records).toEqual([
      ["_op", "_key", "name", "score", "vip"],
      ["delete", "9", "", "", ""],
      ["create", "1", 'Ann "A", Jr.\r\nline 2', "1", "false"],
      ["update", "2", "Name 2", "2", "true"],
      ["upsert", "3", "Name 3", "", "false"],
      ["create", "4", "Name 4", "4", "true"],
    ]);
    const manifest = JSON.parse(text(objects.get(`${folder}${run.run_id}.manifest.json`))) as RunManifest;
    expect(manifest).toMatchObject({
      version: 1,
      sync_id: run.sync_id,
      run_id: run.run_id,
      format: "csv",
      contents: "changes",
      rows: 5,
      operations: { create: 2, update: 1, upsert: 1, delete: 1 },
      files: [{ path: `crm/${run.sync_id}/2026/03/04/${run.run_id}-00001.csv`, rows: 5 }],
      schema: [
        { name: "_op", type: "string" },
        { name: "_key", type: "string" },
        { name: "name", type: "string" },
        { name: "score", type: "number" },
        { name: "vip", type: "boolean" },
      ],
    });

    // Finishing again (a crash before the run's checkpoint) changes nothing.
    expect(await connector.finishRun?.(ctx, run)).toEqual({ ok: true });
    const again = await r2Objects(root);
    expect([...again.keys()].sort()).toEqual([...objects.keys()].sort());
    expect(text(again.get(`${folder}${run.run_id}-00001.csv`))).toBe(text(objects.get(`${folder}${run.run_id}-00001.csv`)));
  });

  it("a full export as NDJSON has every row and no _op; deleted keys are counted, not written", async () => {
    const run = runOf(["name", "score", "vip", "tags"]);
    const ctx = ctxOf({ format: "ndjson", contents: "full", path: "" });
    expect(destinationOf("files").plansEveryRow?.(ctx.config)).toBe(true);
    expect(destinationOf("files").plansEveryRow?.(ctxOf({ contents: "changes" }).config)).toBe(false);
    rowsOf(await connector.send(ctx, batchOf(run, "0.0", [op("delete", "7"), op("create", "1", person(1, { tags: ["a", "b"] }))])));
    rowsOf(await connector.send(ctx, batchOf(run, "1.0", [op("create", "2", person(2))])));
    expect(await connector.finishRun?.(ctx, run)).toEqual({ ok: true });
    const objects = await r2Objects(`exports/${run.sync_id}/`);
    const lines = text(objects.get(`exports/${run.sync_id}/${run.run_id}-00001.ndjson`)).split("\n");
    expect(lines.pop()).toBe("");
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      { _key: "1", name: "Name 1", score: 1, vip: false, tags: ["a", "b"] },
      { _key: "2", name: "Name 2", score: 2, vip: true, tags: null },
    ]);
    const manifest = JSON.parse(text(objects.get(`exports/${run.sync_id}/${run.run_id}.manifest.json`))) as RunManifest;
    expect(manifest).toMatchObject({ contents: "full", rows: 2, operations: { create: 2, delete: 1 } });
    expect(manifest.schema.map((c) => c.name)).toEqual(["_key", "name", "score", "vip", "tags"]);
  });

  it("Parquet files read back with hyparquet, typed columns and nulls", async () => {
    const run = runOf();
    const ctx = ctxOf({ format: "parquet", path: "lake/{{ date }}/{{ run_id }}/" });
    const operations = Array.from({ length: 50 }, (_, i) => op(i === 7 ? "delete" : "upsert", String(i), i === 7 ? {} : person(i)));
    rowsOf(await connector.send(ctx, batchOf(run, "0.0", operations)));
    expect(await connector.finishRun?.(ctx, run)).toEqual({ ok: true });
    const folder = `exports/${run.sync_id}/lake/2026-03-04/${run.run_id}/`;
    const objects = await r2Objects(folder);
    const bytes = objects.get(`${folder}${run.run_id}-00001.parquet`);
    if (!bytes) throw new Error(`no parquet file among ${[...objects.keys()].join(", ")}`);
    const rows = await parquetReadObjects({ file: bytes.slice().buffer });
    expect(rows).toHaveLength(50);
    expect(rows[7]).toEqual({ _op: "delete", _key: "7", name: null, score: null, vip: null });
    expect(rows[8]).toEqual({ _op: "upsert", _key: "8", name: "Name 8", score: 8, vip: true });
  });

  it("a run larger than file_size_mb is split into files of about that size, every row once", async () => {
    const run = runOf(["name", "blob"]);
    const ctx = ctxOf({ format: "ndjson", file_size_mb: 1, path: "big/" });
    const blob = "x".repeat(10_000);
    for (let b = 0; b < 25; b++) {
      const ops = Array.from({ length: 10 }, (_, i) => op("create", String(b * 10 + i), { name: `n${b * 10 + i}`, blob }));
      rowsOf(await connector.send(ctx, batchOf(run, `0.${b * 10}`, ops)));
    }
    expect(await connector.finishRun?.(ctx, run)).toEqual({ ok: true });
    const manifest = JSON.parse(
      text((await r2Objects(`exports/${run.sync_id}/big/${run.run_id}.manifest.json`)).values().next().value),
    ) as RunManifest;
    expect(manifest.files.map((f) => f.path)).toEqual([1, 2, 3].map((n) => `big/${run.run_id}-0000${n}.ndjson`));
    expect(manifest.files.map((f) => f.rows)).toEqual([105, 105, 40]);
    for (const f of manifest.files.slice(0, -1)) expect(f.bytes).toBeGreaterThanOrEqual(1024 * 1024);
    const keys: string[] = [];
    for (const f of manifest.files) {
      const body = text((await r2Objects(`exports/${run.sync_id}/${f.path}`)).get(`exports/${run.sync_id}/${f.path}`));
      expect(body.length).toBe(f.bytes);
      keys.push(
        ...body
          .trim()
          .split("\n")
          .map((l) => (JSON.parse(l) as { _key: string })._key),
      );
    }
    // Plan order across parts: batch ids sort numerically (0.10 after 0.9).
    expect(keys).toEqual(Array.from({ length: 250 }, (_, i) => String(i)));
  });

  it("another binding that is not bound: test and send say which binding is missing", async () => {
    const ctx = ctxOf({ r2_binding: "EXPORTS" });
    expect(await connector.test(ctx)).toEqual({
      ok: false,
      error: expect.stringMatching(/no R2 bucket is bound to this Worker as EXPORTS/),
    });
    const outcome = await connector.send(ctx, batchOf(runOf(), "0.0", [op("create", "1")]));
    expect(outcome).toMatchObject({ kind: "rejected", error: expect.stringMatching(/EXPORTS/) });
    expect(await connector.test(ctxOf({}))).toEqual({ ok: true });
  });
});

describe("files destination through the API's connection test", () => {
  it("only an R2 binding is a bucket: the Worker's other bindings (D1, a secret) are refused by name", async () => {
    const testOf = async (r2_binding: string) => {
      const id = (await api.post("/api/v1/destinations", { body: { name: "files", type: "files", config: { r2_binding } } })).body.id;
      return (await api.post(`/api/v1/destinations/${id}/test`)).body;
    };
    expect(await testOf("SNAPSHOTS")).toEqual({ ok: true });
    for (const binding of ["DB", "ENCRYPTION_KEY", "SYNC", "toString"]) {
      expect(await testOf(binding)).toEqual({
        ok: false,
        error: `no R2 bucket is bound to this Worker as ${binding} (wrangler.toml [[r2_buckets]])`,
      });
    }
  });

  it("another bound bucket keeps the path as given (no exports/{sync}/ folder, which only guards the Worker's own bucket)", async () => {
    const run = runOf();
    // The test Worker has one bucket: here it stands in for a second binding named LAKE.
    const ctx = {
      ...ctxOf({ r2_binding: "LAKE", path: `lake-${run.sync_id}/`, format: "ndjson" }),
      bucket: (b: string) => (b === "LAKE" ? env.SNAPSHOTS : undefined),
    };
    rowsOf(await connector.send(ctx, batchOf(run, "0.0", [op("create", "1", person(1))])));
    expect(await connector.finishRun?.(ctx, run)).toEqual({ ok: true });
    expect([...(await r2Objects(`lake-${run.sync_id}/`)).keys()].sort()).toEqual([
      `lake-${run.sync_id}/${run.run_id}-00001.ndjson`,
      `lake-${run.sync_id}/${run.run_id}.manifest.json`,
    ]);
  });
});

describe("files destination on S3-compatible storage (SigV4 checked by the fake)", () => {
  async function s3Bucket(options: { slow_down?: number } = {}) {
    const bucket = uniqueName("drop").replaceAll("_", "-");
    const res = await fetch(`${env.S3_URL}/_control/${bucket}`, {
      method: "PUT",
      body: JSON.stringify({ ...S3_KEYS, region: "eu-west-1", ...options }),
    });
    expect(res.status).toBe(201);
    return {
      bucket,
      config: { target: "s3", endpoint: env.S3_URL, bucket, region: "eu-west-1", format: "csv", path: "out/{{ run_id }}/" },
    };
  }
  const s3State = async (bucket: string) =>
    (await (await fetch(`${env.S3_URL}/_control/${bucket}`)).json()) as { objects: { key: string }[]; requests: { status: number }[] };

  it("writes parts, files and the manifest with signed requests; a redelivered batch is one part", async () => {
    const { bucket, config } = await s3Bucket();
    const ctx = ctxOf(config, S3_KEYS);
    expect(await connector.test(ctx)).toEqual({ ok: true });
    const run = runOf();
    const batch = batchOf(run, "0.0", [op("create", "a/b c", person(1)), op("create", "2", person(2))]);
    rowsOf(await connector.send(ctx, batch));
    rowsOf(await connector.send(ctx, batch));
    const staged = (await s3State(bucket)).objects.map((o) => o.key);
    expect(staged).toEqual([`out/_staging/${run.sync_id}/${run.run_id}/${batch.batch_id}.ndjson`]);
    expect(await connector.finishRun?.(ctx, run)).toEqual({ ok: true });
    const state = await s3State(bucket);
    expect(state.objects.map((o) => o.key).sort()).toEqual([
      `out/${run.run_id}/${run.run_id}-00001.csv`,
      `out/${run.run_id}/${run.run_id}.manifest.json`,
    ]);
    // Every request passed the signature check; the only miss is the manifest looked for before it was written.
    expect(state.requests.filter((r) => r.status >= 300).map((r) => r.status)).toEqual([404]);
    const csv = await (await fetch(`${env.S3_URL}/_control/${bucket}/out/${run.run_id}/${run.run_id}-00001.csv`)).text();
    expect(parseCsv(csv).map((r) => r[1])).toEqual(["_key", "a/b c", "2"]);
    const manifest = (await (
      await fetch(`${env.S3_URL}/_control/${bucket}/out/${run.run_id}/${run.run_id}.manifest.json`)
    ).json()) as RunManifest;
    expect(manifest).toMatchObject({ rows: 2, files: [{ path: `out/${run.run_id}/${run.run_id}-00001.csv`, rows: 2 }] });
  });

  it("a wrong secret is refused by the signature check (auth_failed with S3's code); a wrong key id too", async () => {
    const { config } = await s3Bucket();
    const wrongSecret = await connector.send(
      ctxOf(config, { ...S3_KEYS, secret_access_key: "not-the-secret" }),
      batchOf(runOf(), "0.0", [op("create", "1")]),
    );
    expect(wrongSecret).toMatchObject({
      kind: "auth_failed",
      error: expect.stringMatching(/HTTP 403: S3 PutObject: SignatureDoesNotMatch/),
    });
    const wrongKey = await connector.test(ctxOf(config, { ...S3_KEYS, access_key_id: "AKIDOTHER" }));
    expect(wrongKey).toEqual({ ok: false, error: expect.stringMatching(/InvalidAccessKeyId/) });
    const noKeys = await connector.send(ctxOf(config, {}), batchOf(runOf(), "0.0", [op("create", "1")]));
    expect(noKeys).toMatchObject({ kind: "rejected", error: expect.stringMatching(/needs credentials.access_key_id/) });
  });

  it("503 SlowDown is retried later; a finish that cannot write fails with the store's reason", async () => {
    const { config } = await s3Bucket({ slow_down: 1 });
    const ctx = ctxOf(config, S3_KEYS);
    const batch = batchOf(runOf(), "0.0", [op("create", "1", person(1))]);
    expect(await connector.send(ctx, batch)).toMatchObject({ kind: "retry", error: expect.stringMatching(/503: S3 PutObject: SlowDown/) });
    rowsOf(await connector.send(ctx, batch));
    const gone = ctxOf({ ...config, bucket: "no-such-bucket" }, S3_KEYS);
    expect(await connector.finishRun?.(gone, runOf())).toEqual({
      ok: false,
      error: expect.stringMatching(/s3:\/\/no-such-bucket\/.*NoSuchBucket/),
    });
  });

  it("the SSRF guard refuses a private endpoint unless the deployment allows it", async () => {
    const { config } = await s3Bucket();
    const outcome = await connector.send(ctxOf(config, S3_KEYS, false), batchOf(runOf(), "0.0", [op("create", "1")]));
    expect(outcome).toMatchObject({ kind: "rejected", error: expect.stringMatching(/destination URL refused/) });
  });
});

describe("files destination settings", () => {
  it("400 naming the field: unknown path placeholder, .. segments, s3 without endpoint or bucket", async () => {
    const post = (config: Record<string, unknown>) => api.post("/api/v1/destinations", { body: { name: "files", type: "files", config } });
    const unknown = expectError(await post({ path: "{{ user }}/" }), 400, "validation_failed", "config.path");
    expect(JSON.stringify(unknown.details)).toMatch(/unknown placeholder \{\{ user \}\}/);
    expectError(await post({ path: "a/../b/" }), 400, "validation_failed", "config.path");
    expectError(await post({ target: "s3", bucket: "drop" }), 400, "validation_failed", "config.endpoint");
    expectError(await post({ target: "s3", endpoint: "https://s3.example.com" }), 400, "validation_failed", "config.bucket");
    expectError(await post({ format: "xlsx" }), 400, "validation_failed", "config.format");
    expectError(await post({ file_size_mb: 65 }), 400, "validation_failed", "config.file_size_mb");
  });
});
