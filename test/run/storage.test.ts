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

const holds = (known: { has(k: bigint, r: bigint): boolean }, part: SnapshotPartition) =>
  Array.from({ length: part.count }, (_, i) => known.has(part.keyHashes[i] ?? 0n, part.rowHashes[i] ?? 0n));

describe("knownRowsOf", () => {
  it("holds every pair of a snapshot that fits", async () => {
    const { keys, parts } = await storedSnapshot();
    const known = await knownRowsOf(env.SNAPSHOTS, keys, 600);
    if (!known) throw new Error("expected a set");
    expect(known.size).toBe(600);
    for (const part of parts) expect(holds(known, part).every(Boolean)).toBe(true);
  });

  it("holds the first partitions of a snapshot too big to hold, so the rest keep their values", async () => {
    const { keys, parts } = await storedSnapshot();
    const known = await knownRowsOf(env.SNAPSHOTS, keys, 600, 350);
    if (!known) throw new Error("expected a set");
    expect(known.size).toBe(300);
    expect(holds(known, parts[0] as SnapshotPartition).every(Boolean)).toBe(true);
    expect(holds(known, parts[1] as SnapshotPartition).every(Boolean)).toBe(true);
    expect(holds(known, parts[2] as SnapshotPartition).some(Boolean)).toBe(false);
  });

  it("gives no set when the snapshot holds more entries than its pointer says", async () => {
    const { keys } = await storedSnapshot();
    expect(await knownRowsOf(env.SNAPSHOTS, keys, 250)).toBeNull();
    expect(await knownRowsOf(env.SNAPSHOTS, keys, 0)).toBeNull();
  });
});
