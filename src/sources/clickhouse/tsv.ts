import { WarehouseError } from "../errors";
import { clickhouseError, EXCEPTION_TEXT } from "./http";

/**
 * ClickHouse's TabSeparated text → the canonical COPY text line (src/engine/row.ts). The two
 * escape almost alike: NULL is `\N`; `\\ \t \n \r \b \f \0` are the same. The differences, fixed
 * here: ClickHouse escapes `'` as `\'` (COPY writes `'`), and writes a vertical tab raw (COPY
 * writes `\v`). Array, Tuple and Map values are literals whose strings are quoted and escaped once
 * (`['a\\b','it\'s']`) and not escaped again for TSV, so their text is kept as the value and
 * escaped as COPY text (each `\` doubled). A NUL stays `\0`, which COPY decoding reads as NUL too.
 */

const TAB = 0x09;
const NEWLINE = 0x0a;
const VTAB = 0x0b;
const BACKSLASH = 0x5c;
const QUOTE = 0x27;
const V = 0x76;

/** Converts ClickHouse TSV lines to COPY lines; `composite[k]` says column k is a literal (see the module comment). */
export class TsvToCopy {
  private out = new Uint8Array(4096);
  // plainEnd's buffer and the next backslash and vertical tab in it.
  private scanned: Uint8Array | undefined;
  private backslashAt = -1;
  private vtabAt = -1;
  constructor(private readonly composite: readonly boolean[]) {}

  /**
   * The COPY line of one TSV line, both with their newline; valid until the next call. A line
   * without a backslash or a vertical tab (most lines) is already its COPY line: returned as is,
   * two native scans and no copy.
   */
  line(tsv: Uint8Array): Uint8Array {
    if (tsv.indexOf(BACKSLASH) === -1 && tsv.indexOf(VTAB) === -1) return tsv;
    return this.convert(tsv);
  }

  /**
   * Where the lines of `tsv[from, to)` that are already COPY lines (no backslash, no vertical tab)
   * end: `to`, or the start of the first line that needs {@link TsvToCopy.line}. Two native scans
   * for a whole read buffer instead of two per line.
   */
  plainEnd(tsv: Uint8Array, from: number, to: number): number {
    // Called with `from` going up through one buffer: each byte is searched once (-1: none left).
    if (tsv !== this.scanned) {
      this.scanned = tsv;
      this.backslashAt = tsv.indexOf(BACKSLASH, from);
      this.vtabAt = tsv.indexOf(VTAB, from);
    }
    if (this.backslashAt !== -1 && this.backslashAt < from) this.backslashAt = tsv.indexOf(BACKSLASH, from);
    if (this.vtabAt !== -1 && this.vtabAt < from) this.vtabAt = tsv.indexOf(VTAB, from);
    const special = this.backslashAt === -1 ? this.vtabAt : this.vtabAt === -1 ? this.backslashAt : Math.min(this.backslashAt, this.vtabAt);
    if (special === -1 || special >= to) return to;
    return Math.max(from, tsv.lastIndexOf(NEWLINE, special) + 1);
  }

  private convert(tsv: Uint8Array): Uint8Array {
    if (this.out.length < 2 * tsv.length) this.out = new Uint8Array(2 * tsv.length + 1024);
    const out = this.out;
    let p = 0;
    let column = 0;
    let literal = this.composite[0] ?? false;
    const end = tsv.length - 1;
    for (let i = 0; i < end; i++) {
      const c = tsv[i] ?? 0;
      if (c === TAB) {
        out[p++] = TAB;
        literal = this.composite[++column] ?? false;
      } else if (c === VTAB) {
        out[p++] = BACKSLASH;
        out[p++] = V;
      } else if (c !== BACKSLASH) out[p++] = c;
      else if (literal) {
        out[p++] = BACKSLASH;
        out[p++] = BACKSLASH;
      } else {
        if (++i >= end) break;
        const next = tsv[i] ?? 0;
        if (next !== QUOTE) out[p++] = BACKSLASH;
        out[p++] = next;
      }
    }
    out[p++] = NEWLINE;
    return out.subarray(0, p);
  }
}

