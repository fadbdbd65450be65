import { ESCAPES } from "../../engine/row";
import type { ExtractHandler, HandlerFailure } from "../source";
import type { ReadControl } from "./tcp-websocket";

/**
 * Where a splitter's messages go: the payloads of one read buffer's messages at once, payload i
 * being `buf[starts[i], ends[i])`, for i below `count`, in order. The arrays and `buf` are valid
 * during the call only.
 */
export type PayloadSink = (buf: Uint8Array, starts: Int32Array, ends: Int32Array, count: number) => void;

/** Payloads handed to a {@link PayloadSink} per call at most. */
const SINK_PAYLOADS = 1024;

/**
 * Takes one kind of message straight out of the bytes a Postgres connection receives, ahead of the
 * driver: the messages of `type` go to `onPayloads` as ranges of the bytes read (a read buffer's
 * in one call, up to 1024, so the engine takes its rows as a batch), every other message is
 * passed on, in order, for the driver to handle as usual (row descriptions, CommandComplete,
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
  private readonly starts = new Int32Array(SINK_PAYLOADS);
  private readonly ends = new Int32Array(SINK_PAYLOADS);
  done = false;

  constructor(
    private readonly type: number,
    private readonly onPayloads: PayloadSink,
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
    const { starts, ends } = this;
    let count = 0;
    while (at + 5 <= buf.length) {
      const end = messageLength(buf, at) + at;
      if (end > buf.length) break;
      const type = buf[at];
      if (type === this.type) {
        if (runStart >= 0) forward.push(buf.subarray(runStart, at));
        runStart = -1;
        starts[count] = at + 5;
        ends[count] = end;
        if (++count === SINK_PAYLOADS) {
          this.onPayloads(buf, starts, ends, count);
          count = 0;
        }
      } else {
        if (runStart < 0) runStart = at;
        if (type === 0x5a) {
          this.done = true;
          forward.push(buf.subarray(runStart));
          at = buf.length;
          break;
        }
      }
      at = end;
    }
    // The driver gets the messages after this buffer's rows are handled, as when they came one by one.
    if (count > 0) this.onPayloads(buf, starts, ends, count);
    if (runStart >= 0 && !this.done) forward.push(buf.subarray(runStart, at));
    return at;
  }
}

/** COPY rows: each CopyData ('d') payload is one line of COPY text, handed on as it is, where it lies. */
export function copyDataSplitter(onLines: PayloadSink): MessageSplitter {
  return new MessageSplitter(0x64, onLines);
}

/**
 * A cursor's rows: each DataRow ('D') of text values becomes the line `COPY … TO STDOUT` would
 * have sent for it (tab-separated, `\N` for NULL, COPY's escapes, newline-terminated), written one
 * after the other into one reused buffer, so the cursor route hashes and stores the same bytes as
 * the COPY route without a string per value; `onLines` gets a read buffer's lines at once.
 */
export function dataRowSplitter(onLines: PayloadSink): MessageSplitter {
  let lines = new Uint8Array(64 * 1024);
  const starts = new Int32Array(SINK_PAYLOADS);
  const ends = new Int32Array(SINK_PAYLOADS);
  return new MessageSplitter(0x44, (buf, from, to, count) => {
    // Worst case: every byte escaped, plus a separator (or `\N`) per column and the newline.
    let room = 0;
    for (let i = 0; i < count; i++) {
      const length = (to[i] ?? 0) - (from[i] ?? 0);
      const columns = ((buf[from[i] ?? 0] ?? 0) << 8) | (buf[(from[i] ?? 0) + 1] ?? 0);
      room += 2 * length + 3 * columns + 1;
    }
    if (room > lines.length) lines = new Uint8Array(Math.max(room, 2 * lines.length));
    const line = lines;
    let p = 0;
    for (let i = 0; i < count; i++) {
      starts[i] = p;
      let at = from[i] ?? 0;
      const columns = ((buf[at] ?? 0) << 8) | (buf[at + 1] ?? 0);
      at += 2;
      for (let c = 0; c < columns; c++) {
        if (c > 0) line[p++] = 0x09;
        const length = ((buf[at] ?? 0) << 24) | ((buf[at + 1] ?? 0) << 16) | ((buf[at + 2] ?? 0) << 8) | (buf[at + 3] ?? 0);
        at += 4;
        if (length < 0) {
          line[p++] = 0x5c;
          line[p++] = 0x4e;
          continue;
        }
        for (const end = at + length; at < end; at++) {
          const b = buf[at] ?? 0;
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
      ends[i] = p;
    }
    onLines(line, starts, ends, count);
  });
}

/**
 * Hands rows to an extraction handler while a query reads on: a splitter's batches through
 * `handler.lineRanges` (else `handler.line` per row), or single lines the driver parsed. While a
 * promise the handler returned is pending, `control` is closed (the TCP socket is not read on);
 * the first error the handler throws or rejects with goes to `failure` and `onError`, and ends
 * the handing over.
 */
export class LineFeed {
  /** Rows handed over. */
  rows = 0;
  private readonly waits = new Set<Promise<void>>();
  private readonly ranges: ExtractHandler["lineRanges"];

  constructor(
    private readonly handler: ExtractHandler,
    private readonly control: ReadControl,
    private readonly failure: HandlerFailure,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.ranges = handler.lineRanges?.bind(handler);
  }

  /** A {@link PayloadSink} of lines (for {@link copyDataSplitter} and {@link dataRowSplitter}). */
  readonly take: PayloadSink = (buf, starts, ends, count) => {
    if ("error" in this.failure) return;
    this.rows += count;
    try {
      if (this.ranges) return this.track(this.ranges(buf, starts, ends, count));
      for (let i = 0; i < count && !("error" in this.failure); i++) this.track(this.handler.line(buf.subarray(starts[i], ends[i])));
    } catch (err) {
      this.fail(err);
    }
  };

  /** One row's line. */
  line(bytes: Uint8Array): void {
    if ("error" in this.failure) return;
    this.rows++;
    try {
      this.track(this.handler.line(bytes));
    } catch (err) {
      this.fail(err);
    }
  }

  /** Resolves once every promise the handler returned so far has settled. */
  settled(): Promise<unknown> {
    return Promise.all(this.waits);
  }

  private track(wait: void | Promise<void>): void {
    if (!wait) return;
    this.control.close();
    const tracked: Promise<void> = wait.then(
      () => {
        this.waits.delete(tracked);
        if (this.waits.size === 0) this.control.open();
      },
      (err: unknown) => this.fail(err),
    );
    this.waits.add(tracked);
  }

  private fail(err: unknown): void {
    if (!("error" in this.failure)) this.failure.error = err;
    this.control.open();
    this.onError(err);
  }
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
