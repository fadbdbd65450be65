import { createServer, type IncomingMessage, type Server } from "node:http";

/** What one named endpoint of the receiver holds: the destination's current rows and its history. */
interface Endpoint {
  rows: Map<string, Record<string, unknown>>;
  requests: number;
  operations: number;
  creates: Map<string, number>;
  batchIds: string[];
  /** Keys the receiver rejects per record, with the message it gives. */
  failKeys: Map<string, string>;
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
      e = { rows: new Map(), requests: 0, operations: 0, creates: new Map(), batchIds: [], failKeys: new Map() };
      endpoints.set(name, e);
    }
    return e;
  };
  const server = createServer(async (req, res) => {
    const [, kind, name = "default"] = (req.url ?? "/").split("/");
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    try {
      const e = endpoint(name);
      if (req.method === "GET" && kind === "state") {
        return send(200, {
          rows: Object.fromEntries(e.rows),
          requests: e.requests,
          operations: e.operations,
          creates: Object.fromEntries(e.creates),
          batch_ids: e.batchIds,
        });
      }
      if (req.method === "POST" && kind === "config") {
        const cfg = JSON.parse(await readBody(req)) as { fail_keys?: Record<string, string> };
        e.failKeys = new Map(Object.entries(cfg.fail_keys ?? {}));
        return send(200, { ok: true });
      }
      if (req.method === "POST" && kind === "hook") {
        const body = JSON.parse(await readBody(req)) as {
          batch_id: string;
          operations: { op: string; key: string; fields?: Record<string, unknown> }[];
        };
        e.requests += 1;
        e.batchIds.push(body.batch_id);
        const results: { key: string; ok: boolean; error?: string }[] = [];
        for (const op of body.operations) {
          e.operations += 1;
          const failure = e.failKeys.get(op.key);
          if (failure) {
            results.push({ key: op.key, ok: false, error: failure });
            continue;
          }
          if (op.op === "delete") e.rows.delete(op.key);
          else {
            if (op.op === "create" || !e.rows.has(op.key)) e.creates.set(op.key, (e.creates.get(op.key) ?? 0) + 1);
            e.rows.set(op.key, op.fields ?? {});
          }
          results.push({ key: op.key, ok: true });
        }
        return send(200, { results });
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

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (data += chunk));
    req.on("end", () => resolve(data));
    req.on("error", reject);
  });
}
