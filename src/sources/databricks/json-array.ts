/**
 * A JSON_ARRAY result chunk (`[["1","a"],["2",null]]`) read as it streams: text goes in as it is
 * decoded, whole rows come out, each parsed alone. A chunk can be tens of megabytes, more than a
 * Worker should hold parsed at once; this holds one row (and one network read) at a time. Only
 * string and null values are expected (the format's promise); the row's shape is checked by the
 * caller.
 */
export class JsonArrayRows {
  // Text of the row being read, from its `[`, carried over from earlier pieces.
  private carry = "";
  // 0 before the outer `[`, 1 between rows, 2 or more inside a row; -1 after the outer `]`.
  private depth = 0;
  private inString = false;
  private escaped = false;

  /** Feeds the next piece of text; returns the rows it completed, parsed. Throws SyntaxError on text that is not a JSON array of arrays. */
  push(text: string): unknown[][] {
    const rows: unknown[][] = [];
    let rowStart = this.depth >= 2 ? 0 : -1;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) this.inString = false;
        continue;
      }
      if (c === 0x22) {
        if (this.depth < 2) throw new SyntaxError("a JSON_ARRAY chunk has a value outside a row");
        this.inString = true;
      } else if (c === 0x5b) {
        if (this.depth < 0) throw new SyntaxError("text after the end of a JSON_ARRAY chunk");
        this.depth++;
        if (this.depth === 2) rowStart = i;
      } else if (c === 0x5d) {
        if (this.depth === 2) {
          rows.push(JSON.parse(this.carry + text.slice(rowStart, i + 1)) as unknown[]);
          this.carry = "";
          rowStart = -1;
        }
        this.depth = this.depth === 1 ? -1 : this.depth - 1;
      } else if (this.depth < 2 && c !== 0x2c && c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) {
        throw new SyntaxError(`unexpected ${JSON.stringify(text[i])} in a JSON_ARRAY chunk`);
      }
    }
    if (this.depth >= 2) this.carry += text.slice(Math.max(0, rowStart));
    return rows;
  }

  /** Throws SyntaxError unless the whole array was read. */
  end(): void {
    if (this.depth !== -1) throw new SyntaxError("a JSON_ARRAY chunk ended before its closing ]");
  }
}
