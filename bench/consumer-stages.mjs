#!/usr/bin/env node
/**
 * Where the deliveries consumer's time per 1,000-row message goes, stage by stage, in workerd
 * (bench/consumer-stages.ts, local R2): `node bench/consumer-stages.mjs [--n 200] [--repeat 3]`.
 * Each stage runs n times in one request, timed from outside; best of --repeat, minus an empty
 * request's time. Everything in `wrangler dev` shares one workerd thread (consumer, sync objects,
 * queue broker, R2 emulation), so the R2 puts count against the consumer here.
 */
import { dirname, join } from "node:path";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { unstable_startWorker } from "wrangler";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const value = (name, fallback) => Number(args[args.indexOf(`--${name}`) + 1] ?? fallback) || fallback;
const n = value("n", 200);
const repeat = value("repeat", 3);
const persist = join(here, ".data", `consumer-stages-${process.pid}`);

process.env.WRANGLER_SEND_METRICS = "false";
const worker = await unstable_startWorker({
  config: join(here, "consumer-stages.toml"),
  dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, persist, logLevel: "error", watch: false },
});
await worker.ready;
try {
  const timed = async (query) => {
    const started = performance.now();
    const res = await worker.fetch(`http://stages/run?${query}`);
    const body = await res.json();
    return { ms: performance.now() - started, body };
  };
  const stages = await (await worker.fetch("http://stages/stages")).json();
  const { body } = await timed(`stage=${encodeURIComponent(stages[0])}&n=1`);
  console.log(
    `1,000 operations: ${body.bytes} B of JSON, ${body.gzip} B gzip+base64 in the message; ms per message, best of ${repeat} × ${n}:`,
  );
  let empty = Number.POSITIVE_INFINITY;
  for (let r = 0; r < repeat; r++) empty = Math.min(empty, (await timed(`stage=${encodeURIComponent(stages[0])}&n=0`)).ms);
  for (const stage of stages) {
    let best = Number.POSITIVE_INFINITY;
    for (let r = 0; r < repeat; r++) best = Math.min(best, (await timed(`stage=${encodeURIComponent(stage)}&n=${n}`)).ms);
    console.log(`  ${stage.padEnd(44)} ${((best - empty) / n).toFixed(3)} ms`);
  }
} finally {
  await worker.dispose();
  rmSync(persist, { recursive: true, force: true });
}
