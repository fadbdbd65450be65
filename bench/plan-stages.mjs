#!/usr/bin/env node
/**
 * `flock /tmp/bench.lock npx node bench/plan-stages.mjs --rows 3000000 [--rounds 2] [--keep DIR | --state DIR]`
 *
 * Where the change plan's time goes (the bench's "diff = whole change plan", bench/worker.ts /diff):
 * builds run 1's snapshot and run 2's chunks as `npm run bench` does (N rows × 10 columns, 1%
 * changed; schema retl_plan_stages, dropped at the end), then times /diff stopped after each stage
 * of every partition (R2 reads; decoding; diff; plan + batches; commit; snapshot encoding; the
 * snapshot's put), alternated over rounds, from outside workerd. A stage's cost is its time minus
 * the previous one's. `--keep DIR` keeps the local R2 state in DIR; `--state DIR` reuses it (no Postgres).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { unstable_startWorker } from "wrangler";
import { loadChoosePartitionCount } from "./partition-count.mjs";
import { PG_URL, psql } from "./psql.mjs";
import { rowExpr } from "./sources.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const value = (name) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const n = Number((value("rows") ?? "3000000").replaceAll("_", ""));
const rounds = Number(value("rounds") ?? 2);
const reuse = value("state");
const persist = reuse ?? value("keep") ?? join(here, ".data", "plan-stages");
const STAGES = ["read", "decode", "diff", "batches", "commit", "encode", undefined];
const SCHEMA = "retl_plan_stages";
const FIELDS = ["id", "email", "name", "city", "score", "amount", "active", "created_at", "plan", "token"];
const MODEL = `SELECT ${FIELDS.join(", ")} FROM ${SCHEMA}.people`;

if (!reuse) rmSync(persist, { recursive: true, force: true });
mkdirSync(persist, { recursive: true });
const worker = await unstable_startWorker({
  config: join(here, "wrangler.toml"),
  dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, persist, logLevel: "error", watch: false },
});
await worker.ready;

async function call(path, job) {
  const t = performance.now();
  const res = await worker.fetch(`http://bench${path}`, { method: "POST", body: JSON.stringify(job) });
  const body = await res.json();
  if (!res.ok) throw new Error(`${path}: ${body.error ?? res.status}`);
  return { ...body, ms: performance.now() - t };
}

/** Run 1 (snapshot g1), 1% changed, run 2's extraction (chunks r2): the state /diff reads. */
async function prepare() {
  const choosePartitionCount = await loadChoosePartitionCount(persist);
  psql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE; CREATE SCHEMA ${SCHEMA};
    CREATE UNLOGGED TABLE ${SCHEMA}.people AS SELECT ${rowExpr("i")} FROM generate_series(1::bigint, ${n}) i;
    ALTER TABLE ${SCHEMA}.people ADD PRIMARY KEY (id); VACUUM ANALYZE ${SCHEMA}.people;`);
  try {
    const partitions = choosePartitionCount(n);
    const base = {
      connectionString: PG_URL,
      sql: MODEL,
      primaryKey: "id",
      mapped: FIELDS.slice(1),
      partitions,
      pageSize: 5000,
      mode: "mirror",
      batchSize: 500,
    };
    const ex1 = await call("/extract", { ...base, run: "r1" });
    await call("/diff", { ...base, run: "r1", prevGen: null, nextGen: "g1", chunkCounts: ex1.chunkCounts });
    await call("/cleanup", { prefixes: ["runs/r1/"] });
    psql(`UPDATE ${SCHEMA}.people SET score = score + 1, plan = coalesce(plan, 'none') || '+' WHERE id % 125 = 7;
      DELETE FROM ${SCHEMA}.people WHERE id % 1000 = 3;
      INSERT INTO ${SCHEMA}.people SELECT ${rowExpr("i")} FROM generate_series(${n + 1}::bigint, ${n + Math.floor(n / 1000)}) i;`);
    const ex = await call("/extract", { ...base, run: "r2", knownGen: "g1", knownRows: n });
    console.log(`state: P = ${partitions}, ${ex.chunks} chunks, ${(ex.bytes / 1e6).toFixed(1)} MB`);
    const job = { ...base, run: "r2", prevGen: "g1", chunkCounts: ex.chunkCounts };
    writeFileSync(join(persist, "job.json"), JSON.stringify(job));
    return job;
  } finally {
    psql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  }
}

try {
  const job = reuse ? JSON.parse(readFileSync(join(persist, "job.json"), "utf8")) : await prepare();
  const times = STAGES.map(() => []);
  let full = null;
  for (let r = 0; r < rounds; r++) {
    for (const [s, stop] of STAGES.entries()) {
      const out = await call("/diff", { ...job, nextGen: "gx", stop });
      times[s].push(out.ms);
      if (stop === undefined) full = out;
      await call("/cleanup", { prefixes: ["snap/gx/"] });
    }
  }
  // The first round reads cold objects: the best round per stage.
  const best = times.map((t) => Math.min(...t));
  console.log(
    `change plan by stage, ${full.rows.toLocaleString("en-US")} rows, P = ${job.partitions}, ${full.operations.toLocaleString("en-US")} operations; best of ${rounds} (cumulative s; increment)`,
  );
  for (const [s, stop] of STAGES.entries()) {
    const label = stop ?? `put (snapshot ${(full.snapshotBytes / 1e6).toFixed(1)} MB)`;
    const step = s === 0 ? best[s] : best[s] - best[s - 1];
    console.log(
      `  ${label.padEnd(34)} ${(best[s] / 1000).toFixed(2).padStart(7)}  ${(step / 1000).toFixed(2).padStart(6)}   [${times[s].map((t) => (t / 1000).toFixed(2)).join(" ")}]`,
    );
  }
} finally {
  await worker.dispose();
  if (!reuse && !value("keep")) rmSync(persist, { recursive: true, force: true });
}
