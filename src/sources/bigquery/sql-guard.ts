import { guardModelSql } from "../sql-guard";

/**
 * Model SQL for BigQuery: the client-side half of the read-only guarantee. The other half is the
 * dry run's `statementType` (./queries.ts), which BigQuery itself reports and which also catches
 * scripts (`SELECT 1; DELETE …` is a SCRIPT).
 */

// FROM starts a pipe-syntax query (`FROM t |> WHERE …`).
const queryLeadingWords = ["select", "with", "from"];
const writeLeadingWords = new Set([
  "insert",
  "update",
  "delete",
  "merge",
  "truncate",
  "create",
  "drop",
  "alter",
  "undrop",
  "grant",
  "revoke",
  "declare",
  "set",
  "begin",
  "commit",
  "rollback",
  "call",
  "execute",
  "export",
  "load",
]);

/** The model SQL without one trailing `;`, refusing statements that are not queries. */
export function bigqueryModelSql(sql: string): string {
  return guardModelSql(sql, { queries: queryLeadingWords, writes: writeLeadingWords, leadingWord });
}

/** The first keyword, skipping whitespace, `--`/`#` line comments, `/* *\/` comments and `(`. */
function leadingWord(sql: string): string | undefined {
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    if (c === "(" || (c !== undefined && /\s/.test(c))) i++;
    else if (sql.startsWith("--", i) || c === "#") {
      const end = sql.indexOf("\n", i);
      i = end === -1 ? sql.length : end + 1;
    } else if (sql.startsWith("/*", i)) {
      const end = sql.indexOf("*/", i + 2);
      i = end === -1 ? sql.length : end + 2;
    } else break;
  }
  return /^[a-z_]+/i.exec(sql.slice(i))?.[0]?.toLowerCase();
}
