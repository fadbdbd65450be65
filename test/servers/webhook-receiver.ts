import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { ReceiverStats } from "./webhook-receiver-types";
import { readBody } from "./http";

/** A canned answer for the next hook request(s): a status (with Retry-After / body) and/or a delay. */
interface Fault {
  /** Answer with this status instead of applying the batch; without it the batch is applied after the delay. */
  status?: number;
  retry_after?: string;
  body?: unknown;
  /** Wait this long before answering (timeouts). */
  delay_ms?: number;
  /** How many requests this fault answers; default 1. */
  times?: number;
  /**
   * Connection reset: destroy the socket instead of answering, either before applying the batch
   * ("before": nothing applied) or after applying it ("after": applied, the client never hears).
   */
  reset?: "before" | "after";
  /** Name under which /state counts the requests this fault answered (`faults_served`). */
  label?: string;
}

/** What a hook request carried, for idempotency and signature checks. */
interface Delivery {
  batch_id: string | null;
  idempotency_key: string | null;
  signature: string | null;
  /** Whether `signature` is the HMAC of the exact body under the configured secret (null: no secret set). */
  signature_valid: boolean | null;
  content_type: string | null;
  /** Every request header, lower-cased names. */
  headers: Record<string, string>;
  /** Status the receiver answered with. */
  status: number;
  at: number;
}

/** What one named endpoint of the receiver holds: the destination's current rows and its history. */
interface Endpoint {
  rows: Map<string, Record<string, unknown>>;
  requests: number;
  operations: number;
  creates: Map<string, number>;
  batchIds: string[];
  /** Keys the receiver rejects per record, with the message it gives. */
  failKeys: Map<string, string>;
  /** Secret to verify X-Signature with (set through /config). */
  signingSecret: string | null;
  /** Canned answers consumed in order by the next hook requests (set through /config). */
  faults: Fault[];
  /** Every hook request, faulted or not. */
  deliveries: Delivery[];
  /**
   * With `idempotent` (set through /config) the receiver honours Idempotency-Key like a careful API:
   * a key whose request was applied is answered again from the stored answer, never applied twice.
   */
  idempotent: boolean;
  /** Stored answers and body hashes by Idempotency-Key (idempotent mode). */
  answered: Map<string, { body: unknown; hash: string }>;
  /** A batch holding any of these keys is refused whole: 400, nothing applied (set through /config). */
  rejectKeys: Map<string, string>;
  /** A fault is not spent on a request whose Idempotency-Key was already faulted this often (0: no cap). */
  maxFaultsPerKey: number;
  faultsPerKey: Map<string, number>;
  /** Counters since the endpoint was created (never reset by /config). */
  stats: ReceiverStats;
}

/**
 * A webhook destination for tests: applies `{operations:[{op,key,fields}]}` to an in-memory table,
 * answers per-record failures for configured keys, and exposes its state as JSON.
 */
