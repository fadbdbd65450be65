import type { Server } from "node:http";
import { createRequire } from "node:module";
import { connect } from "node:net";
import type * as WS from "ws";

// Loaded the Node way: vite's resolver picks ws's browser stub, which has no server.
const { WebSocketServer } = createRequire(import.meta.url)("ws") as typeof WS;

/** Bytes piped each way, frames sent, and the local ports of the connections to Postgres (for the bench). */
export interface ProxyCounts {
  down: number;
  up: number;
  frames: number;
  ports: number[];
}

/**
 * A local stand-in for Neon's WebSocket proxy, as Neon's own open-source wsproxy for local
 * development works (https://github.com/neondatabase/wsproxy; the driver's side:
 * https://github.com/neondatabase/serverless/blob/main/CONFIG.md, `wsProxy`): the driver opens
 * `ws://127.0.0.1:{port}/v1?address={host}:{port}` and every binary frame is piped to that TCP
 * address, every byte read from it comes back as a binary frame. Postgres' wire protocol runs
 * inside unchanged (no TLS in it: `forceDisablePgSSL`). Frames do not follow message boundaries,
 * like the real proxy's.
 */
export function startWsProxy(port = 0): Promise<{ server: Server; port: number; bytes: ProxyCounts }> {
  const bytes: ProxyCounts = { down: 0, up: 0, frames: 0, ports: [] };
  const wss = new WebSocketServer({ host: "127.0.0.1", port });
  wss.on("connection", (ws, req) => {
    const address = new URL(req.url ?? "/", "http://127.0.0.1").searchParams.get("address") ?? "";
    const [host, portText] = address.split(":");
    if (!host || !portText) return ws.close(1008, "address=host:port is required");
    // No Nagle delay (as Go's net.Dial, under Neon's wsproxy): a small query sent in two frames must not wait for an ACK.
    const tcp = connect({ host, port: Number(portText), noDelay: true });
    const pending: Buffer[] = [];
    tcp.on("connect", () => {
      for (const chunk of pending.splice(0)) tcp.write(chunk);
    });
    ws.on("message", (data: Buffer) => {
      bytes.up += data.length;
      tcp.connecting ? pending.push(data) : tcp.write(data);
    });
    tcp.on("connect", () => bytes.ports.push(tcp.localPort ?? 0));
    tcp.on("data", (chunk) => {
      bytes.down += chunk.length;
      bytes.frames++;
      ws.send(chunk, { binary: true });
    });
    tcp.on("close", () => ws.close());
    tcp.on("error", () => ws.close(1011, "upstream error"));
    ws.on("close", () => tcp.destroy());
  });
  return new Promise((resolve) => {
    wss.on("listening", () => {
      const address = wss.address();
      // The WebSocketServer's own http.Server: closing it stops the proxy.
      resolve({
        server: (wss as unknown as { _server: Server })._server,
        port: typeof address === "object" && address ? address.port : port,
        bytes,
      });
    });
  });
}
