/**
 * The engine's CPU per million rows in Node, nothing else: COPY lines of the bench model (10
 * columns) into a PartitionWriter that holds the last snapshot's pairs (every row unchanged, as
 * in run 2 of the bench), in 64 KiB buffers of whole lines (`addCopyLines`, as ClickHouse hands them
 * over) and line by line (`addCopyLine`). Best of REPEAT (default 5). Run by bench/engine-cpu.mjs.
 */
import { copyColumns, PartitionWriter } from "../src/engine/extract";
import { loadHasher } from "../src/engine/hash";
import { KnownRows } from "../src/engine/known-rows";
import { choosePartitionCount } from "../src/engine/partition";

const N = Number(process.env.ROWS ?? 1_000_000);
const te = new TextEncoder();
const lines: Uint8Array[] = [];
for (let i = 1; i <= N; i++) {
  lines.push(
    te.encode(
      `${i}\tuser${i}@example.com\tPerson ${i}\tParis\t${i % 1000}\t${(i * 1.37).toFixed(2)}\t${i % 2 ? "t" : "f"}\t2024-01-01 00:00:${String(i % 60).padStart(2, "0")}+00\tplan-${i % 3}\t${((i * 2654435761) >>> 0).toString(16).padStart(8, "0")}0123456789abcdef01234567\n`,
    ),
  );
}
// 64 KiB buffers of whole lines, as ClickHouse's reader hands them over.
const buffers: Uint8Array[] = [];
{
  let parts: Uint8Array[] = [];
  let size = 0;
  const flush = () => {
    const b = new Uint8Array(size);
    let o = 0;
    for (const p of parts) {
      b.set(p, o);
      o += p.length;
    }
    buffers.push(b);
    parts = [];
    size = 0;
  };
  for (const l of lines) {
    parts.push(l);
    size += l.length;
    if (size >= 65536) flush();
  }
  if (size > 0) flush();
}
const hasher = await loadHasher();
const seed = hasher.mappingSeed(["a", "b", "c", "d", "e", "f", "g", "h", "i"]);
const known = new KnownRows(N);
for (const l of lines) {
  const tab = l.indexOf(9);
  known.add(hasher.hashKeyBytes(l.subarray(0, tab)), hasher.hashEncodedRow(l.subarray(tab + 1, l.length - 1), seed));
}
const P = choosePartitionCount(N);
const run = (batched: boolean) => {
  const t = performance.now();
  const w = new PartitionWriter(hasher, P, copyColumns(9), seed, {}, known);
  if (batched) for (const b of buffers) w.addCopyLines(b);
  else for (const l of lines) w.addCopyLine(l);
  w.finishAll();
  if (w.unchanged !== N) throw new Error(`unchanged ${w.unchanged} of ${N}`);
  return performance.now() - t;
};
const best = { lines: Infinity, line: Infinity };
for (let r = 0; r < Number(process.env.REPEAT ?? 5); r++) {
  best.lines = Math.min(best.lines, run(true));
  best.line = Math.min(best.line, run(false));
}
console.log(
  `P=${P} rows=${N}: addCopyLines ${((best.lines * 1e6) / N / 1000).toFixed(3)} s/1M rows, addCopyLine ${((best.line * 1e6) / N / 1000).toFixed(3)} s/1M rows`,
);
