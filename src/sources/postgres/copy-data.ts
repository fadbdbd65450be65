/**
 * Takes `COPY … TO STDOUT` rows straight out of the bytes a Postgres connection receives, ahead of
 * the driver: each CopyData message ('d') goes to `onRow` as a view of its payload (one row of COPY
 * text), every other message is passed on, in order, for the driver to handle as usual
 * (CopyOutResponse, CopyDone, CommandComplete, errors, notices). At ReadyForQuery ('Z') the query
 * is over: that message and everything after it go to the driver and the splitter is done.
 * It exists for speed: the driver's parser allocates a message object and fires events per row,
 * which made reading cost as much as hashing and chunking the rows together.
 */
export class CopyDataSplitter {
  /** An incomplete message carried over to the next chunk. */
  private carry: Uint8Array[] = [];
  private carried = 0;
  /** Bytes the carried message needs in all (0 while its 5-byte header is incomplete). */
  private needed = 0;
  done = false;

  constructor(private readonly onRow: (payload: Uint8Array) => void) {}

  /**
   * Splits one chunk read from the socket; returns the bytes for the driver (null when none).
   * The chunk, the rows handed out and the bytes returned are valid until the next call (the
   * reader reuses its buffer): what is carried over to the next chunk is copied.
   */
  feed(chunk: Uint8Array): Uint8Array | null {
    if (this.done) return chunk;
    let buf = chunk;
    if (this.carried > 0) {
      this.carry.push(chunk.slice());
      this.carried += chunk.length;
      if (this.needed === 0 && this.carried >= 5) this.needed = messageLength(joined(this.carry, 5), 0);
      if (this.needed === 0 || this.carried < this.needed) return null;
      buf = joined(this.carry, this.carried);
      this.carry = [];
      this.carried = 0;
      this.needed = 0;
    }
    const forward: Uint8Array[] = [];
    let runStart = -1; // start of a run of messages for the driver
    let at = 0;
    while (at + 5 <= buf.length) {
      const end = messageLength(buf, at) + at;
      if (end > buf.length) break;
      const type = buf[at];
      if (type === 0x64) {
        if (runStart >= 0) forward.push(buf.subarray(runStart, at));
        runStart = -1;
        this.onRow(buf.subarray(at + 5, end));
      } else {
        if (runStart < 0) runStart = at;
        if (type === 0x5a) {
          this.done = true;
          at = buf.length;
          break;
        }
      }
      at = end;
    }
    if (runStart >= 0) forward.push(buf.subarray(runStart, this.done ? buf.length : at));
    if (at < buf.length) {
      this.carry = [buf.slice(at)];
      this.carried = buf.length - at;
      this.needed = this.carried >= 5 ? messageLength(buf, at) : 0;
    }
    return forward.length === 0
      ? null
      : joined(
          forward,
          forward.reduce((n, f) => n + f.length, 0),
        );
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
