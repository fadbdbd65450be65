import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { emptySnapshot, encodeSnapshot, type SnapshotPartition } from "../../src/engine/snapshot";
import { knownRowsOf } from "../../src/run/storage";
import { runOnce, type Row } from "../engine/helpers";

/** Three committed snapshot partitions of 100, 200 and 300 rows, stored in R2. */
async function storedSnapshot(): Promise<{ keys: string[]; parts: SnapshotPartition[] }> {
  const prefix = `test/known/${crypto.randomUUID()}/`;
  const parts: SnapshotPartition[] = [];
  const keys: string[] = [];
  for (const [p, n] of [100, 200, 300].entries()) {
    const model: Row[] = Array.from({ length: n }, (_, i) => [`p${p}-${i}`, `v${i}`]);
    const { snapshot } = await runOnce(emptySnapshot(), model, "mirror");
    parts.push(snapshot);
    keys.push(`${prefix}part-${p}`);
    await env.SNAPSHOTS.put(`${prefix}part-${p}`, encodeSnapshot(snapshot));
  }
  return { keys, parts };
}

describe("knownRowsOf", () => {
  it("holds every pair of a stored snapshot", async () => {
    const { keys, parts } = await storedSnapshot();
    const known = await knownRowsOf(env.SNAPSHOTS, keys, 600);
    if (!known) throw new Error("expected a set");
    expect(known.size).toBe(600);
    for (const part of parts) {
      for (let i = 0; i < part.count; i++) expect(known.has(part.keyHashes[i] ?? 0n, part.rowHashes[i] ?? 0n)).toBe(true);
    }
  });

  it("gives no set for an empty or too big snapshot, or one holding more than its pointer says", async () => {
    const { keys } = await storedSnapshot();
    expect(await knownRowsOf(env.SNAPSHOTS, keys, 0)).toBeNull();
    expect(await knownRowsOf(env.SNAPSHOTS, keys, 600, 599)).toBeNull();
    expect(await knownRowsOf(env.SNAPSHOTS, keys, 250)).toBeNull();
  });
});
