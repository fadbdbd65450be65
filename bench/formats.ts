/**
 * Run-chunk format choice: the engine's binary chunk against NDJSON, on 200,000 synthetic rows of
 * 10 text columns (~140 bytes), in Node (bundled by bench/run.mjs). Encode = rows in, bytes out
 * (for ours including key and row hashes, which NDJSON would need computed separately); decode =
 * what the diff needs (keys, hashes) plus the values of 1% of rows.
 */
import { copyColumns, PartitionWriter } from "../src/engine/extract";
import { loadHasher, type RawValue } from "../src/engine/hash";
import { decodeRunChunk } from "../src/engine/snapshot";

const N = 200_000;
const te = new TextEncoder();
const td = new TextDecoder();
const rows: RawValue[][] = [];
for (let i = 1; i <= N; i++) {
  rows.push([
    String(i),
    `user${i}@example.com`,
    `Person ${i}`,
    "Paris",
    String(i % 1000),
    "123.45",
    "f",
    "2024-01-01 00:00:00+00",
    i % 10 ? "plan-3" : null,
    "0123456789abcdef0123456789abcdef",
  ]);
}
const lines = rows.map((r) => te.encode(`${r.map((v) => (v === null ? "\\N" : v)).join("\t")}\n`));

function time<T>(fn: () => T): [T, number] {
  const t = performance.now();
  const out = fn();
  return [out, performance.now() - t];
}

const hasher = await loadHasher();
const results: Record<string, { encodeMs: number; decodeMs: number; bytes: number }> = {};
for (let round = 0; round < 3; round++) {
  const [oursStrings, encStrings] = time(() => {
    const w = new PartitionWriter(hasher, 1, copyColumns(9), undefined, { maxChunkBytes: 1 << 30, maxBufferedBytes: 1 << 30 });
    for (const r of rows) w.add(r);
    return w.finishAll()[0]?.bytes ?? new Uint8Array(0);
  });
  const [oursCopy, encCopy] = time(() => {
    const w = new PartitionWriter(hasher, 1, copyColumns(9), undefined, { maxChunkBytes: 1 << 30, maxBufferedBytes: 1 << 30 });
    for (const l of lines) w.addCopyLine(l);
    return w.finishAll()[0]?.bytes ?? new Uint8Array(0);
  });
  const [, decOurs] = time(() => {
    const c = decodeRunChunk(oursCopy);
    let n = 0;
    for (let i = 0; i < c.count; i += 100) n += c.values(i).length;
    return n + (c.key(0)?.length ?? 0);
  });
  const [ndjson, encJson] = time(() =>
    te.encode(
      rows
        .map((r) => JSON.stringify([r[0], hasher.hashKey(r[0] ?? "").toString(16), hasher.hashRow(r.slice(1)).toString(16), ...r.slice(1)]))
        .join("\n"),
    ),
  );
  const [, decJson] = time(() => {
    const parsed = td
      .decode(ndjson)
      .split("\n")
      .map((l) => JSON.parse(l) as RawValue[]);
    return parsed.length;
  });
  if (round === 2) {
    results["binary chunk, rows as strings (add)"] = { encodeMs: encStrings, decodeMs: decOurs, bytes: oursStrings.length };
    results["binary chunk, COPY lines (addCopyLine)"] = { encodeMs: encCopy, decodeMs: decOurs, bytes: oursCopy.length };
    results["NDJSON [key, keyHash, rowHash, ...values]"] = { encodeMs: encJson, decodeMs: decJson, bytes: ndjson.length };
  }
}
console.log(JSON.stringify(results));
