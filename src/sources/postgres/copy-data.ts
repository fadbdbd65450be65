import { ESCAPES } from "../../engine/row";

/**
 * Takes one kind of message straight out of the bytes a Postgres connection receives, ahead of the
 * driver: each message of `type` goes to `onMessage` as a view of its payload, every other message
 * is passed on, in order, for the driver to handle as usual (row descriptions, CommandComplete,
 * errors, notices). At ReadyForQuery ('Z') the query is over: that message and everything after it
 * go to the driver and the splitter is done. It exists for speed: the driver's parser allocates a
 * message object and fires events per row, which made reading cost as much as hashing and chunking
 * the rows together. {@link copyDataSplitter} takes COPY rows, {@link dataRowSplitter} a cursor's.
 */
export class MessageSplitter {
  /**
   * The message cut by the end of the last chunk, copied out of it: its bytes so far
   * (`partialLength` of them), in an array of its whole length once its 5-byte header is known.
   */
  private partial: Uint8Array | null = null;
  private partialLength = 0;
  done = false;

  constructor(
    private readonly type: number,
    private readonly onMessage: (payload: Uint8Array) => void,
  ) {}

  /**
   * Splits one chunk read from the socket; returns the bytes for the driver (null when none).
   * The chunk, the rows handed out and the bytes returned are valid until the next call (the
   * reader reuses its buffer): only the message cut by the chunk's end is copied, never the
   * whole chunk (a WebSocket message or socket read is tens of KiB, a row a few hundred bytes).
   */
  feed(chunk: Uint8Array): Uint8Array | null {
    if (this.done) return chunk;
    const forward: Uint8Array[] = [];
    let at = 0;
    if (this.partial) {
      at = this.completePartial(chunk, forward);
      if (at < 0) return null;
    }
    if (!this.done) at = this.scan(chunk, at, forward);
    else if (at < chunk.length) forward.push(chunk.subarray(at));
    if (!this.done && at < chunk.length) this.keepPartial(chunk.subarray(at));
    return forward.length === 0
      ? null
      : joined(
          forward,
          forward.reduce((n, f) => n + f.length, 0),
        );
  }

  /**
   * Adds the chunk's first bytes to the message carried over; once it is whole, handles it.
   * Returns where the chunk's own messages start, or -1 when the chunk went into the message.
   */
  private completePartial(chunk: Uint8Array, forward: Uint8Array[]): number {
    let partial = this.partial as Uint8Array;
    let at = 0;
    if (this.partialLength < 5) {
      const take = Math.min(5 - this.partialLength, chunk.length);
      partial.set(chunk.subarray(0, take), this.partialLength);
      this.partialLength += take;
      at = take;
      if (this.partialLength < 5) return -1;
      const whole = new Uint8Array(messageLength(partial, 0));
      whole.set(partial.subarray(0, 5));
      this.partial = partial = whole;
    }
    const take = Math.min(partial.length - this.partialLength, chunk.length - at);
    partial.set(chunk.subarray(at, at + take), this.partialLength);
    this.partialLength += take;
    at += take;
    if (this.partialLength < partial.length) return -1;
    this.partial = null;
    this.partialLength = 0;
    // One message: scanned as a chunk of its own (it may be ReadyForQuery).
    this.scan(partial, 0, forward);
    return at;
  }

  /** Copies the cut message at the chunk's end (its header may be cut too). */
  private keepPartial(rest: Uint8Array): void {
    const whole = rest.length >= 5 ? messageLength(rest, 0) : 5;
    this.partial = new Uint8Array(whole);
    this.partial.set(rest);
    this.partialLength = rest.length;
  }

  /**
   * Hands out the messages of `type` in `buf` from `at` on and collects runs of the others in
   * `forward`; returns where the first incomplete message starts (`buf.length` when none is).
   * At ReadyForQuery the splitter is done and the rest of `buf` is forwarded.
   */
  private scan(buf: Uint8Array, from: number, forward: Uint8Array[]): number {
    let runStart = -1; // start of a run of messages for the driver
    let at = from;
    while (at + 5 <= buf.length) {
      const end = messageLength(buf, at) + at;
      if (end > buf.length) break;
      const type = buf[at];
      if (type === this.type) {
        if (runStart >= 0) forward.push(buf.subarray(runStart, at));
        runStart = -1;
        this.onMessage(buf.subarray(at + 5, end));
      } else {
        if (runStart < 0) runStart = at;
        if (type === 0x5a) {
          this.done = true;
          forward.push(buf.subarray(runStart));
          return buf.length;
        }
      }
      at = end;
    }
    if (runStart >= 0) forward.push(buf.subarray(runStart, at));
    return at;
  }
}

/** COPY rows: each CopyData ('d') payload is one line of COPY text, handed on as it is. */
export function copyDataSplitter(onLine: (line: Uint8Array) => void): MessageSplitter {
  return new MessageSplitter(0x64, onLine);
}

/**
 * A cursor's rows: each DataRow ('D') of text values becomes the line `COPY … TO STDOUT` would
 * have sent for it (tab-separated, `\N` for NULL, COPY's escapes, newline-terminated), written into
 * one reused buffer, so the cursor route hashes and stores the same bytes as the COPY route
 * without a string per value.
 */
export function dataRowSplitter(onLine: (line: Uint8Array) => void): MessageSplitter {
  let line = new Uint8Array(4096);
  return new MessageSplitter(0x44, (payload) => {
    // Worst case: every byte escaped, plus a separator (or `\N`) per column and the newline.
    const columns = ((payload[0] ?? 0) << 8) | (payload[1] ?? 0);
    const room = 2 * payload.length + 3 * columns + 1;
    if (room > line.length) line = new Uint8Array(Math.max(room, 2 * line.length));
    let p = 0;
    let at = 2;
    for (let c = 0; c < columns; c++) {
      if (c > 0) line[p++] = 0x09;
      const length = ((payload[at] ?? 0) << 24) | ((payload[at + 1] ?? 0) << 16) | ((payload[at + 2] ?? 0) << 8) | (payload[at + 3] ?? 0);
      at += 4;
      if (length < 0) {
        line[p++] = 0x5c;
        line[p++] = 0x4e;
        continue;
      }
      for (const end = at + length; at < end; at++) {
        const b = payload[at] ?? 0;
        const e = b < 0x80 ? (ESCAPES[b] ?? 0) : 0;
        if (e !== 0) {
          line[p++] = 0x5c;
          line[p++] = e;
        } else {
          line[p++] = b;
        }
      }
    }
    line[p++] = 0x0a;
    onLine(line.subarray(0, p));
  });
}

/** Type byte plus the message's own length field (which counts itself but not the type). */
function messageLength(buf: Uint8Array, at: number): number {
  return 1 + (((buf[at + 1] ?? 0) << 24) | ((buf[at + 2] ?? 0) << 16) | ((buf[at + 3] ?? 0) << 8) | (buf[at + 4] ?? 0));
}

/** The first `length` bytes of the parts, as one array (the part itself when there is one). */
export function joined(parts: Uint8Array[], length: number): Uint8Array {
  const first = parts[0];
  if (first && first.length >= length) return first.subarray(0, length);
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    if (at >= length) break;
    const take = p.subarray(0, length - at);
    out.set(take, at);
    at += take.length;
  }
  return out;
}
