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
  constructor(private readonly composite: readonly boolean[]) {}

  /** The COPY line (with its newline) of one TSV line (without it); valid until the next call. */
  line(tsv: Uint8Array): Uint8Array {
    if (this.out.length < 2 * tsv.length + 1) this.out = new Uint8Array(2 * tsv.length + 1024);
    const out = this.out;
    let p = 0;
    let column = 0;
    let literal = this.composite[0] ?? false;
    for (let i = 0; i < tsv.length; i++) {
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
        const next = tsv[++i];
        if (next === undefined) break;
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
  return CODE_PREFIX.every((b, k) => line[k] === b);
}

/**
 * Hands each line of a response's body (without its newline) to `onLine`, awaiting its promise
 * before reading on: the body is read one chunk at a time, so memory stays at a chunk plus a line.
 * A query that fails after its first rows were sent appends its exception to the body: a last
 * line of ClickHouse's exception text, or (24.11+, when the response names an
 * `X-ClickHouse-Exception-Tag`) a block that starts with a `__exception__` line; either throws
 * that {@link WarehouseError}. A body cut off mid-line throws `connection_lost`. `onLine`
 * returning `false` stops reading (the body is cancelled).
 */
export async function readLines(response: Response, onLine: (line: Uint8Array) => unknown): Promise<void> {
  const body = response.body;
  if (!body) return;
  const tagged = response.headers.has("x-clickhouse-exception-tag");
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let carry: Uint8Array = new Uint8Array(0);
  // A line that looks like an exception is held until we know whether the body ends with it.
  let held: Uint8Array | undefined;
  // The lines of a tagged exception block, once its `__exception__` line was read.
  let block: string[] | undefined;
  // The careful path: exception blocks and lines that may be exception text.
  const deliverSlow = async (line: Uint8Array): Promise<boolean> => {
    if (block) {
      block.push(decoder.decode(line));
      return true;
    }
    if (tagged && line.length <= 14 && /^__exception__\r?$/.test(decoder.decode(line))) {
      block = [];
      return true;
    }
    if (held) {
      const previous = held;
      held = undefined;
      if ((await onLine(previous)) === false) return false;
    }
    if (startsWithCode(line) && EXCEPTION_TEXT.test(decoder.decode(line))) {
      held = line.slice();
      return true;
    }
    return (await onLine(line)) !== false;
  };
  // The hot path stays synchronous while the handler is (no promise per row).
  const deliver = (line: Uint8Array): boolean | Promise<boolean> => {
    if (block || held || (tagged && line.length <= 14) || startsWithCode(line)) return deliverSlow(line);
    const result = onLine(line);
    return result instanceof Promise ? result.then((r) => r !== false) : result !== false;
  };
  const delivered = async (ok: boolean | Promise<boolean>) => (ok instanceof Promise ? await ok : ok);
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (err) {
        // The request's deadline (see clickhouseRequest) aborts it with a WarehouseError; else a reset connection.
        if (err instanceof WarehouseError) throw err;
        throw new WarehouseError("connection_lost", `reading ClickHouse's answer failed: ${String(err)}`, { cause: err });
      }
      const { done, value } = next;
      if (done) break;
      let start = 0;
      if (carry.length > 0) {
        const end = value.indexOf(NEWLINE);
        if (end === -1) {
          carry = concat(carry, value);
          continue;
        }
        const first = concat(carry, value.subarray(0, end));
        carry = new Uint8Array(0);
        if (!(await delivered(deliver(first)))) return;
        start = end + 1;
      }
      const chunk = value;
      for (;;) {
        const end = chunk.indexOf(NEWLINE, start);
        if (end === -1) break;
        const ok = deliver(chunk.subarray(start, end));
        if (!(ok instanceof Promise ? await ok : ok)) return;
        start = end + 1;
      }
      if (start < chunk.length) carry = chunk.slice(start);
    }
    const tail = decoder.decode(carry);
    if (block) {
      const text = block.find((l) => EXCEPTION_TEXT.test(l)) ?? block.join("\n");
      throw clickhouseError(text, 500);
    }
    if (held) throw clickhouseError(decoder.decode(held) + (tail ? `\n${tail}` : ""), 500);
    if (carry.length > 0) {
      if (EXCEPTION_TEXT.test(tail)) throw clickhouseError(tail, 500);
      throw new WarehouseError("connection_lost", "ClickHouse's answer ended in the middle of a row");
    }
  } finally {
    // Stops the query when reading ends early (a handler failure, `false`, or an error).
    await reader.cancel().catch(() => undefined);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
