import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { json, readBody, tenants } from "./http";
import { seeded } from "./seeded";
import {
  CHAOS_KINDS,
  type ChaosKind,
  type Delivery,
  type Fault,
  type ReceiverState,
  type ReceiverStats,
  type ReceiverSummary,
  type WebhookConfig,
} from "./webhook-receiver-types";

/**
 * The fake webhook destination of the tests, stress suites and delivery bench: applies
 * `{batch_id, operations:[{op,key,fields}]}` to an in-memory table per endpoint and answers
 * `{results:[{key,ok,error?}]}` like a careful API (an update or upsert of a held row merges its
 * fields into the row, like a CRM's PATCH). Per endpoint (`POST /config/{name}`,
 * {@link WebhookConfig}) it can
 * - refuse single records (`fail_keys`) or whole batches (`reject_keys`);
 * - check an HMAC signature (`signing_secret`) and honour `Idempotency-Key` (`idempotent`);
 * - play canned faults in order (`faults`: statuses, Retry-After, delays, connection resets),
 *   fail at random from a seeded generator (`chaos`), or refuse everything (`always`);
 * - accept at most `accept_rps` requests per second (429 with Retry-After beyond) and hold each
 *   answer `delay_ms`.
 * It logs every request with its arrival and answer times and counts what it saw (stats), so tests
 * assert counts as the receiver saw them.
 *
 * Paths: `POST /hook/{name}` (the destination), `POST /config/{name}`, `GET /state/{name}`
 * (`?summary=1`: counters only; `?bodies=1`: with kept request bodies), `* /redirect/{name}` (a
 * 302 to the hook, which destinations must not follow). Each name is a separate destination, so
 * test files running in parallel never share one.
 */
