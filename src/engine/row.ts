/**
 * The text form of a row's values shared by row hashes and run chunks: each field as
 * `<length>:<text>` (length in UTF-16 code units), null as `~`. A field starts with a digit or `~`,
 * so a row decodes one way only: null differs from "", and ["a","bc"] from ["ab","c"]. One string
 * per row is encoded to UTF-8 once, and that same byte run is both hashed and stored.
 */

/** A field as read from the warehouse: raw text, or null for SQL NULL. */
export type RawValue = string | null;

/** The text form of a sequence of fields. */
export function encodeRow(fields: readonly RawValue[]): string {
  let s = "";
  for (const v of fields) s += v === null ? "~" : `${v.length}:${v}`;
  return s;
}

const TILDE = 0x7e;
const COLON = 0x3a;
const ZERO = 0x30;

/** Thrown when text is not in the row form (a damaged chunk). */
export class RowFormatError extends Error {
  override name = "RowFormatError";
}

/**
 * Reads one field of `text` starting at `at`: returns the offset after it and writes the field's
 * [start, end) into `range` (start = -1 for null). No allocation, for hot loops.
 */
export function readField(text: string, at: number, range: Int32Array): number {
  const c = text.charCodeAt(at);
  if (c === TILDE) {
    range[0] = -1;
    range[1] = -1;
    return at + 1;
  }
  let len = 0;
  let i = at;
  for (;;) {
    const d = text.charCodeAt(i);
    if (d === COLON && i > at) break;
    if (!(d >= ZERO && d <= ZERO + 9)) throw new RowFormatError(`bad field header at ${at}`);
    len = len * 10 + (d - ZERO);
    i++;
  }
  const start = i + 1;
  if (start + len > text.length) throw new RowFormatError(`field at ${at} runs past the text`);
  range[0] = start;
  range[1] = start + len;
  return start + len;
}

/** Decodes `count` fields of text form from `text` at [from, to). */
export function decodeRow(text: string, from: number, to: number, count: number): RawValue[] {
  const out = new Array<RawValue>(count);
  const range = new Int32Array(2);
  let at = from;
  for (let k = 0; k < count; k++) {
    at = readField(text, at, range);
    const start = range[0] ?? -1;
    out[k] = start < 0 ? null : text.slice(start, range[1] ?? start);
  }
  if (at !== to) throw new RowFormatError(`row has more than ${count} fields`);
  return out;
}

/**
 * Writes the UTF-8 of `s` into `buf` at `at` and returns the end; `buf` must have 3 bytes per
 * code unit free. Same bytes as TextEncoder (a lone surrogate becomes U+FFFD); a plain loop beats
 * a TextEncoder call per short field and allocates nothing.
 */
export function writeUtf8(s: string, buf: Uint8Array, at: number): number {
  let p = at;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[p++] = c;
    } else if (c < 0x800) {
      buf[p++] = 0xc0 | (c >> 6);
      buf[p++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
          buf[p++] = 0xf0 | (c >> 18);
          buf[p++] = 0x80 | ((c >> 12) & 0x3f);
          buf[p++] = 0x80 | ((c >> 6) & 0x3f);
          buf[p++] = 0x80 | (c & 0x3f);
          continue;
        }
        c = 0xfffd;
      }
      buf[p++] = 0xe0 | (c >> 12);
      buf[p++] = 0x80 | ((c >> 6) & 0x3f);
      buf[p++] = 0x80 | (c & 0x3f);
    }
  }
  return p;
}

/** Writes a decimal non-negative integer as ASCII at `at`; returns the end. */
function writeDecimal(v: number, buf: Uint8Array, at: number): number {
  if (v < 10) {
    buf[at] = ZERO + v;
    return at + 1;
  }
  const digits = v < 100 ? 2 : v < 1000 ? 3 : v < 10000 ? 4 : Math.floor(Math.log10(v)) + 1;
  let p = at + digits;
  for (let x = v; p > at; x = Math.floor(x / 10)) buf[--p] = ZERO + (x % 10);
  return at + digits;
}

/** Bytes {@link writeRowUtf8} may need for `values`. */
export function maxRowUtf8(values: readonly RawValue[]): number {
  let n = 0;
  for (const v of values) n += v === null ? 1 : 3 * v.length + 11;
  return n;
}

/**
 * Writes the UTF-8 of `encodeRow(values)` into `buf` at `at` (room: {@link maxRowUtf8}) and
 * returns the end, without building the string.
 */
export function writeRowUtf8(values: readonly RawValue[], buf: Uint8Array, at: number): number {
  let p = at;
  for (const v of values) {
    if (v === null) {
      buf[p++] = TILDE;
    } else {
      p = writeDecimal(v.length, buf, p);
      buf[p++] = COLON;
      p = writeUtf8(v, buf, p);
    }
  }
  return p;
}
