import { connect } from "cloudflare:sockets";
import { joined, type MessageSplitter } from "./copy-data";

/**
 * How the Postgres connection is encrypted on a plain TCP route (libpq's `sslmode`, reduced):
 * - `disable`: no TLS.
 * - `prefer`: ask the server for TLS; use it if offered, stay plain if the server declines.
 * - `require`: TLS or fail.
 * Certificates are always verified (hostname and public CA) by the Workers runtime: it offers no way
 * to skip verification, so `require` here behaves like libpq's `verify-full`.
 */
export type TlsMode = "disable" | "prefer" | "require";

/** Where a {@link TcpWebSocket} connects; the URL the driver passes to the constructor is ignored. */
export interface TcpTarget {
  hostname: string;
  port: number;
  tls: TlsMode;
  /** Pauses reading, and takes COPY rows out of what is read (see {@link ReadControl}). */
  control?: ReadControl;
}

/**
 * The reader's controls. `close()` lets a consumer that cannot keep up stop the reading: what was
 * read is still handled, then the socket is not read again until `open()`, Postgres blocks on a
 * full send buffer, and a fast warehouse cannot fill the isolate's memory (a WebSocket cannot be
 * paused: there it does nothing). While `splitter` is set, every chunk read goes through it first
 * and only what it passes on reaches the driver.
 */
export class ReadControl {
  private waiting: Promise<void> | undefined;
  private release: (() => void) | undefined;
  splitter: MessageSplitter | null = null;
  /** Set by the socket under the connection when it applies `splitter` (not the driver's own WebSocket fallback). */
  splits = false;

  close(): void {
    if (this.waiting) return;
    this.waiting = new Promise<void>((resolve) => (this.release = resolve));
  }

  open(): void {
    this.release?.();
    this.waiting = this.release = undefined;
  }

  /** Resolves once the gate is open (undefined when it is open already). */
  passed(): Promise<void> | undefined {
    return this.waiting;
  }
}

/** Why the TCP socket under the driver failed; `code` lets callers classify without parsing text. */
export class TcpSocketError extends Error {
  override readonly name = "TcpSocketError";
  /** `connect_failed`: refused, DNS or routing; `not_postgres`: something else answered;
   *  `tls_refused`: server declined TLS under `require`; `tls_failed`: handshake or certificate
   *  error; `socket_error`: the connection broke later. */
  readonly code: "connect_failed" | "not_postgres" | "tls_refused" | "tls_failed" | "socket_error";

