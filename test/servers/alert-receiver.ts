import { createServer, type Server } from "node:http";
import type { CannedAnswer, FakeState, ReceivedRequest } from "./alert-types";
import { readBody, tenants } from "./http";

/**
 * A local receiver for webhook alert channels: `POST /r/{name}` records the request (headers and
 * the exact body, so a test can check `X-Signature` over it) and answers 200, or the next canned
 * answer set with `POST /_config/{name}` `{"answers":[{status, body?, retry_after?, times?}]}`.
 * `GET /_state/{name}` returns what it received.
 */
export function startAlertReceiver(port = 0): Promise<{ server: Server; port: number }> {
  const endpoint = tenants<{ answers: CannedAnswer[]; requests: ReceivedRequest[] }>(() => ({ answers: [], requests: [] })).of;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const [, kind, name = ""] = url.pathname.split("/");
    const raw = await readBody(req);
    const e = endpoint(name);
    if (req.method === "GET" && kind === "_state") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ requests: e.requests } satisfies FakeState));
    }
    if (req.method === "POST" && kind === "_config") {
      e.answers = (JSON.parse(raw) as { answers?: CannedAnswer[] }).answers ?? [];
      res.writeHead(200);
      return res.end("ok");
    }
    if (req.method !== "POST" || kind !== "r") {
      res.writeHead(404);
      return res.end("not found");
    }
    const canned = e.answers[0];
    if (canned) {
      canned.times = (canned.times ?? 1) - 1;
      if (canned.times <= 0) e.answers.shift();
    }
    const status = canned?.status ?? 200;
    const answer = canned?.body ?? "ok";
    e.requests.push({ at: Date.now(), path: url.pathname, headers: headersOf(req.headers), raw, status, answer });
    res.writeHead(status, { "content-type": "text/plain", ...(canned?.retry_after ? { "retry-after": canned.retry_after } : {}) });
    res.end(answer);
  });
  return listen(server, port);
}

/** Request headers with lower-cased names and single values. */
export function headersOf(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : (v ?? "")]));
}

/** Starts `server` on 127.0.0.1 and resolves with its port. */
export function listen(server: Server, port: number): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      resolve({ server, port: typeof address === "object" && address ? address.port : port });
    });
  });
}
