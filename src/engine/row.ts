/**
 * The text form of a row's mapped values, shared by row hashes and run chunks: PostgreSQL's COPY
 * text format (the line `COPY … TO STDOUT` sends): values separated by tabs, null as `\N`, and
 * backslash, tab, newline, carriage return, backspace, form feed and vertical tab escaped with a
 * backslash. Unambiguous for a given number of values (null differs from "", ["a","bc"] from
 * ["ab","c"]; every row of a sync has its mapping's arity), and it is what
 * Postgres sends, so extraction through COPY hashes and stores the bytes it receives without
 * decoding them; rows read as strings are encoded to the same bytes (same hashes).
 */

/** A field as read from the warehouse: raw text, or null for SQL NULL. */
export type RawValue = string | null;

const TAB = 0x09;
const BACKSLASH = 0x5c;
const N_UPPER = 0x4e;

/** Escape letter for the control characters COPY escapes, by code (0 = none). */
export const ESCAPES = new Uint8Array(128);
ESCAPES[0x08] = 0x62; // \b
ESCAPES[0x09] = 0x74; // \t
ESCAPES[0x0a] = 0x6e; // \n
ESCAPES[0x0b] = 0x76; // \v
ESCAPES[0x0c] = 0x66; // \f
ESCAPES[0x0d] = 0x72; // \r
ESCAPES[BACKSLASH] = BACKSLASH;

const UNESCAPES: Record<string, string> = { b: "\b", t: "\t", n: "\n", v: "\v", f: "\f", r: "\r" };

/** One value as COPY text. */
function escapeValue(v: string): string {
  return v.replace(/[\\\b\t\n\v\f\r]/g, (c) => `\\${String.fromCharCode(ESCAPES[c.charCodeAt(0)] ?? 0)}`);
}

/** The COPY text of a row's values (without the trailing newline). */
export function encodeRow(values: readonly RawValue[]): string {
  let s = "";
  for (let k = 0; k < values.length; k++) {
    const v = values[k] ?? null;
    if (k > 0) s += "\t";
    s += v === null ? "\\N" : escapeValue(v);
  }
  return s;
}

/** Thrown when text is not a row of the expected shape (a damaged chunk). */
class RowFormatError extends Error {
  override name = "RowFormatError";
}

/** Reverses COPY text escapes: `\b \t \n \v \f \r \\`, octal `\ooo` and hex `\xhh`; another `\c` is `c`. */
export function unescapeCopy(s: string): string {
  if (!s.includes("\\")) return s;
  return s.replace(
    /\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|([\s\S]))/g,
    (_m, oct: string | undefined, hex: string | undefined, c: string | undefined) => {
      if (oct !== undefined) return String.fromCharCode(parseInt(oct, 8));
      if (hex !== undefined) return String.fromCharCode(parseInt(hex, 16));
      return UNESCAPES[c ?? ""] ?? c ?? "";
    },
  );
}

/** Decodes `count` values from COPY text `text` (no trailing newline). */
export function decodeRow(text: string, count: number): RawValue[] {
  const fields = count === 0 && text === "" ? [] : text.split("\t");
  if (fields.length !== count) throw new RowFormatError(`row has ${fields.length} values, expected ${count}`);
  return fields.map((f) => (f === "\\N" ? null : unescapeCopy(f)));
}

/**
 * Writes the UTF-8 of `s` into `buf` at `at` and returns the end; `buf` must have 3 bytes per
 * code unit free. Same bytes as TextEncoder (a lone surrogate becomes U+FFFD). With `copyEscapes`,
 * characters COPY escapes are written escaped. A plain loop beats a TextEncoder call per short
 * field and allocates nothing.
 */
export function writeUtf8(s: string, buf: Uint8Array, at: number, copyEscapes = false): number {
  let p = at;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      const e = copyEscapes ? (ESCAPES[c] ?? 0) : 0;
      if (e !== 0) buf[p++] = BACKSLASH;
      buf[p++] = e !== 0 ? e : c;
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

/** Bytes {@link writeRowUtf8} may need for `values`. */
export function maxRowUtf8(values: readonly RawValue[]): number {
  let n = 0;
  for (const v of values) n += v === null ? 3 : 3 * v.length + 1;
  return n;
}

/** Writes the UTF-8 of `encodeRow(values)` into `buf` at `at` (room: {@link maxRowUtf8}); returns the end. */
export function writeRowUtf8(values: readonly RawValue[], buf: Uint8Array, at: number): number {
  let p = at;
  for (let k = 0; k < values.length; k++) {
    const v = values[k] ?? null;
    if (k > 0) buf[p++] = TAB;
    if (v === null) {
      buf[p++] = BACKSLASH;
      buf[p++] = N_UPPER;
    } else {
      p = writeUtf8(v, buf, p, true);
    }
  }
  return p;
}

/** UTF-16 length of valid UTF-8 bytes (what the decoded string's `.length` will be). */
export function utf16Length(bytes: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] ?? 0;
    // Count lead bytes; a 4-byte sequence decodes to a surrogate pair.
    if ((b & 0xc0) !== 0x80) n += b >= 0xf0 ? 2 : 1;
  }
  return n;
}
