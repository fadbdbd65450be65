/**
 * JSON text in one canonical form, so a row's hash changes only when its data does: object keys
 * sorted (by UTF-16 code units, as JS sorts), no white space, strings re-escaped the one way
 * JSON.stringify does, numbers kept exactly as written (JSON.parse would round a BIGINT or a
 * DECIMAL inside a document). Shared by every source whose warehouse hands JSON over as text.
 */

/** Options of {@link canonicalJson}. */
interface CanonicalJsonOptions {
  /** Bare words the warehouse writes where JSON has none (Snowflake's NaN, Infinity): made strings. */
  bareWords?: readonly string[];
}

/** The canonical form of `text`, or `undefined` when it is not JSON. */
export function canonicalJson(text: string, options: CanonicalJsonOptions = {}): string | undefined {
  try {
    return parseCanonical(text, options.bareWords ?? []);
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}

function parseCanonical(raw: string, bareWords: readonly string[]): string {
  let i = 0;
  const n = raw.length;
  const fail = (): never => {
    throw new SyntaxError(`not JSON at character ${i + 1}`);
  };
  const space = () => {
    for (let c = raw.charCodeAt(i); c === 32 || c === 10 || c === 13 || c === 9; c = raw.charCodeAt(++i));
  };
  // A string token → its canonical text and its value (keys sort by value).
  const string = (): [text: string, value: string] => {
    const start = i++;
    let escaped = false;
    for (;;) {
      if (i >= n) fail();
      const c = raw.charCodeAt(i);
      if (c === 34) break;
      if (c === 92) {
        escaped = true;
        i += 2;
      } else {
        if (c < 32) escaped = true; // a raw control character: JSON.stringify escapes it
        i++;
      }
    }
    i++;
    const token = raw.slice(start, i);
    if (!escaped) return [token, token.slice(1, -1)];
    const value = JSON.parse(escapeControls(token)) as string;
    return [JSON.stringify(value), value];
  };
  const value = (): string => {
    space();
    const c = raw.charCodeAt(i);
    if (c === 123) {
      i++;
      const entries: [key: string, keyText: string, value: string][] = [];
      space();
      if (raw.charCodeAt(i) === 125) i++;
      else
        for (;;) {
          space();
          if (raw.charCodeAt(i) !== 34) fail();
          const [keyText, key] = string();
          space();
          if (raw.charCodeAt(i++) !== 58) fail();
          entries.push([key, keyText, value()]);
          space();
          const next = raw.charCodeAt(i++);
          if (next === 125) break;
          if (next !== 44) fail();
        }
      if (entries.length > 1) entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([, keyText, v]) => `${keyText}:${v}`).join(",")}}`;
    }
    if (c === 91) {
      i++;
      const items: string[] = [];
      space();
      if (raw.charCodeAt(i) === 93) i++;
      else
        for (;;) {
          items.push(value());
          space();
          const next = raw.charCodeAt(i++);
          if (next === 93) break;
          if (next !== 44) fail();
        }
      return `[${items.join(",")}]`;
    }
    if (c === 34) return string()[0];
    const start = i;
    while (i < n) {
      const d = raw.charCodeAt(i);
      if (d === 44 || d === 93 || d === 125 || d === 32 || d === 10 || d === 13 || d === 9) break;
      i++;
    }
    const token = raw.slice(start, i);
    if (/^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(token) || token === "true" || token === "false" || token === "null")
      return token;
    if (bareWords.includes(token)) return `"${token}"`;
    return fail();
  };
  const out = value();
  space();
  if (i !== n) fail();
  return out;
}

/** A string token with its raw control characters escaped, so JSON.parse takes it. */
function escapeControls(token: string): string {
  let out = "";
  for (let k = 0; k < token.length; k++) {
    const code = token.charCodeAt(k);
    out += code < 32 ? `\\u${code.toString(16).padStart(4, "0")}` : token[k];
  }
  return out;
}
