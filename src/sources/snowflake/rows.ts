import { WarehouseError } from "../errors";

/**
 * Reads the rows of a partition answer (`{"data":[["1","a",null],…]}`, other keys skipped) from
 * its body as it arrives: memory is a chunk of the body and one row, never the partition. A body
 * that is gzip (magic bytes 1f 8b: fetch did not decode it, no `Content-Encoding` said so) is
 * decompressed with DecompressionStream. `onRow` is awaited before reading on; returning `false`
 * stops (the body is cancelled). Returns the rows read. A read that stalls for `stallMs` fails
 * with `connection_lost`.
 */
export async function streamRows(
  body: ReadableStream<Uint8Array>,
  onRow: (row: (string | null)[]) => void | boolean | Promise<void>,
  stallMs: number,
): Promise<number> {
  const reader = (await maybeGunzip(body)).pipeThrough(new TextDecoderStream()).getReader();
  const parser = new RowParser();
  let rows = 0;
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await readWithin(reader, stallMs);
      if (done) break;
      for (const row of parser.push(value)) {
        rows++;
        const r = onRow(row);
        if (r === false) return rows;
        if (r instanceof Promise) await r;
      }
    }
    parser.end();
    finished = true;
    return rows;
  } finally {
    // Stopped early (false, a handler failure, a bad body): nothing more is downloaded.
    if (!finished) await reader.cancel().catch(() => undefined);
  }
}

async function readWithin<T>(reader: ReadableStreamDefaultReader<T>, ms: number): Promise<ReadableStreamReadResult<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stall = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new WarehouseError("connection_lost", `Snowflake sent nothing for ${ms} ms while a partition was read`)),
      ms,
    );
  });
  try {
    return await Promise.race([reader.read(), stall]);
  } catch (err) {
    if (err instanceof WarehouseError) {
      await reader.cancel().catch(() => undefined);
      throw err;
    }
    throw new WarehouseError("connection_lost", `reading Snowflake's partition failed: ${String(err)}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

/** The stream itself, or its gunzipped bytes when it starts with gzip's magic bytes. */
async function maybeGunzip(body: ReadableStream<Uint8Array>): Promise<ReadableStream<Uint8Array>> {
  const reader = body.getReader();
  const first = await reader.read();
  const head = first.value;
  const rest = new ReadableStream<Uint8Array>({
    start(controller) {
      if (head) controller.enqueue(head);
      if (first.done) controller.close();
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  if (head && head[0] === 0x1f && head[1] === 0x8b) return rest.pipeThrough(new DecompressionStream("gzip"));
  return rest;
}

/**
 * A push parser for `{"…":…, "data":[[v,…],…]}` where each v is a JSON string or null: text in,
 * complete rows out. Outside `data` it only tracks strings and nesting, to skip other keys.
 */
class RowParser {
  private depth = 0;
  private inString = false;
  private escape = false;
  private token = "";
  private tokenEscaped = false;
  private lastKey: string | undefined;
  // At depth 1, whether the next string is a key (after `{` or `,`) rather than a value.
  private expectKey = false;
  private inData = false;
  private row: (string | null)[] = [];
  private bare = "";

  push(text: string): (string | null)[][] {
    const out: (string | null)[][] = [];
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (this.inString) {
        // Copy the run of plain characters at once.
        let j = i;
        while (j < text.length) {
          const d = text.charCodeAt(j);
          if (this.escape) {
            this.escape = false;
            j++;
          } else if (d === 92) {
            this.escape = true;
            this.tokenEscaped = true;
            j++;
          } else if (d === 34) break;
          else j++;
        }
        this.token += text.slice(i, j);
        if (j >= text.length) break;
        i = j;
        this.inString = false;
        this.endString();
        continue;
      }
      if (c === 34) {
        this.inString = true;
        this.token = "";
        this.tokenEscaped = false;
      } else if (c === 91 || c === 123) {
        this.flushBare();
        this.depth++;
        if (c === 123 && this.depth === 1) this.expectKey = true;
        if (c === 91 && this.depth === 2 && this.lastKey === "data") this.inData = true;
        if (this.inData && this.depth === 3) this.row = [];
        if (this.inData && this.depth > 3) throw new WarehouseError("connection_lost", "Snowflake's partition has a nested value in a row");
      } else if (c === 93 || c === 125) {
        this.flushBare();
        if (this.inData && this.depth === 3) out.push(this.row);
        if (this.inData && this.depth === 2) this.inData = false;
        this.depth--;
      } else if (c === 44 || c === 58 || c === 32 || c === 10 || c === 13 || c === 9) {
        this.flushBare();
        if (c === 44 && this.depth === 1) this.expectKey = true;
      } else this.bare += text[i];
    }
    return out;
  }

  /** Checks the text ended where a JSON document does. */
  end(): void {
    if (this.depth !== 0 || this.inString) throw new WarehouseError("connection_lost", "Snowflake's partition ended in the middle");
  }

  private endString(): void {
    let value = this.token;
    if (this.tokenEscaped) {
      try {
        value = JSON.parse(`"${this.token}"`) as string;
      } catch (err) {
        throw new WarehouseError("connection_lost", "Snowflake's partition has a string that is not JSON", { cause: err });
      }
    }
    if (this.inData && this.depth === 3) this.row.push(value);
    else if (this.depth === 1 && this.expectKey) {
      this.lastKey = value;
      this.expectKey = false;
    }
  }

  /** A bare token (null, a number, true/false) ends. In a row only null is expected. */
  private flushBare(): void {
    if (this.bare === "") return;
    if (this.inData && this.depth === 3) {
      if (this.bare !== "null") throw new WarehouseError("connection_lost", `Snowflake's partition has ${this.bare.slice(0, 20)} in a row`);
      this.row.push(null);
    }
    this.bare = "";
  }
}
