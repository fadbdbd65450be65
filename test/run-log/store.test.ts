import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { copyColumns, PartitionWriter } from "../../src/engine/extract";
import { loadHasher } from "../../src/engine/hash";
import { decodeRunChunk } from "../../src/engine/snapshot";
import { plannedEntries } from "../../src/run-log/entry";
import { operationsPage, writeBatchLog, writeRunManifest } from "../../src/run-log/store";

describe("run log store", () => {
  it("finds a key in the partition the engine put it in, reading only that partition", async () => {
    const syncId = `syn_store_${crypto.randomUUID().slice(0, 8)}`;
    const runId = "run_store";
    const partitions = 8;
    // The engine's own partitioning of 200 keys (extraction's PartitionWriter), one batch per partition.
    const writer = new PartitionWriter(await loadHasher(), partitions, copyColumns(1));
    for (let i = 0; i < 200; i++) writer.add([`key-${i}`, String(i)]);
    const byPartition = new Map<number, string[]>();
    for (const chunk of writer.finishAll()) {
      const rows = decodeRunChunk(chunk.bytes);
      for (let i = 0; i < rows.count; i++)
        byPartition.set(chunk.partition, [...(byPartition.get(chunk.partition) ?? []), rows.key(i) ?? ""]);
    }
    expect(byPartition.size).toBe(partitions);
    await writeRunManifest(env.SNAPSHOTS, syncId, runId, { partitions, dry_run: true });
    for (const [p, keys] of byPartition) {
      const batchId = `${runId}.${p}.0`;
      const ops = keys.map((key) => ({ op: "upsert" as const, key, fields: { n: key } }));
      await writeBatchLog(env.SNAPSHOTS, syncId, runId, batchId, plannedEntries(ops, batchId, "t"));
    }

    for (let i = 0; i < 200; i += 7) {
      const page = await operationsPage(env.SNAPSHOTS, syncId, runId, { key: `key-${i}` }, 10, null);
      expect(page?.data.map((e) => e.key)).toEqual([`key-${i}`]);
    }
    const all = await operationsPage(env.SNAPSHOTS, syncId, runId, {}, 500, null);
    expect(all?.data).toHaveLength(200);

    // With a wrong partition count only one folder is read: keys outside it are not found.
    await writeRunManifest(env.SNAPSHOTS, syncId, runId, { partitions: 1, dry_run: true });
    const inFirst = new Set(byPartition.get(0));
    const outside = [...(byPartition.get(5) ?? [])][0] ?? "";
    expect(inFirst.has(outside)).toBe(false);
    expect((await operationsPage(env.SNAPSHOTS, syncId, runId, { key: outside }, 10, null))?.data).toEqual([]);
  });
});