  constructor(code: TcpSocketError["code"], message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

type Listener = (event: unknown) => void;
type EventName = "open" | "message" | "close" | "error";

/** Largest socket read: reads take what has arrived, so a fast warehouse fills them (fewer, cheaper reads). */
const READ_BYTES = 64 * 1024;

// Postgres SSLRequest: length 8, code 80877103.
const SSL_REQUEST = new Uint8Array([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/**
 * A WebSocket-shaped class over a `cloudflare:sockets` TCP socket, for the Neon driver's
 * `webSocketConstructor` option: the driver believes it talks to a WebSocket proxy, but every
 * `send()` goes straight to Postgres and every chunk read comes back as a `message` event.
 * Use with `wsProxy = (h, p) => h + ":" + p`, `useSecureWebSocket = false`, `pipelineConnect = false`,
 * `pipelineTLS = false` and `coalesceWrites = false` (this class coalesces writes itself, so a
 * graceful close can flush the Terminate message first).
 */
export function tcpWebSocketClass(target: TcpTarget) {
  return class BoundTcpWebSocket extends TcpWebSocket {
    constructor(_url: string) {
      super(target);
    }
  };
}

/** See {@link tcpWebSocketClass}; construct through it so the target is bound. */
class TcpWebSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;

  readyState = TcpWebSocket.CONNECTING;
  binaryType = "arraybuffer";

  private readonly listeners = new Map<EventName, Listener[]>();
  private socket: Socket | undefined;
  private writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  private pending: Uint8Array[] = [];
  private flushScheduled = false;
  private writes: Promise<void> = Promise.resolve();
  private closeEmitted = false;
  private reader: ReadableStreamBYOBReader | undefined;

  constructor(private readonly target: TcpTarget) {
    if (target.control) target.control.splits = true;
    void this.open();
  }

  addEventListener(type: EventName, listener: Listener): void {
    const list = this.listeners.get(type) ?? [];
    list.push(listener);
    this.listeners.set(type, list);
  }

  removeEventListener(type: EventName, listener: Listener): void {
    const list = this.listeners.get(type);
    if (list)
      this.listeners.set(
        type,
        list.filter((l) => l !== listener),
      );
  }

  /** Queues bytes; everything sent in one tick goes out as one socket write. */
  send(data: Uint8Array | ArrayBuffer | string): void {
    if (this.readyState >= TcpWebSocket.CLOSING) return;
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data instanceof Uint8Array ? data : new Uint8Array(data);
    this.pending.push(bytes);
    if (this.readyState === TcpWebSocket.OPEN) this.scheduleFlush();
  }

  /** Flushes queued bytes, then closes the socket and fires `close` once. */
  close(): void {
    if (this.readyState >= TcpWebSocket.CLOSING) return;
    const wasOpen = this.readyState === TcpWebSocket.OPEN;
    this.readyState = TcpWebSocket.CLOSING;
    this.target.control?.open();
    if (wasOpen) this.flush();
    const socket = this.socket;
    void this.writes
      .catch(() => undefined)
      .then(() => socket?.close())
      .catch(() => undefined)
      // A read still pending on a closed socket would keep the isolate (and a Durable Object) busy forever.
      .then(() => this.reader?.cancel())
      .catch(() => undefined)
      .finally(() => this.finish());
  }

  private async open(): Promise<void> {
    const { hostname, port, tls } = this.target;
    try {
      let socket = connect({ hostname, port }, { secureTransport: tls === "disable" ? "off" : "starttls", allowHalfOpen: false });
      this.socket = socket;
      try {
        await socket.opened;
      } catch (err) {
        throw new TcpSocketError("connect_failed", `could not connect to ${hostname}:${port}: ${messageOf(err)}`, { cause: err });
      }
      if (tls !== "disable") socket = await this.negotiateTls(socket);
      if (this.readyState !== TcpWebSocket.CONNECTING) {
        // closed while connecting (e.g. the caller's connect timeout fired)
        await socket.close().catch(() => undefined);
        return;
      }
      this.socket = socket;
      this.writer = socket.writable.getWriter();
      this.readyState = TcpWebSocket.OPEN;
      this.emit("open", { type: "open" });
      if (this.pending.length > 0) this.scheduleFlush();
      await this.readLoop(socket);
    } catch (err) {
      this.fail(err instanceof TcpSocketError ? err : new TcpSocketError("socket_error", messageOf(err), { cause: err }));
    }
  }

  /** Postgres' in-band TLS upgrade: SSLRequest, one byte of answer, then the TLS handshake. */
  private async negotiateTls(socket: Socket): Promise<Socket> {
    const { hostname, tls } = this.target;
    const writer = socket.writable.getWriter();
    const reader = socket.readable.getReader();
    let answer: number | undefined;
    try {
      await writer.write(SSL_REQUEST);
      const { value } = await reader.read();
      if (value instanceof Uint8Array && value.byteLength > 0) answer = value[0];
      if (answer !== 0x53 && answer !== 0x4e)
        throw new TcpSocketError("not_postgres", `${hostname}:${this.target.port} did not answer like a Postgres server`);
      // More bytes after the answer would be a man-in-the-middle injecting plaintext (CVE-2021-23222).
      if (value instanceof Uint8Array && value.byteLength > 1)
        throw new TcpSocketError("tls_failed", "unexpected data after the server's answer to the TLS request");
    } finally {
      writer.releaseLock();
      reader.releaseLock();
    }
    if (answer === 0x53 /* S */) {
      const secure = socket.startTls({ expectedServerHostname: hostname });
      try {
        await secure.opened;
      } catch (err) {
        // An untrusted certificate shows up as a bare "internal error" locally, so say what to check.
        throw new TcpSocketError(
          "tls_failed",
          `TLS handshake with ${hostname} failed (${messageOf(err)}); the server certificate must be valid for ` +
            `this host name and issued by a public CA, or use sslmode=disable to connect without TLS`,
          { cause: err },
        );
      }
      return secure;
    }
    if (tls === "prefer") return socket;
    throw new TcpSocketError("tls_refused", `${hostname} does not accept TLS connections (sslmode=require)`);
  }

  /**
   * Reads into one buffer, handed back and forth (BYOB): a default reader gets 4 KiB a read, and
   * the isolate's cost per read (I/O plumbing on its own thread) then made reading COPY rows
   * several times slower than Postgres sends them.
   */
  private async readLoop(socket: Socket): Promise<void> {
    const reader = socket.readable.getReader({ mode: "byob" });
    this.reader = reader;
    let buffer: ArrayBufferLike = new ArrayBuffer(READ_BYTES);
    for (;;) {
      const control = this.target.control;
      const closed = control?.passed();
      if (closed) await closed;
      const read: ReadableStreamReadResult<Uint8Array> = await reader.read(new Uint8Array(buffer));
      if (read.done) break;
      buffer = read.value.buffer;
      let value: Uint8Array | null = read.value;
      const splitter = control?.splitter;
      if (splitter) {
        value = splitter.feed(value);
        if (splitter.done) control.splitter = null;
      }
      if (!value || value.byteLength === 0) continue;
      // The read buffer is reused: the driver gets its own copy.
      this.emit("message", { type: "message", data: value.slice().buffer });
    }
    this.readyState = TcpWebSocket.CLOSED;
    this.finish();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const writer = this.writer;
    if (!writer || this.pending.length === 0) return;
    const chunks = this.pending;
    this.pending = [];
    const bytes = joined(
      chunks,
      chunks.reduce((n, c) => n + c.byteLength, 0),
    );
    this.writes = this.writes.then(() => writer.write(bytes));
    this.writes.catch((err: unknown) => this.fail(new TcpSocketError("socket_error", messageOf(err), { cause: err })));
  }

  private fail(err: TcpSocketError): void {
    if (this.closeEmitted) return;
    // A read ending badly after our own close() is the close, not an error.
    if (this.readyState === TcpWebSocket.CLOSING) {
      this.finish();
      return;
    }
    this.readyState = TcpWebSocket.CLOSED;
    this.emit("error", err);
    void this.socket?.close().catch(() => undefined);
    this.finish();
  }

  private finish(): void {
    this.readyState = TcpWebSocket.CLOSED;
    if (this.closeEmitted) return;
    this.closeEmitted = true;
    this.emit("close", { type: "close", code: 1000, reason: "" });
  }

  private emit(type: EventName, event: unknown): void {
    for (const listener of this.listeners.get(type) ?? []) listener.call(this, event);
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
