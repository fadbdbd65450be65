/**
 * The local MariaDB for the MySQL source tests: test/servers/mariadb.ts starts it when it is not
 * running (as .ci/run does) and makes the database `retl_mysql_test` and the least-privilege user
 * `retl_mysql_reader` (password `reader-pw`, SELECT on that database only). Tables are made as
 * the admin (TEST_MYSQL_URL, `retl_mysql_admin`) through the source's own connection.
 */
import { env } from "cloudflare:workers";
import { expect, inject } from "vitest";
import type { WarehouseError } from "../../../src/sources/errors";
import { MysqlConnection } from "../../../src/sources/mysql/connection";
import { parseConnectionString } from "../../../src/sources/mysql/connection-string";

declare module "vitest" {
  export interface ProvidedContext {
    /** Whether test/servers/mariadb.ts found or started MariaDB. */
    mysqlUp: boolean;
  }
}

/** The admin's URL (setup only: the source itself is read-only). */
export const MYSQL_ADMIN_URL = env.TEST_MYSQL_URL;

/** The least-privilege reader's URL: what a source is given. */
export const MYSQL_URL = (() => {
  const url = new URL(MYSQL_ADMIN_URL);
  url.username = "retl_mysql_reader";
  url.password = "reader-pw";
  return url.toString();
})();

export const mysqlUp = inject("mysqlUp");
if (!mysqlUp)
  console.warn(
    "\n*** MariaDB is not running on 127.0.0.1:3306 and could not be started: the MySQL source tests are SKIPPED. " +
      "Start it: service mariadb start (see .ci/run) ***\n",
  );

/** Runs statements one by one as the admin. */
export async function my(...statements: string[]): Promise<void> {
  const conn = await MysqlConnection.open(parseConnectionString(MYSQL_ADMIN_URL), 10_000);
  try {
    for (const sql of statements) await conn.query(sql);
  } finally {
    await conn.close();
  }
}

/** The WarehouseError a promise rejects with (fails the test if it resolves). */
export async function warehouseError(promise: Promise<unknown>): Promise<WarehouseError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "expected a WarehouseError").toMatchObject({ name: "WarehouseError" });
  return err as WarehouseError;
}
