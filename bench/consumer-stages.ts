/**
 * Consumer-stages worker: each stage of the deliveries consumer's work on one 1,000-row message
 * (src/delivery/queue.ts), run `n` times per request so bench/consumer-stages.mjs can time it from
 * outside (inside workerd the clock only moves on I/O). The message is the run's own
 * (`deliveryMessage`: gzip-compressed operations shaped like the full-load bench's rows); the
 * webhook's answer comes from a fetch stub, so `send` is the connector's own work (body, results).
 */
import { Buffer } from "node:buffer";
import { gzipSync } from "node:zlib";
import { DeliveryMessageSchema, OperationsSchema } from "../src/delivery/message";
import { deliveryMessage, gunzipped } from "../src/delivery/producer";
import type { Operation } from "../src/destinations/destination";
import { webhookConnector } from "../src/destinations/webhook/connector";
import { encodeEntries, settledEntries } from "../src/run-log/entry";
import { writeBatchLog } from "../src/run-log/store";

interface StagesEnv {
  BENCH: R2Bucket;
}

const ROWS = 1000;
const RUN = "run_stages";
const BATCH = `${RUN}.3.1000`;
const operations: Operation[] = Array.from({ length: ROWS }, (_, j) => {
  const g = 100_000 + j;
  const fields = {
    email: `user${g}@example.com`,
    name: `Person ${g}`,
    plan: ["free", "pro", "enterprise"][g % 3],
    score: String(g % 1000),
  };
  return { op: "create", key: String(g), fields };
});
const answer = JSON.stringify({ results: operations.map((o) => ({ key: o.key, ok: true })) });
const context = {
  config: { url: "http://127.0.0.1:1/hook" },
  credentials: {},
  allowPrivate: true,
  fetch: (async () => new Response(answer, { status: 200 })) as unknown as typeof fetch,
} as Parameters<typeof webhookConnector.send>[0];
const send = () => webhookConnector.send(context, { sync_id: "s", run_id: RUN, batch_id: BATCH, operations });
const results = operations.map((o) => ({ key: o.key, ok: true as const, op: o.op }));
const entries = () =>
  settledEntries(operations, results, {
    batchId: BATCH,
    attempts: 1,
    response: { status: 200, body: answer },
    at: new Date().toISOString(),
  });

let message: Awaited<ReturnType<typeof deliveryMessage>> | undefined;
let json = "";

const stages: Record<string, (env: StagesEnv, i: number) => unknown> = {
  "message check (zod)": () => DeliveryMessageSchema.parse(message),
  gunzip: () => gunzipped(message?.operations_gzip ?? ""),
  "JSON.parse operations": () => JSON.parse(json),
  "operations check (zod)": () => OperationsSchema.parse(JSON.parse(json)),
  "webhook send (body, results; fetch stubbed)": () => send(),
  "run log entries + NDJSON": () => encodeEntries(entries()),
  "run log gzip": () => gzipSync(encodeEntries(entries())),
  "R2 put, 1 KB": (env, i) => env.BENCH.put(`small/${i}`, "x".repeat(1000)),
  "R2 put, run log as NDJSON": (env, i) => env.BENCH.put(`plain/${i}`, encodeEntries(entries())),
  "R2 put, run log gzipped": (env, i) => env.BENCH.put(`gzip/${i}`, gzipSync(encodeEntries(entries()))),
  "run log as the consumer writes it (writeBatchLog)": (env, i) => writeBatchLog(env.BENCH, "s", RUN, `${RUN}.3.${i}`, entries()),
};

export default {
  async fetch(request: Request, env: StagesEnv): Promise<Response> {
    const url = new URL(request.url);
    message ??= await deliveryMessage(
      env.BENCH,
      { sync_id: "s", run_id: RUN, destination_id: "d", workspace_id: "w" },
      BATCH,
      operations,
      "spill",
    );
    json ||= await gunzipped(message.operations_gzip ?? "");
    if (url.pathname === "/stages") return Response.json(Object.keys(stages));
    const stage = stages[url.searchParams.get("stage") ?? ""];
    if (!stage) return new Response("no such stage", { status: 404 });
    const n = Number(url.searchParams.get("n") ?? 100);
    for (let i = 0; i < n; i++) await stage(env, i);
    return Response.json({ bytes: Buffer.byteLength(json), gzip: message.operations_gzip?.length ?? 0 });
  },
};
