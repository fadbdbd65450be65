/**
 * A JSON_ARRAY result chunk (`[["1","a"],["2",null]]`) read as it streams: text goes in as it is
 * decoded, whole rows come out. A chunk can be tens of megabytes, more than a Worker should hold
 * parsed at once; this holds the rows of one network read (and the part of a row it cut) at a time.
 * Row boundaries are found by skipping strings with `indexOf` (values are strings or null), and the
 * rows a piece completes are parsed by one `JSON.parse`. The row's shape is checked by the caller.
 */
export class JsonArrayRows {
  // Text of the row cut by the previous piece, from its `[`.
  private carry = "";
  // 0 before the outer `[`, 1 between rows, 2 or more inside a row; -1 after the outer `]`.
  private depth = 0;
  private inString = false;
  // The previous piece ended with a backslash inside a string: the next character is escaped.
  private escaped = false;

  /** Feeds the next piece of text; returns the rows it completed, parsed. Throws SyntaxError on text that is not a JSON array of arrays. */
  push(text: string): unknown[][] {
    const continuing = this.depth >= 2;
    let first = continuing ? 0 : -1; // where the first row completed in this piece starts
    let last = -1; // where the last row completed in this piece ends
    let open = continuing ? 0 : -1; // where the row still open starts
    let backslash = -2; // next backslash at or after the scan position (-2: not looked up yet)
    let i = 0;
    while (i < text.length) {
      if (this.inString) {
        // Find the closing quote, jumping over escapes.
        if (this.escaped) {
          this.escaped = false;
          i++;
          continue;
        }
        const quote = text.indexOf('"', i);
        if (backslash !== -1 && backslash < i) backslash = text.indexOf("\\", i);
        if (backslash !== -1 && (quote === -1 || backslash < quote)) {
          if (backslash + 1 >= text.length) {
            this.escaped = true;
            i = text.length;
          } else i = backslash + 2;
          continue;
        }
        if (quote === -1) {
          i = text.length;
          continue;
        }
        this.inString = false;
        i = quote + 1;
        continue;
      }
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        if (this.depth < 2) throw new SyntaxError("a JSON_ARRAY chunk has a value outside a row");
        this.inString = true;
      } else if (c === 0x5b) {
        if (this.depth < 0) throw new SyntaxError("text after the end of a JSON_ARRAY chunk");
        this.depth++;
        if (this.depth === 2) {
          open = i;
          if (first < 0) first = i;
        }
      } else if (c === 0x5d) {
        if (this.depth === 2) {
          last = i;
          open = -1;
        }
        this.depth = this.depth === 1 ? -1 : this.depth - 1;
      } else if (this.depth < 2 && c !== 0x2c && c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) {
        throw new SyntaxError(`unexpected ${JSON.stringify(text[i])} in a JSON_ARRAY chunk`);
      }
      i++;
    }
    let rows: unknown[][] = [];
    if (last >= 0) {
      rows = JSON.parse(`[${this.carry}${text.slice(first, last + 1)}]`) as unknown[][];
      this.carry = "";
    }
    if (this.depth >= 2) this.carry += text.slice(Math.max(0, open));
    return rows;
  }

  /** Throws SyntaxError unless the whole array was read. */
  end(): void {
    if (this.depth !== -1) throw new SyntaxError("a JSON_ARRAY chunk ended before its closing ]");
  }
}
