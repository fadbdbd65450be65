import { WarehouseError } from "./errors";

/** What a warehouse's SQL looks like to the model guard: which statements are queries, which write. */
export interface ModelSqlDialect {
  /** Leading keywords of a query (lower case), in the order the error message names them. */
  queries: readonly string[];
  /** Leading keywords of statements that write or change the session (lower case). */
  writes: ReadonlySet<string>;
  /** How the dialect writes comments, skipped before the first keyword. */
  comments: CommentSyntax;
}

/** A dialect's comments. Every dialect here has `/* … *\/` block comments. */
export interface CommentSyntax {
  /** What starts a comment running to the end of the line ("--", "#", "//"). */
  line: readonly string[];
  /** Block comments nest (Postgres). */
  nested?: boolean;
  /** A block opener whose content the server runs as SQL (MySQL's `/*!50100`): only the opener is skipped. */
  executable?: RegExp;
}

/** The first keyword of `sql` (lower case), skipping whitespace, comments and `(`. */
function leadingWord(sql: string, comments: CommentSyntax): string | undefined {
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    const opener = comments.executable?.exec(sql.slice(i, i + 12));
    if (c === "(" || (c !== undefined && /\s/.test(c))) i++;
    else if (comments.line.some((start) => sql.startsWith(start, i))) {
      const end = sql.indexOf("\n", i);
      i = end === -1 ? sql.length : end + 1;
    } else if (opener) i += opener[0].length;
    else if (sql.startsWith("/*", i)) i = blockCommentEnd(sql, i, comments.nested === true);
    else break;
  }
  return /^[a-z_]+/i.exec(sql.slice(i))?.[0]?.toLowerCase();
}

/** Where the block comment opening at `i` ends (the whole rest when it never closes). */
function blockCommentEnd(sql: string, i: number, nested: boolean): number {
  if (!nested) {
    const end = sql.indexOf("*/", i + 2);
    return end === -1 ? sql.length : end + 2;
  }
  let depth = 0;
  let at = i;
  do {
    if (sql.startsWith("/*", at)) {
      depth++;
      at += 2;
    } else if (sql.startsWith("*/", at)) {
      depth--;
      at += 2;
    } else at++;
  } while (depth > 0 && at < sql.length);
  return at;
}

/**
 * The model SQL without one trailing `;`, refusing statements that are not queries: the client-side
 * half of every source's read-only guarantee (the warehouse's own read-only setting is the other).
 */
export function guardModelSql(sql: string, dialect: ModelSqlDialect): string {
  const model = sql.trim().replace(/;\s*$/, "").trimEnd();
  const word = leadingWord(model, dialect.comments);
  if (!word) throw new WarehouseError("query_failed", "the model SQL is empty");
  if (dialect.writes.has(word))
    throw new WarehouseError("read_only", `a model must be a read-only query; ${word.toUpperCase()} statements are not allowed`);
  if (!dialect.queries.includes(word)) {
    const names = dialect.queries.map((w) => w.toUpperCase());
    const list = names.length > 1 ? `${names.slice(0, -1).join(", ")} or ${names.at(-1)}` : (names[0] ?? "");
    throw new WarehouseError("query_failed", `a model must be a query starting with ${list}, not ${word.toUpperCase()}`);
  }
  return model;
}