/** Undoes ClickHouse's TSV escapes of one field (header names and types). */
export function unescapeTsv(s: string): string {
  const map: Record<string, string> = { b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", "0": "\0", a: "\x07", v: "\v" };
  return s.replace(/\\([\s\S])/g, (_m, c: string) => map[c] ?? c);
}

// "Code: " starts ClickHouse's exception text, which a query that fails mid-stream appends to the body.
const CODE_PREFIX = [0x43, 0x6f, 0x64, 0x65, 0x3a, 0x20];

function startsWithCode(line: Uint8Array): boolean {
  return line[0] === CODE_PREFIX[0] && CODE_PREFIX.every((b, k) => line[k] === b);
}

// Reads of the body fill at least this much (workerd's default reader hands over 4 KiB at a time,
// and a read costs more than the lines in 4 KiB: reading 64 KiB or more at once is about twice as fast).
const MIN_READ = 64 * 1024;

/**
 * Hands each line of a response's body (with its newline) to `onLine`, awaiting its promise
 * before reading on: the body is read at least 64 KiB at a time into one reused buffer (a BYOB
 * reader where the body is a byte stream), so memory stays at a buffer plus a line; the bytes are
 * valid during the call only. A query that fails after its first rows were sent appends its
 * exception to the body: a last line of ClickHouse's exception text, or (24.11+, when the response
 * names an `X-ClickHouse-Exception-Tag`) a block that starts with a `__exception__` line; either
 * throws that {@link WarehouseError}. A body cut off mid-line throws `connection_lost`. `onLine`
 * returning `false` stops reading (the body is cancelled).
 */
export async function readLines(response: Response, onLine: (line: Uint8Array) => unknown, many?: ManyLines): Promise<void> {
  const body = response.body;
  if (!body) return;
  const tagged = response.headers.has("x-clickhouse-exception-tag");
  const reader = bodyReader(body);
  const decoder = new TextDecoder();
  const text = (line: Uint8Array) => decoder.decode(line[line.length - 1] === NEWLINE ? line.subarray(0, -1) : line);
  // A line that looks like an exception is held until we know whether the body ends with it.
  let held: Uint8Array | undefined;
  // The lines of a tagged exception block, once its `__exception__` line was read.
  let block: string[] | undefined;
  // The careful path: exception blocks and lines that may be exception text.
  const deliverSlow = async (line: Uint8Array): Promise<boolean> => {
    if (block) {
      block.push(text(line));
      return true;
    }
    if (tagged && line.length <= 15 && /^__exception__\r?$/.test(text(line))) {
      block = [];
      return true;
    }
    if (held) {
      const previous = held;
      held = undefined;
      if ((await onLine(previous)) === false) return false;
    }
    if (startsWithCode(line) && EXCEPTION_TEXT.test(text(line))) {
      held = line.slice();
      return true;
    }
    return (await onLine(line)) !== false;
  };
  // The hot path stays synchronous while the handler is (no promise per row).
  const deliver = (line: Uint8Array): boolean | Promise<boolean> => {
    if (block || held || (tagged && line.length <= 15) || startsWithCode(line)) return deliverSlow(line);
    const result = onLine(line);
    return result instanceof Promise ? result.then((r) => r !== false) : result !== false;
  };
  // A line's start not yet handed over is kept at the buffer's start; `partial` is its copy for
  // the end of the body (a BYOB read that finds the end gives no buffer back).
  let buffer: Uint8Array = new Uint8Array(4 * MIN_READ);
  let kept = 0;
  let partial = buffer.subarray(0, 0);
  try {
    for (;;) {
      if (buffer.length - kept < MIN_READ) buffer = grown(buffer, kept, kept + MIN_READ);
      partial = buffer.slice(0, kept);
      let filled: Filled | null;
      try {
        filled = await reader.fill(buffer, kept);
      } catch (err) {
        // The request's deadline (see clickhouseRequest) aborts it with a WarehouseError; else a reset connection.
        if (err instanceof WarehouseError) throw err;
        throw new WarehouseError("connection_lost", `reading ClickHouse's answer failed: ${String(err)}`, { cause: err });
      }
      if (!filled) break;
      buffer = filled.buffer;
      const bytes = buffer.subarray(0, filled.end);
      let start = 0;
      // Whole lines end at `whole`; with `many`, runs of them go in one call (see ManyLines).
      const whole = many ? bytes.lastIndexOf(NEWLINE) + 1 : 0;
      // The first line at or after `start` that may be exception text (searched again once passed).
      let care = -1;
      for (;;) {
        if (many && start < whole && !block && !held) {
          if (care < start) care = careEnd(bytes, start, whole, tagged);
          const end = Math.min(many.plainEnd(bytes, start, whole), care);
          if (end > start) {
            const ok = many.onLines(bytes.subarray(start, end));
            if ((ok instanceof Promise ? await ok : ok) === false) return;
            start = end;
            continue;
          }
        }
        const end = bytes.indexOf(NEWLINE, start);
        if (end === -1) break;
        const ok = deliver(bytes.subarray(start, end + 1));
        if (!(ok instanceof Promise ? await ok : ok)) return;
        start = end + 1;
      }
      kept = bytes.length - start;
      buffer.copyWithin(0, start, bytes.length);
      if (filled.done) {
        partial = buffer.slice(0, kept);
        break;
      }
    }
    const tail = decoder.decode(partial);
    if (block) {
      const message = block.find((l) => EXCEPTION_TEXT.test(l)) ?? block.join("\n");
      throw clickhouseError(message, 500);
    }
    if (held) throw clickhouseError(text(held) + (tail ? `\n${tail}` : ""), 500);
    if (partial.length > 0) {
      if (EXCEPTION_TEXT.test(tail)) throw clickhouseError(tail, 500);
      throw new WarehouseError("connection_lost", "ClickHouse's answer ended in the middle of a row");
    }
  } finally {
    // Stops the query when reading ends early (a handler failure, `false`, or an error).
    await reader.cancel().catch(() => undefined);
  }
}

/**
 * Lines of a read buffer handed over together, for a caller whose per-line work is cheap next to a
 * call per line: `plainEnd(bytes, from, to)` says how far from `from` the lines may go as they are
 * (a line boundary, `to` for all), and `onLines` takes them (its `false` stops reading, as
 * `onLine`'s). Lines that may be exception text, and those `plainEnd` leaves, go to `onLine`.
 */
export interface ManyLines {
  plainEnd(bytes: Uint8Array, from: number, to: number): number;
  onLines(lines: Uint8Array): unknown;
}

/**
 * The start of the first line in `bytes[from, to)` (whole lines) that {@link readLines} must look
 * at alone: one starting with ClickHouse's exception text ("Code: "), or with `__exception__`
 * when the response is tagged; `to` when there is none. Native scans for the first byte.
 */
function careEnd(bytes: Uint8Array, from: number, to: number, tagged: boolean): number {
  let end = firstLineStarting(bytes, from, to, CODE_PREFIX);
  if (tagged) end = Math.min(end, firstLineStarting(bytes, from, end, EXCEPTION_TAG_PREFIX));
  return end;
}

const EXCEPTION_TAG_PREFIX = [...new TextEncoder().encode("__exception__")];

function firstLineStarting(bytes: Uint8Array, from: number, to: number, prefix: readonly number[]): number {
  const first = prefix[0] ?? 0;
  for (let i = bytes.indexOf(first, from); i !== -1 && i < to; i = bytes.indexOf(first, i + 1)) {
    if ((i === from || bytes[i - 1] === NEWLINE) && prefix.every((b, k) => bytes[i + k] === b)) return i;
  }
  return to;
}

/** A read into a buffer: the buffer (a new view where the read transferred it), where its bytes end, and whether the body ended. */
interface Filled {
  buffer: Uint8Array;
  end: number;
  done: boolean;
}

/**
 * Reads `body` into a caller's buffer after its first `from` bytes, at least {@link MIN_READ} at
 * a time where the body is a byte stream read by workerd (a BYOB reader's readAtLeast; fetch
 * bodies are), else a chunk at a time; null at the end.
 */
function bodyReader(body: ReadableStream<Uint8Array>): {
  fill(buffer: Uint8Array, from: number): Promise<Filled | null>;
  cancel(): Promise<void>;
} {
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream.
  }
  // readAtLeast is workerd's (https://developers.cloudflare.com/workers/runtime-apis/streams/readablestreambyobreader/).
  if (byob && typeof byob.readAtLeast !== "function") {
    byob.releaseLock();
    byob = undefined;
  }
  if (byob) {
    const reader = byob;
    return {
      async fill(buffer, from) {
        // workerd's readAtLeast; a body that ends first may answer done together with its last bytes.
        const { done, value } = await reader.readAtLeast(MIN_READ, buffer.subarray(from));
        if (!value) return null;
        return { buffer: new Uint8Array(value.buffer), end: from + value.length, done };
      },
      cancel: () => reader.cancel(),
    };
  }
  const reader = body.getReader();
  return {
    async fill(buffer, from) {
      const { done, value } = await reader.read();
      if (done) return null;
      const out = buffer.length < from + value.length ? grown(buffer, from, from + value.length) : buffer;
      out.set(value, from);
      return { buffer: out, end: from + value.length, done: false };
    },
    cancel: () => reader.cancel(),
  };
}

/** A buffer of at least `size` bytes (at least twice the old one) starting with `buffer`'s first `kept` bytes. */
function grown(buffer: Uint8Array, kept: number, size: number): Uint8Array {
  const out = new Uint8Array(Math.max(size, 2 * buffer.length));
  out.set(buffer.subarray(0, kept));
  return out;
}
