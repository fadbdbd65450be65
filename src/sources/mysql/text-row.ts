import { canonicalJson } from "../canonical-json";
import { writeUtf8 } from "../../engine/row";
import type { ValueForm } from "./types";

/**
 * A text-protocol row packet (https://mariadb.com/kb/en/resultset-row/: one length-encoded string
 * per column, 0xFB for NULL) → the canonical COPY text line (src/engine/row.ts). Values are the
 * server's text, escaped as COPY escapes it (`\\ \b \t \n \v \f \r`, NUL as `\0`), except:
 * binary values become Postgres' bytea hex (`\x0aff`, so any bytes fit in text), BIT values their
 * unsigned integer, and JSON values canonical JSON (keys sorted, no white space; numbers kept as
 * written), so MariaDB's JSON-as-text hashes alike whatever key order or spacing it was stored with.
 */

const TAB = 0x09;
const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;

// The letter COPY writes after a backslash for each byte it escapes (0 = none).
const ESCAPE = new Uint8Array(256);
ESCAPE[0x00] = 0x30; // \0
ESCAPE[0x08] = 0x62; // \b
ESCAPE[0x09] = 0x74; // \t
ESCAPE[0x0a] = 0x6e; // \n
ESCAPE[0x0b] = 0x76; // \v
ESCAPE[0x0c] = 0x66; // \f
ESCAPE[0x0d] = 0x72; // \r
ESCAPE[BACKSLASH] = BACKSLASH;

const HEX = new TextEncoder().encode("0123456789abcdef");
const decoder = new TextDecoder();

/** Converts row packets to COPY lines, picking `pick[k]` (a result column index) as the line's k-th value. */
export class RowToCopy {
  private out = new Uint8Array(8192);
  // Start and end of each result column's value in the packet; start -1 for NULL.
  private readonly starts: Int32Array;
  private readonly ends: Int32Array;

  constructor(
    private readonly forms: readonly ValueForm[],
    private readonly pick: readonly number[],
  ) {
    this.starts = new Int32Array(forms.length);
    this.ends = new Int32Array(forms.length);
  }

  /** The line (with its newline) of one row packet; valid until the next call. */
  line(row: Uint8Array): Uint8Array {
    const { starts, ends } = this;
    let at = 0;
    for (let k = 0; k < starts.length; k++) {
      const first = row[at++] ?? 0;
      let length: number;
      if (first < 0xfb) length = first;
      else if (first === 0xfb) {
        starts[k] = -1;
        continue;
      } else if (first === 0xfc) {
        length = (row[at] ?? 0) | ((row[at + 1] ?? 0) << 8);
        at += 2;
      } else if (first === 0xfd) {
        length = (row[at] ?? 0) | ((row[at + 1] ?? 0) << 8) | ((row[at + 2] ?? 0) << 16);
        at += 3;
      } else {
        length = ((row[at] ?? 0) | ((row[at + 1] ?? 0) << 8) | ((row[at + 2] ?? 0) << 16)) + (row[at + 3] ?? 0) * 0x1000000;
        at += 8;
      }
      starts[k] = at;
      ends[k] = at + length;
      at += length;
    }
    // Escaping at most doubles a value; hex is 3 + 2 per byte; a JSON value is sized where written.
    const need = 3 * row.length + 4 * this.pick.length + 16;
    if (this.out.length < need) this.out = new Uint8Array(need * 2);
    let out = this.out;
    let p = 0;
    for (let k = 0; k < this.pick.length; k++) {
      if (k > 0) out[p++] = TAB;
      const c = this.pick[k] ?? 0;
      const start = starts[c] ?? -1;
      if (start < 0) {
        out[p++] = BACKSLASH;
        out[p++] = 0x4e; // \N
        continue;
      }
      const end = ends[c] ?? start;
      const form = this.forms[c];
      if (form === "text") {
        for (let i = start; i < end; i++) {
          const b = row[i] ?? 0;
          const e = ESCAPE[b] ?? 0;
          if (e !== 0) {
            out[p++] = BACKSLASH;
            out[p++] = e;
          } else out[p++] = b;
        }
      } else if (form === "binary") {
        out[p++] = BACKSLASH;
        out[p++] = BACKSLASH;
        out[p++] = 0x78; // x
        for (let i = start; i < end; i++) {
          const b = row[i] ?? 0;
          out[p++] = HEX[b >> 4] ?? 0;
          out[p++] = HEX[b & 15] ?? 0;
        }
      } else {
        const text = form === "bit" ? bitText(row.subarray(start, end)) : jsonText(decoder.decode(row.subarray(start, end)));
        const size = p + 6 * text.length + 2 * (this.pick.length - k) + 16;
        if (out.length < size) {
          const grown = new Uint8Array(size * 2);
          grown.set(out.subarray(0, p));
          this.out = out = grown;
        }
        p = writeUtf8(text, out, p, true);
      }
    }
    out[p++] = NEWLINE;
    return out.subarray(0, p);
  }
}

/** A BIT value's bytes (big-endian) as its unsigned integer. */
function bitText(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n.toString();
}

/** A JSON column's text in the canonical form; text that is not JSON as it is. */
function jsonText(text: string): string {
  return canonicalJson(text) ?? text;
}
