import { describe, expect, it } from "vitest";
import { bigqueryModelSql } from "../../src/sources/bigquery/sql-guard";
import { clickhouseModelSql } from "../../src/sources/clickhouse/sql-guard";
import { databricksModelSql } from "../../src/sources/databricks/sql-guard";
import { mysqlModelSql } from "../../src/sources/mysql/sql-guard";
import { modelSql } from "../../src/sources/postgres/sql-guard";
import { snowflakeModelSql } from "../../src/sources/snowflake/sql-guard";

const guards = {
  postgres: modelSql,
  clickhouse: clickhouseModelSql,
  mysql: mysqlModelSql,
  bigquery: bigqueryModelSql,
  databricks: databricksModelSql,
  snowflake: snowflakeModelSql,
};

/** The error code a guard throws for `sql`, or "ok". */
function verdict(guard: (sql: string) => string, sql: string): string {
  try {
    guard(sql);
    return "ok";
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

describe("model SQL guards (one comment scanner, each dialect's comments)", () => {
  it("every dialect skips -- and /* */ comments and parentheses before a query, and refuses a write behind them", () => {
    for (const [name, guard] of Object.entries(guards)) {
      expect(verdict(guard, "-- the model\n/* why */ (SELECT 1);"), name).toBe("ok");
      expect(verdict(guard, "/* harmless */ DELETE FROM t"), name).toBe("read_only");
      expect(verdict(guard, "   "), name).toBe("query_failed");
    }
  });

  it("skips only the line comments a dialect has", () => {
    const hashed = "# note\nSELECT 1";
    expect(["clickhouse", "mysql", "bigquery"].map((n) => verdict(guards[n as keyof typeof guards], hashed))).toEqual(["ok", "ok", "ok"]);
    expect(verdict(guards.postgres, hashed)).toBe("query_failed");
    expect(verdict(guards.snowflake, "// note\nSELECT 1")).toBe("ok");
    expect(verdict(guards.databricks, "// note\nSELECT 1")).toBe("query_failed");
  });

  it("Postgres block comments nest; MySQL's executable comments are read as SQL", () => {
    expect(verdict(guards.postgres, "/* outer /* inner */ still a comment */ SELECT 1")).toBe("ok");
    expect(verdict(guards.clickhouse, "/* outer /* inner */ DROP TABLE t */ SELECT 1")).toBe("read_only");
    expect(verdict(guards.mysql, "/*!50100 DELETE FROM t */")).toBe("read_only");
    expect(verdict(guards.mysql, "/* a plain comment */ SELECT 1")).toBe("ok");
  });
});
