import type { Destination } from "../destination";
import { postgresConnector } from "./connector";
import { postgresFields } from "./fields";
import { PostgresConfig, PostgresCredentials } from "./schema";

/** Postgres destination: rows upserted into a table over the Postgres wire protocol. */
export const postgres: Destination<"postgres", PostgresConfig, PostgresCredentials> = {
  type: "postgres",
  config: PostgresConfig,
  credentials: PostgresCredentials,
  modes: ["upsert", "mirror", "append", "update"],
  credentialsRequired: true,
  // The host is in the connection string: only checkable when credentials are being set.
  hosts: (_config, credentials) => (credentials ? [{ path: "credentials.connection_string", url: credentials.connection_string }] : []),
  // fields.ts reads the same API through the connector's helpers: joined here, so connector.ts need not import it.
  // Postgres casts values to the columns' types itself (json_populate_recordset, see the connector).
  connector: { ...postgresConnector, fields: postgresFields, castsValues: true },
};
