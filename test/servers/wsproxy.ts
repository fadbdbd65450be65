import type { Server } from "node:http";
import { createRequire } from "node:module";
import { connect, type Socket } from "node:net";
import type * as WS from "ws";

// Loaded the Node way: vite's resolver picks ws's browser stub, which has no server.
const { WebSocketServer } = createRequire(import.meta.url)("ws") as typeof WS;

/** Largest read from Postgres, so largest frame (Node's default read size, as before). */
const READ_BYTES = 64 * 1024;
/** How far the client may fall behind before reading from Postgres pauses. */
const BEHIND_BYTES = 1024 * 1024;

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
    // A plain byte pump, as cheap as Node allows (this proxy shares the bench's cores; Neon's runs on
    // Neon's machines): reads land in one reused buffer, replaced only while a frame still holds it
    // (not yet written out), and reading pauses while the client is more than BEHIND_BYTES behind
    // (Postgres then blocks on its socket, as behind a real proxy). No Nagle delay (as Go's
    // net.Dial, under Neon's wsproxy): a small query sent in two frames must not wait for an ACK.
    let buffer = Buffer.allocUnsafe(READ_BYTES);
    const tcp: Socket = connect({
      host,
      port: Number(portText),
      noDelay: true,
      onread: {
        buffer: () => buffer,
        callback: (n) => {
          bytes.down += n;
          bytes.frames++;
          ws.send(buffer.subarray(0, n), { binary: true }, resume);
          if (ws.bufferedAmount === 0) return true;
          buffer = Buffer.allocUnsafe(READ_BYTES);
          // false stops reading until tcp.resume().
          paused = ws.bufferedAmount >= BEHIND_BYTES;
          return !paused;
        },
      },
    });
    let paused = false;
    const resume = () => {
      if (!paused || ws.bufferedAmount >= BEHIND_BYTES) return;
      paused = false;
      tcp.resume();
    };
    const pending: Buffer[] = [];
    tcp.on("connect", () => {
      for (const chunk of pending.splice(0)) tcp.write(chunk);
    });
    ws.on("message", (data: Buffer) => {
      bytes.up += data.length;
      tcp.connecting ? pending.push(data) : tcp.write(data);
    });
    tcp.on("connect", () => bytes.ports.push(tcp.localPort ?? 0));
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
