/**
 * MySQL packets (https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_packets.html):
 * a 3-byte little-endian payload length, a sequence id, the payload. A payload of 0xFFFFFF bytes
 * or more is split into packets of 0xFFFFFF and ends with a shorter one. Values inside are
 * length-encoded integers and strings.
 */

const MAX_PACKET = 0xffffff;

/** Splits bytes read from the socket into payloads; memory is what one read plus one payload take. */
export class PacketSplitter {
  private buf: Uint8Array = new Uint8Array(0);
  private at = 0;
  // Parts of a payload split over several packets (16 MiB or more).
  private parts: Uint8Array[] = [];
  /** The sequence id of the last packet taken. */
  seq = 0;

  /** Adds bytes read from the socket; the splitter keeps only what it has not handed out yet. */
  push(chunk: Uint8Array): void {
    const rest = this.buf.length - this.at;
    if (rest === 0) this.buf = chunk;
    else {
      const joined = new Uint8Array(rest + chunk.length);
      joined.set(this.buf.subarray(this.at), 0);
      joined.set(chunk, rest);
      this.buf = joined;
    }
    this.at = 0;
  }

  /** Copies what is held out of the last pushed chunk, whose buffer the next socket read reuses. */
  detach(): void {
    if (this.at < this.buf.length) this.buf = this.buf.slice(this.at);
    else this.buf = new Uint8Array(0);
    this.at = 0;
  }

  /** The next whole payload, or `undefined` until more bytes arrive. Valid until the next push. */
  next(): Uint8Array | undefined {
    for (;;) {
      const buf = this.buf;
      const at = this.at;
      if (buf.length - at < 4) return undefined;
      const length = (buf[at] ?? 0) | ((buf[at + 1] ?? 0) << 8) | ((buf[at + 2] ?? 0) << 16);
      if (buf.length - at - 4 < length) return undefined;
      this.seq = buf[at + 3] ?? 0;
      const payload = buf.subarray(at + 4, at + 4 + length);
      this.at = at + 4 + length;
      if (length === MAX_PACKET) {
        this.parts.push(payload.slice());
        continue;
      }
      if (this.parts.length === 0) return payload;
      const whole = concat([...this.parts, payload]);
      this.parts = [];
      return whole;
    }
  }

  /** Bytes held that are not a whole payload yet (a server sending after TLS was asked is suspect). */
  get buffered(): number {
    return this.buf.length - this.at;
  }
}

/** A payload as packets starting at sequence id `seq`. */
export function framePackets(payload: Uint8Array, seq: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let at = 0;
  for (;;) {
    const length = Math.min(MAX_PACKET, payload.length - at);
    const header = new Uint8Array([length & 0xff, (length >> 8) & 0xff, length >> 16, seq++ & 0xff]);
    parts.push(header, payload.subarray(at, at + length));
    at += length;
    if (length < MAX_PACKET) break;
  }
  return concat(parts);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Reads a payload's fields in order. */
export class PayloadReader {
  at = 0;
  constructor(readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.at >= this.bytes.length;
  }

  u8(): number {
    return this.bytes[this.at++] ?? 0;
  }

  u16(): number {
    const v = (this.bytes[this.at] ?? 0) | ((this.bytes[this.at + 1] ?? 0) << 8);
    this.at += 2;
    return v;
  }

  u32(): number {
    const b = this.bytes;
    const v = ((b[this.at] ?? 0) | ((b[this.at + 1] ?? 0) << 8) | ((b[this.at + 2] ?? 0) << 16)) + (b[this.at + 3] ?? 0) * 0x1000000;
    this.at += 4;
    return v;
  }

  skip(n: number): void {
    this.at += n;
  }

  /** A length-encoded integer; `null` for the NULL marker 0xFB. */
  lenenc(): number | null {
    const first = this.u8();
    if (first < 0xfb) return first;
    if (first === 0xfb) return null;
    if (first === 0xfc) return this.u16();
    if (first === 0xfd) {
      const v = this.u16();
      return v + this.u8() * 0x10000;
    }
    const low = this.u32();
    return low + this.u32() * 0x100000000;
  }

  bytesOf(n: number): Uint8Array {
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  /** A length-encoded string's bytes; `null` for NULL. */
  lenencBytes(): Uint8Array | null {
    const n = this.lenenc();
    return n === null ? null : this.bytesOf(n);
  }

  lenencString(): string {
    return decoder.decode(this.lenencBytes() ?? new Uint8Array(0));
  }

  /** A NUL-terminated string (or the rest of the payload when there is no NUL). */
  nulString(): string {
    const end = this.bytes.indexOf(0, this.at);
    const stop = end === -1 ? this.bytes.length : end;
    const s = decoder.decode(this.bytes.subarray(this.at, stop));
    this.at = stop + 1;
    return s;
  }

  rest(): Uint8Array {
    const out = this.bytes.subarray(this.at);
    this.at = this.bytes.length;
    return out;
  }
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Builds a payload. */
export class PayloadWriter {
  private chunks: Uint8Array[] = [];

  u8(v: number): this {
    this.chunks.push(new Uint8Array([v & 0xff]));
    return this;
  }

  u32(v: number): this {
    this.chunks.push(new Uint8Array([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]));
    return this;
  }

  zeros(n: number): this {
    this.chunks.push(new Uint8Array(n));
    return this;
  }

  bytes(b: Uint8Array): this {
    this.chunks.push(b);
    return this;
  }

  nulString(s: string): this {
    this.chunks.push(encoder.encode(s), new Uint8Array(1));
    return this;
  }

  lenencBytes(b: Uint8Array): this {
    const n = b.length;
    if (n < 0xfb) this.u8(n);
    else if (n < 0x10000) this.chunks.push(new Uint8Array([0xfc, n & 0xff, n >> 8]));
    else this.chunks.push(new Uint8Array([0xfd, n & 0xff, (n >> 8) & 0xff, n >> 16]));
    return this.bytes(b);
  }

  build(): Uint8Array {
    return concat(this.chunks);
  }
}