export function startWebhookReceiver(port = 0): Promise<{ server: Server; port: number }> {
  const endpoints = new Map<string, Endpoint>();
  const endpoint = (name: string) => {
    let e = endpoints.get(name);
    if (!e) {
      e = {
        rows: new Map(),
        requests: 0,
        operations: 0,
        creates: new Map(),
        batchIds: [],
        failKeys: new Map(),
        signingSecret: null,
        faults: [],
        deliveries: [],
        idempotent: false,
        answered: new Map(),
        rejectKeys: new Map(),
        maxFaultsPerKey: 0,
        faultsPerKey: new Map(),
        stats: {
          faults_served: {},
          replays: 0,
          idempotency_conflicts: 0,
          record_rejections: 0,
          batch_rejections: 0,
          duplicate_creates: 0,
          updates_of_missing: 0,
          deletes_of_missing: 0,
        },
      };
      endpoints.set(name, e);
    }
    return e;
  };
  const server = createServer(async (req, res) => {
    // `?summary=1` on /state leaves out rows and deliveries (large endpoints).
    const [pathname = "/", query = ""] = (req.url ?? "/").split("?");
    const [, kind, name = "default"] = pathname.split("/");
    const summary = new URLSearchParams(query).get("summary") === "1";
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    try {
      const e = endpoint(name);
      if (req.method === "GET" && kind === "state") {
        if (summary) {
          return send(200, {
            requests: e.requests,
            operations: e.operations,
            row_count: e.rows.size,
            faults_pending: e.faults.length,
            stats: e.stats,
          });
        }
        return send(200, {
          rows: Object.fromEntries(e.rows),
          requests: e.requests,
          operations: e.operations,
          creates: Object.fromEntries(e.creates),
          batch_ids: e.batchIds,
          deliveries: e.deliveries,
          faults_pending: e.faults.length,
          stats: e.stats,
        });
      }
      if (req.method === "POST" && kind === "config") {
        const cfg = JSON.parse(await readBody(req)) as {
          fail_keys?: Record<string, string>;
          signing_secret?: string;
          faults?: Fault[];
          idempotent?: boolean;
          reject_keys?: Record<string, string>;
          max_faults_per_key?: number;
        };
        e.failKeys = new Map(Object.entries(cfg.fail_keys ?? {}));
        e.signingSecret = cfg.signing_secret ?? null;
        e.faults = (cfg.faults ?? []).map((f) => ({ ...f }));
        e.idempotent = cfg.idempotent === true;
        e.rejectKeys = new Map(Object.entries(cfg.reject_keys ?? {}));
        e.maxFaultsPerKey = cfg.max_faults_per_key ?? 0;
        return send(200, { ok: true });
      }
      if (kind === "redirect") {
        // A hook URL that bounces elsewhere: destinations must not follow it.
        res.writeHead(302, { location: `/hook/${name}` });
        return res.end();
      }
      if (req.method === "POST" && kind === "hook") {
        const raw = await readBody(req);
        const delivery = recordDelivery(e, req, raw);
        if (delivery.signature_valid === false) {
          // A receiver with a secret refuses unsigned or wrongly signed requests.
          delivery.status = 401;
          return send(401, { error: "invalid signature" });
        }
        const key = delivery.idempotency_key;
        const hash = createHash("sha256").update(raw).digest("hex");
        /** The stored answer for this request's key (idempotent mode), counting a reuse for other data. */
        const replayOf = () => {
          const stored = e.idempotent && key !== null ? e.answered.get(key) : undefined;
          if (stored && stored.hash !== hash) e.stats.idempotency_conflicts += 1;
          return stored;
        };
        const early = replayOf();
        if (early) {
          e.stats.replays += 1;
          return send(200, early.body);
        }
        const fault = nextFault(e, key);
        if (fault && (fault.status || fault.delay_ms || fault.reset)) {
          const label = fault.label ?? (fault.reset ? `reset_${fault.reset}` : fault.status ? `status_${fault.status}` : "delay");
          e.stats.faults_served[label] = (e.stats.faults_served[label] ?? 0) + 1;
          if (key !== null) e.faultsPerKey.set(key, (e.faultsPerKey.get(key) ?? 0) + 1);
        }
        if (fault?.delay_ms) await new Promise((r) => setTimeout(r, fault.delay_ms));
        if (fault?.reset === "before") {
          delivery.status = 0;
          return req.socket.destroy();
        }
        if (fault?.status) {
          delivery.status = fault.status;
          const headers: Record<string, string> = { "content-type": "application/json" };
          if (fault.retry_after !== undefined) headers["retry-after"] = fault.retry_after;
          res.writeHead(fault.status, headers);
          return res.end(JSON.stringify(fault.body ?? { error: `simulated ${fault.status}` }));
        }
        const body = JSON.parse(raw) as {
          batch_id: string;
          operations: { op: string; key: string; fields?: Record<string, unknown> }[];
        };
        // After a delay another copy of this batch may have been applied meanwhile: look again.
        const late = fault?.delay_ms ? replayOf() : undefined;
        if (late) {
          e.stats.replays += 1;
          return send(200, late.body);
        }
        const rejected = body.operations.find((op) => e.rejectKeys.has(op.key));
        if (rejected) {
          delivery.status = 400;
          e.stats.batch_rejections += 1;
          return send(400, { error: e.rejectKeys.get(rejected.key) });
        }
        e.requests += 1;
        e.batchIds.push(body.batch_id);
        const results: { key: string; ok: boolean; error?: string }[] = [];
        for (const op of body.operations) {
          e.operations += 1;
          const failure = e.failKeys.get(op.key);
          if (failure) {
            e.stats.record_rejections += 1;
            results.push({ key: op.key, ok: false, error: failure });
            continue;
          }
          const held = e.rows.has(op.key);
          if (op.op === "create" && held) e.stats.duplicate_creates += 1;
          if (op.op === "update" && !held) e.stats.updates_of_missing += 1;
          if (op.op === "delete" && !held) e.stats.deletes_of_missing += 1;
          if (op.op === "delete") e.rows.delete(op.key);
          else {
            if (op.op === "create" || !held) e.creates.set(op.key, (e.creates.get(op.key) ?? 0) + 1);
            e.rows.set(op.key, op.fields ?? {});
          }
          results.push({ key: op.key, ok: true });
        }
        const answer = { results };
        if (e.idempotent && key !== null) e.answered.set(key, { body: answer, hash });
        if (fault?.reset === "after") {
          delivery.status = 0;
          return req.socket.destroy();
        }
        return send(200, answer);
      }
      send(404, { error: "unknown path" });
    } catch (err) {
      send(400, { error: String(err) });
    }
  });
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      resolve({ server, port: typeof address === "object" && address ? address.port : port });
    });
  });
}

function recordDelivery(e: Endpoint, req: IncomingMessage, raw: string): Delivery {
  const header = (name: string) => {
    const v = req.headers[name];
    return typeof v === "string" ? v : null;
  };
  let batchId: string | null = null;
  try {
    batchId = (JSON.parse(raw) as { batch_id?: string }).batch_id ?? null;
  } catch {
    // not JSON; the hook handler answers 400
  }
  const signature = header("x-signature");
  let valid: boolean | null = null;
  if (e.signingSecret !== null) {
    const expected = Buffer.from(`sha256=${createHmac("sha256", e.signingSecret).update(raw, "utf8").digest("hex")}`);
    const given = Buffer.from(signature ?? "");
    valid = given.length === expected.length && timingSafeEqual(given, expected);
  }
  const delivery: Delivery = {
    batch_id: batchId,
    idempotency_key: header("idempotency-key"),
    signature,
    signature_valid: valid,
    content_type: header("content-type"),
    headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : (v ?? "")])),
    status: 200,
    at: Date.now(),
  };
  e.deliveries.push(delivery);
  return delivery;
}

function nextFault(e: Endpoint, key: string | null): Fault | undefined {
  const fault = e.faults[0];
  if (!fault) return undefined;
  // A capped key passes unfaulted and the fault waits for the next request.
  if (e.maxFaultsPerKey > 0 && key !== null && (e.faultsPerKey.get(key) ?? 0) >= e.maxFaultsPerKey) return undefined;
  fault.times = (fault.times ?? 1) - 1;
  if (fault.times <= 0) e.faults.shift();
  return fault;
}
