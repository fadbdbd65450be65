/**
 * The local ClickHouse for the ClickHouse source tests: Debian's clickhouse-server (18.16), HTTP
 * on 127.0.0.1:8123, user `default` without a password; `.ci/run` installs and starts it.
 */
import { expect } from "vitest";
import type { WarehouseError } from "../../../src/sources/errors";

export const CLICKHOUSE_URL = "http://127.0.0.1:8123";

declare module "vitest" {
  export interface ProvidedContext {
    /** The fake current-release ClickHouse (test/servers/clickhouse-current.ts), started by test/setup/global.ts. */
    clickhouseCurrentPort: number;
  }
}

/** Whether the server answers; when not, the tests say so loudly and skip. */
export const clickhouseUp = await fetch(`${CLICKHOUSE_URL}/ping`).then(
  (res) => res.ok,
  () => false,
);
if (!clickhouseUp)
  console.warn(
    "\n*** ClickHouse is not running on 127.0.0.1:8123: the ClickHouse source tests are SKIPPED. " +
      "Start it: clickhouse-server --config-file=/etc/clickhouse-server/config.xml (see .ci/run) ***\n",
  );

/** Runs a statement as the admin (setup only: the source itself is read-only); returns the text answer. */
export async function ch(sql: string): Promise<string> {
  const res = await fetch(`${CLICKHOUSE_URL}/`, { method: "POST", body: sql });
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse: ${text}`);
  return text;
}

/** The settings of a source on the local server, as the API takes them. */
export const clickhouseSource = (password = "") => ({
  config: { url: CLICKHOUSE_URL, database: "default", username: "default" },
  credentials: { password },
});

/** The WarehouseError a promise rejects with (fails the test if it resolves). */
export async function warehouseError(promise: Promise<unknown>): Promise<WarehouseError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "expected a WarehouseError").toMatchObject({ name: "WarehouseError" });
  return err as WarehouseError;
}
