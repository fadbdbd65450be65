import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

/**
 * A webhook destination for the delivery tests and the delivery bench, stricter than
 * test/servers/webhook-receiver.ts in the ways those need:
 * - it honours `Idempotency-Key` like a careful API does: a key whose request was applied is
 *   answered again from the stored response, never applied twice (so "no duplicate creates"
 *   holds only if redeliveries really carry the same key);
 * - it fails requests at random from a seeded generator (`chaos`), including timeouts after the
 *   batch was applied (the client never sees the answer and must resend);
 * - it refuses a whole batch that contains a given key (`reject_keys`), to exercise splitting;
 * - it accepts at most `accept_rps` requests per second (429 with Retry-After beyond);
 * - it logs every request with its arrival and answer times, to check rate limits and concurrency.
 *
 * Paths: `POST /hook/{name}` (the destination), `POST /config/{name}` (replaces the config,
 * keeps the rows), `GET /state/{name}` (`?bodies=1` includes request bodies). Each name is a
 * separate destination, so test files running in parallel never share one.
 */

export { CHAOS_KINDS, type ChaosKind, type SinkConfig, type SinkRequest } from "./delivery-sink-types";
import { CHAOS_KINDS, type ChaosKind, type SinkConfig, type SinkRequest } from "./delivery-sink-types";
import { seeded } from "./seeded";
import { json, readBody } from "./http";

interface Operation {
  op: string;
  key: string;
  fields?: Record<string, unknown>;
}

interface Endpoint {
  config: SinkConfig;
  rows: Map<string, Record<string, unknown>>;
  /** Times each key was created: a `create` applied, or another write that found no row. */
  creates: Map<string, number>;
  /** Stored answers by Idempotency-Key, for requests that were applied. */
  answered: Map<string, { status: number; body: unknown }>;
  log: SinkRequest[];
  random: () => number;
  arrivals: number[];
}

/** Starts the sink on 127.0.0.1 (port 0: any free port). */
export function startDeliverySink(port = 0): Promise<{ server: Server; port: number }> {
  const endpoints = new Map<string, Endpoint>();
  const endpointOf = (name: string): Endpoint => {
    let e = endpoints.get(name);
    if (!e) {
      e = { config: {}, rows: new Map(), creates: new Map(), answered: new Map(), log: [], random: seeded(1), arrivals: [] };
      endpoints.set(name, e);
    }
    return e;
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const [, kind, name = "default"] = url.pathname.split("/");
    try {
      const e = endpointOf(name);
      const raw = await readBody(req);
      if (req.method === "GET" && kind === "state") {
        const bodies = url.searchParams.get("bodies") === "1";
        return json(res, 200, {
          rows: Object.fromEntries(e.rows),
          creates: Object.fromEntries(e.creates),
          requests: e.log.map((r) => (bodies ? r : { ...r, body: undefined })),
        });
      }
      if (req.method === "POST" && kind === "config") {
        e.config = JSON.parse(raw || "{}") as SinkConfig;
        e.random = seeded(e.config.chaos?.seed ?? 1);
        return json(res, 200, { ok: true });
      }
      if (req.method === "POST" && kind === "hook") return await hook(e, req, raw, res);
      json(res, 404, { error: "unknown path" });
    } catch (err) {
      json(res, 400, { error: String(err) });
    }
  });
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      resolve({ server, port: typeof address === "object" && address ? address.port : port });
    });
  });
}

async function hook(e: Endpoint, req: IncomingMessage, raw: string, res: ServerResponse): Promise<void> {
  const at = Date.now();
  const body = JSON.parse(raw) as { batch_id?: string; operations?: Operation[] };
  const operations = body.operations ?? [];
  const header = req.headers["idempotency-key"];
  const entry: SinkRequest = {
    seq: e.log.length,
    at,
    end: at,
    batch_id: body.batch_id ?? null,
    idempotency_key: typeof header === "string" ? header : null,
    keys: operations.map((o) => o.key),
    status: 0,
    outcome: "",
    ...(e.config.keep_bodies ? { body } : {}),
  };
  e.log.push(entry);
  const answer = async (status: number, outcome: string, payload: unknown, headers: Record<string, string> = {}, holdMs = 0) => {
    if (holdMs > 0) await sleep(holdMs);
    entry.status = status;
    entry.outcome = outcome;
    entry.end = Date.now();
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(payload));
  };
  const { config } = e;

  if (config.accept_rps !== undefined) {
    e.arrivals = e.arrivals.filter((t) => t > at - 1000);
    if (e.arrivals.length >= config.accept_rps) return answer(429, "throttled", { error: "too many requests" }, { "retry-after": "1" });
    e.arrivals.push(at);
  }
  if (config.always) {
    const headers: Record<string, string> = config.always.retry_after === undefined ? {} : { "retry-after": config.always.retry_after };
    return answer(config.always.status, "refused", config.always.body ?? { error: `simulated ${config.always.status}` }, headers);
  }
  const replay = entry.idempotency_key === null ? undefined : e.answered.get(entry.idempotency_key);
  if (replay) return answer(replay.status, "replayed", replay.body);

  const rejected = operations.find((o) => config.reject_keys?.[o.key] !== undefined);
  if (rejected) return answer(400, "rejected", { error: config.reject_keys?.[rejected.key] });

  let chaos: ChaosKind | undefined;
  if (config.chaos && e.random() < config.chaos.rate) {
    chaos = CHAOS_KINDS[Math.floor(e.random() * CHAOS_KINDS.length)];
  }
  const hold = config.chaos?.hold_ms ?? 1500;
  switch (chaos) {
    case "server_error":
      return answer(503, "fault:server_error", { error: "chaos: service unavailable" });
    case "rate_limited":
      return answer(429, "fault:rate_limited", { error: "chaos: slow down" }, { "retry-after": config.chaos?.retry_after ?? "1" });
    case "timeout_before":
      return answer(504, "fault:timeout_before", { error: "chaos: too slow, nothing applied" }, {}, hold);
    default:
      break;
  }
  // Some records refused by the destination (random ones under chaos, configured ones always).
  const refused = new Map<string, string>();
  for (const o of operations) {
    const failure = config.fail_keys?.[o.key];
    if (failure !== undefined) refused.set(o.key, failure);
  }
  if (chaos === "record_errors" && operations.length > 0) {
    const victim = operations[Math.floor(e.random() * operations.length)];
    if (victim) refused.set(victim.key, `chaos: record ${victim.key} refused`);
  }
  const results = operations.map((o) => {
    const error = refused.get(o.key);
    if (error !== undefined) return { key: o.key, ok: false, error };
    if (o.op === "delete") e.rows.delete(o.key);
    else {
      // A create applied again (a resend that bypassed the Idempotency-Key) counts twice.
      if (o.op === "create" || !e.rows.has(o.key)) e.creates.set(o.key, (e.creates.get(o.key) ?? 0) + 1);
      e.rows.set(o.key, o.fields ?? {});
    }
    return { key: o.key, ok: true };
  });
  const payload = { results };
  if (entry.idempotency_key !== null) e.answered.set(entry.idempotency_key, { status: 200, body: payload });
  // Applied, then too slow to answer: the client times out and must resend under the same key.
  if (chaos === "timeout_after") return answer(200, "fault:timeout_after", payload, {}, hold);
  return answer(200, chaos ? `fault:${chaos}` : "applied", payload, {}, config.delay_ms ?? 0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