export function startWebhookReceiver(port = 0): Promise<{ server: Server; port: number }> {
  const endpointOf = tenants<Endpoint>(newEndpoint).of;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const [, kind, name = "default"] = url.pathname.split("/");
    try {
      const e = endpointOf(name);
      if (req.method === "GET" && kind === "state") {
        if (url.searchParams.get("summary") === "1") return json(res, 200, summaryOf(e));
        return json(res, 200, stateOf(e, url.searchParams.get("bodies") === "1"));
      }
      if (req.method === "POST" && kind === "config") {
        const config = JSON.parse((await readBody(req)) || "{}") as WebhookConfig;
        e.config = config;
        e.faults = (config.faults ?? []).map((f) => ({ ...f }));
        e.random = seeded(config.chaos?.seed ?? 1);
        return json(res, 200, { ok: true });
      }
      if (kind === "redirect") {
        res.writeHead(302, { location: `/hook/${name}` });
        return res.end();
      }
      if (req.method === "POST" && kind === "hook") return await hook(e, req, await readBody(req), res);
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

interface Operation {
  op: string;
  key: string;
  fields?: Record<string, unknown>;
}

/** What one named endpoint holds: its config, the destination's current rows and its history. */
interface Endpoint {
  config: WebhookConfig;
  rows: Map<string, Record<string, unknown>>;
  requests: number;
  operations: number;
  creates: Map<string, number>;
  batchIds: string[];
  /** Canned answers still to play (set through /config). */
  faults: Fault[];
  faultsPerKey: Map<string, number>;
  deliveries: Delivery[];
  /** Stored answers and body hashes by Idempotency-Key (idempotent mode). */
  answered: Map<string, { body: unknown; hash: string }>;
  random: () => number;
  /** Arrival times of the accepted requests in the last second (accept_rps). */
  arrivals: number[];
  inFlight: number;
  stats: ReceiverStats;
}

function newEndpoint(): Endpoint {
  return {
    config: {},
    rows: new Map(),
    requests: 0,
    operations: 0,
    creates: new Map(),
    batchIds: [],
    faults: [],
    faultsPerKey: new Map(),
    deliveries: [],
    answered: new Map(),
    random: seeded(1),
    arrivals: [],
    inFlight: 0,
    stats: {
      faults_served: {},
      replays: 0,
      idempotency_conflicts: 0,
      record_rejections: 0,
      batch_rejections: 0,
      duplicate_creates: 0,
      updates_of_missing: 0,
      deletes_of_missing: 0,
      peak_in_flight: 0,
    },
  };
}

function stateOf(e: Endpoint, bodies: boolean): ReceiverState {
  return {
    rows: Object.fromEntries(e.rows),
    requests: e.requests,
    operations: e.operations,
    creates: Object.fromEntries(e.creates),
    batch_ids: e.batchIds,
    deliveries: bodies ? e.deliveries : e.deliveries.map(({ body: _body, ...d }) => d),
    faults_pending: e.faults.length,
    stats: e.stats,
  };
}

function summaryOf(e: Endpoint): ReceiverSummary {
  return { requests: e.requests, operations: e.operations, row_count: e.rows.size, faults_pending: e.faults.length, stats: e.stats };
}

async function hook(e: Endpoint, req: IncomingMessage, raw: string, res: ServerResponse): Promise<void> {
  const { config } = e;
  const delivery = recordDelivery(e, req, raw);
  e.inFlight += 1;
  e.stats.peak_in_flight = Math.max(e.stats.peak_in_flight, e.inFlight);
  let finished = false;
  const finish = (status: number, outcome: string) => {
    if (finished) return;
    finished = true;
    e.inFlight -= 1;
    delivery.status = status;
    delivery.outcome = outcome;
    delivery.end = Date.now();
  };
  const answer = async (status: number, outcome: string, payload: unknown, headers: Record<string, string> = {}, holdMs = 0) => {
    if (holdMs > 0) await sleep(holdMs);
    finish(status, outcome);
    json(res, status, payload, headers);
  };
  const reset = (outcome: string) => {
    finish(0, outcome);
    req.socket.destroy();
  };

  if (delivery.signature_valid === false) return answer(401, "bad_signature", { error: "invalid signature" });
  if (config.accept_rps !== undefined) {
    e.arrivals = e.arrivals.filter((t) => t > delivery.at - 1000);
    if (e.arrivals.length >= config.accept_rps) return answer(429, "throttled", { error: "too many requests" }, { "retry-after": "1" });
    e.arrivals.push(delivery.at);
  }
  if (config.always) {
    const headers: Record<string, string> = config.always.retry_after === undefined ? {} : { "retry-after": config.always.retry_after };
    return answer(config.always.status, "refused", config.always.body ?? { error: `simulated ${config.always.status}` }, headers);
  }
  const key = delivery.idempotency_key;
  const hash = createHash("sha256").update(raw).digest("hex");
  /** The stored answer for this request's key (idempotent mode), counting a reuse for other data. */
  const replayOf = () => {
    const stored = config.idempotent && key !== null ? e.answered.get(key) : undefined;
    if (stored && stored.hash !== hash) e.stats.idempotency_conflicts += 1;
    if (stored) e.stats.replays += 1;
    return stored;
  };
  const early = replayOf();
  if (early) return answer(200, "replayed", early.body);

  const fault = nextFault(e, key);
  const label = fault ? faultLabel(fault) : undefined;
  if (fault && label) {
    e.stats.faults_served[label] = (e.stats.faults_served[label] ?? 0) + 1;
    if (key !== null) e.faultsPerKey.set(key, (e.faultsPerKey.get(key) ?? 0) + 1);
  }
  if (fault?.delay_ms) await sleep(fault.delay_ms);
  if (fault?.reset === "before") return reset(`fault:${label}`);
  if (fault?.status) {
    const headers: Record<string, string> = fault.retry_after === undefined ? {} : { "retry-after": fault.retry_after };
    return answer(fault.status, `fault:${label}`, fault.body ?? { error: `simulated ${fault.status}` }, headers);
  }
  let body: { batch_id?: string; mode?: string; operations?: Operation[] };
  try {
    body = JSON.parse(raw) as typeof body;
  } catch (err) {
    return answer(400, "bad_request", { error: String(err) });
  }
  const operations = body.operations ?? [];
  // After a delay another copy of this batch may have been applied meanwhile: look again.
  const late = fault?.delay_ms ? replayOf() : undefined;
  if (late) return answer(200, "replayed", late.body);

  const rejected = operations.find((o) => config.reject_keys?.[o.key] !== undefined);
  if (rejected) {
    e.stats.batch_rejections += 1;
    return answer(400, "rejected", { error: config.reject_keys?.[rejected.key] });
  }
  let chaos: ChaosKind | undefined;
  if (config.chaos && e.random() < config.chaos.rate) chaos = CHAOS_KINDS[Math.floor(e.random() * CHAOS_KINDS.length)];
  const hold = config.chaos?.hold_ms ?? 1500;
  if (chaos === "server_error") return answer(503, "fault:server_error", { error: "chaos: service unavailable" });
  if (chaos === "rate_limited") {
    return answer(429, "fault:rate_limited", { error: "chaos: slow down" }, { "retry-after": config.chaos?.retry_after ?? "1" });
  }
  if (chaos === "timeout_before") return answer(504, "fault:timeout_before", { error: "chaos: too slow, nothing applied" }, {}, hold);

  // Some records refused by the destination (configured ones always, a random one under chaos).
  const refused = new Map<string, string>();
  for (const o of operations) {
    const failure = config.fail_keys?.[o.key];
    if (failure !== undefined) refused.set(o.key, failure);
  }
  if (chaos === "record_errors" && operations.length > 0) {
    const victim = operations[Math.floor(e.random() * operations.length)];
    if (victim) refused.set(victim.key, `chaos: record ${victim.key} refused`);
  }
  const results = apply(e, operations, refused, body.mode === "update");
  e.requests += 1;
  e.batchIds.push(body.batch_id ?? "");
  const payload = { results };
  if (config.idempotent && key !== null) e.answered.set(key, { body: payload, hash });
  if (fault?.reset === "after") return reset(`fault:${label}`);
  // Applied, then too slow to answer: the client times out and must resend under the same key.
  if (chaos === "timeout_after") return answer(200, "fault:timeout_after", payload, {}, hold);
  return answer(200, chaos ? `fault:${chaos}` : fault ? `fault:${label}` : "applied", payload, {}, config.delay_ms ?? 0);
}

/**
 * Applies the batch's operations but the refused ones; a create applied again counts twice. In
 * update-only mode an update of a missing record is answered `not_found` and creates nothing.
 */
function apply(
  e: Endpoint,
  operations: Operation[],
  refused: Map<string, string>,
  updateOnly: boolean,
): { key: string; ok: boolean; error?: string; not_found?: boolean }[] {
  return operations.map((o) => {
    e.operations += 1;
    const error = refused.get(o.key);
    if (error !== undefined) {
      e.stats.record_rejections += 1;
      return { key: o.key, ok: false, error };
    }
    const held = e.rows.has(o.key);
    if (updateOnly && o.op === "update" && !held) return { key: o.key, ok: false, not_found: true, error: `no record ${o.key}` };
    if (o.op === "create" && held) e.stats.duplicate_creates += 1;
    if (o.op === "update" && !held) e.stats.updates_of_missing += 1;
    if (o.op === "delete" && !held) e.stats.deletes_of_missing += 1;
    if (o.op === "delete") e.rows.delete(o.key);
    else {
      if (o.op === "create" || !held) e.creates.set(o.key, (e.creates.get(o.key) ?? 0) + 1);
      // An update or upsert of a held row merges like a PATCH (as CRMs apply it): a field the
      // operation leaves out (a sync that sends changed fields only, or skips nulls) keeps its value.
      e.rows.set(o.key, o.op === "create" || !held ? (o.fields ?? {}) : { ...e.rows.get(o.key), ...o.fields });
    }
    return { key: o.key, ok: true };
  });
}

function recordDelivery(e: Endpoint, req: IncomingMessage, raw: string): Delivery {
  const header = (name: string) => {
    const v = req.headers[name];
    return typeof v === "string" ? v : null;
  };
  let parsed: { batch_id?: string; operations?: Operation[] } = {};
  try {
    parsed = JSON.parse(raw) as typeof parsed;
  } catch {
    // not JSON; the hook handler answers 400
  }
  const signature = header("x-signature");
  const secret = e.config.signing_secret;
  let valid: boolean | null = null;
  if (secret !== undefined) {
    const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(raw, "utf8").digest("hex")}`);
    const given = Buffer.from(signature ?? "");
    valid = given.length === expected.length && timingSafeEqual(given, expected);
  }
  const at = Date.now();
  const delivery: Delivery = {
    seq: e.deliveries.length,
    at,
    end: at,
    batch_id: parsed.batch_id ?? null,
    idempotency_key: header("idempotency-key"),
    signature,
    signature_valid: valid,
    content_type: header("content-type"),
    headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : (v ?? "")])),
    keys: (parsed.operations ?? []).map((o) => o.key),
    status: 0,
    outcome: "",
    ...(e.config.keep_bodies ? { body: parsed } : {}),
  };
  e.deliveries.push(delivery);
  return delivery;
}

/** The name /state counts a served fault under; undefined for a fault that changes nothing. */
function faultLabel(fault: Fault): string | undefined {
  if (!fault.status && !fault.delay_ms && !fault.reset) return undefined;
  return fault.label ?? (fault.reset ? `reset_${fault.reset}` : fault.status ? `status_${fault.status}` : "delay");
}

function nextFault(e: Endpoint, key: string | null): Fault | undefined {
  const fault = e.faults[0];
  if (!fault) return undefined;
  // A capped key passes unfaulted and the fault waits for the next request.
  const cap = e.config.max_faults_per_key ?? 0;
  if (cap > 0 && key !== null && (e.faultsPerKey.get(key) ?? 0) >= cap) return undefined;
  fault.times = (fault.times ?? 1) - 1;
  if (fault.times <= 0) e.faults.shift();
  return fault;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
