import { guardModelSql } from "../sql-guard";

/**
 * Model SQL for MySQL: the client-side half of the read-only guarantee (the read-only transaction
 * is the other; the session never allows several statements in one query), and the queries that
 * wrap a model as a derived table, which also refuses `INTO OUTFILE` and `FOR UPDATE` inside it.
 */

const queryLeadingWords = ["select", "with", "values", "table"];
const writeLeadingWords = new Set([
  "insert",
  "update",
  "delete",
  "replace",
  "create",
  "drop",
  "alter",
  "truncate",
  "rename",
  "grant",
  "revoke",
  "set",
  "call",
  "do",
  "load",
  "lock",
  "unlock",
  "handler",
  "flush",
  "kill",
  "install",
  "uninstall",
  "optimize",
  "repair",
  "analyze",
  "purge",
  "reset",
  "start",
  "begin",
  "commit",
  "rollback",
  "savepoint",
  "release",
  "use",
  "prepare",
  "execute",
  "deallocate",
  "xa",
  "shutdown",
  "change",
  "import",
  "backup",
]);

/** The model SQL without one trailing `;`, refusing statements that are not queries. */
export function mysqlModelSql(sql: string): string {
  return guardModelSql(sql, { queries: queryLeadingWords, writes: writeLeadingWords, leadingWord });
}

/**
 * The first keyword, skipping whitespace, `--`/`#` line comments, `/* *\/` comments and `(`. An
 * executable comment (`/*! … *\/`, `/*M! … *\/`, which the server runs as SQL) is read as SQL.
 */
function leadingWord(sql: string): string | undefined {
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    if (c === "(" || (c !== undefined && /\s/.test(c))) i++;
    else if (sql.startsWith("--", i) || c === "#") {
      const end = sql.indexOf("\n", i);
      i = end === -1 ? sql.length : end + 1;
    } else if (/^\/\*M?!\d*/.test(sql.slice(i, i + 12))) {
      i += /^\/\*M?!\d*/.exec(sql.slice(i, i + 12))?.[0].length ?? 2;
    } else if (sql.startsWith("/*", i)) {
      const end = sql.indexOf("*/", i + 2);
      i = end === -1 ? sql.length : end + 2;
    } else break;
  }
  return /^[a-z_]+/i.exec(sql.slice(i))?.[0]?.toLowerCase();
}

/** A back-quoted identifier. */
function quoteIdent(name: string): string {
  return `\`${name.replaceAll("`", "``")}\``;
}

/** `SELECT <columns> FROM (<model>) AS model`: a newline keeps a trailing `--` comment inside. */
export function selectFrom(model: string, columns: readonly string[] | "*"): string {
  const list = columns === "*" ? "*" : columns.map(quoteIdent).join(", ");
  return `SELECT ${list} FROM (\n${model}\n) AS model`;
}
