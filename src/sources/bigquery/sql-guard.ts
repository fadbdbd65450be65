import { type CommentSyntax, guardModelSql } from "../sql-guard";

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

const COMMENTS: CommentSyntax = { line: ["--", "#"] };

/** The model SQL without one trailing `;`, refusing statements that are not queries. */
export function bigqueryModelSql(sql: string): string {
  return guardModelSql(sql, { queries: queryLeadingWords, writes: writeLeadingWords, comments: COMMENTS });
}
