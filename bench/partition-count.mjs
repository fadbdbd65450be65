// The engine's choice of partition count (src/engine/partition.ts), bundled once for a bench's Node
// side, so the bench sets up the partitions a run of that many rows would use.
import { join } from "node:path";
import { build } from "esbuild";

/** Bundles partition.ts into `dir` and returns its `choosePartitionCount`. */
export async function loadChoosePartitionCount(dir) {
  const outfile = join(dir, "partition.mjs");
  await build({
    entryPoints: [join(import.meta.dirname, "../src/engine/partition.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    outfile,
    logLevel: "warning",
  });
  return (await import(outfile)).choosePartitionCount;
}
