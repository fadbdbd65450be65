import type { ReadControl } from "./tcp-websocket";

type Listener = (event: unknown) => void;

/**
 * The WebSocket to Neon's proxy (or any Neon-style proxy), with a {@link ReadControl}'s splitter
 * in front of the driver, for the Neon driver's `webSocketConstructor`: every message goes through
 * `control.splitter` while one is set, so a cursor's rows are taken off the raw bytes (see
 * `dataRowSplitter`) instead of being parsed by the driver row by row. A WebSocket cannot be
 * paused, so the cursor route bounds memory by its page size; `control.close()` has no effect here.
 */
export function splittingWebSocketClass(control: ReadControl) {
  return class SplittingWebSocket {
    static readonly CONNECTING = 0;
    static readonly OPEN = 1;
    static readonly CLOSING = 2;
    static readonly CLOSED = 3;
    private readonly ws: WebSocket;

    constructor(url: string) {
      this.ws = new WebSocket(url);
      // Only now: when construction throws, the driver opens its own WebSocket, which splits nothing.
      control.splits = true;
    }

    get readyState(): number {
      return this.ws.readyState;
    }

    get binaryType(): string {
      return this.ws.binaryType;
    }

    set binaryType(type: "arraybuffer" | "blob") {
      this.ws.binaryType = type;
    }

    addEventListener(type: "open" | "message" | "close" | "error", listener: Listener): void {
      if (type !== "message") {
        this.ws.addEventListener(type, listener);
        return;
      }
      this.ws.addEventListener("message", (event: MessageEvent) => {
        const splitter = control.splitter;
        if (!splitter || !(event.data instanceof ArrayBuffer)) return listener(event);
        const passed = splitter.feed(new Uint8Array(event.data));
        if (splitter.done) control.splitter = null;
        if (!passed || passed.byteLength === 0) return;
        // The message untouched (nothing taken out of it) goes on as it came.
        if (passed.buffer === event.data && passed.byteLength === event.data.byteLength) return listener(event);
        // Else a view into the message or the splitter's own buffers: the driver gets a copy.
        listener({ type: "message", data: passed.slice().buffer });
      });
    }

    send(data: ArrayBuffer | Uint8Array | string): void {
      this.ws.send(data);
    }

    close(code?: number, reason?: string): void {
      this.ws.close(code, reason);
    }
  };
}
