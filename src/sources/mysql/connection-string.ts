import { WarehouseError } from "../errors";
import type { MysqlTarget, TlsMode } from "./connection";

/**
 * `mysql://user:password@host:3306/database?ssl-mode=REQUIRED`. TLS follows `ssl-mode` (the mysql
 * client's option: DISABLED, PREFERRED — the default —, REQUIRED, VERIFY_CA, VERIFY_IDENTITY;
 * Postgres' sslmode names are read too) or `ssl=true|false`. The runtime always verifies the
 * certificate and host name, so every TLS mode verifies.
 */

const tlsModes: Record<string, TlsMode | undefined> = {
  disabled: "disable",
  disable: "disable",
  preferred: "prefer",
  prefer: "prefer",
  required: "require",
  require: "require",
  verify_ca: "require",
  "verify-ca": "require",
  verify_identity: "require",
  "verify-full": "require",
};

const sslFlags: Record<string, TlsMode | undefined> = { true: "require", "1": "require", false: "disable", "0": "disable" };

/** Where a connection string points; throws {@link WarehouseError} `invalid_connection_string`. */
export function parseConnectionString(connectionString: string): MysqlTarget {
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    throw new WarehouseError("invalid_connection_string", "the connection string is not a valid mysql:// URL");
  }
  if (url.protocol !== "mysql:" && url.protocol !== "mariadb:")
    throw new WarehouseError("invalid_connection_string", "the connection string must start with mysql://");
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!host || host.includes(","))
    throw new WarehouseError("invalid_connection_string", "the connection string must name exactly one host");
  const user = decodeURIComponent(url.username);
  if (!user)
    throw new WarehouseError("invalid_connection_string", "the connection string must name a user (mysql://user:password@host/db)");
  let tls: TlsMode = "prefer";
  for (const [key, raw] of url.searchParams) {
    const value = raw.toLowerCase();
    const mode = key === "ssl-mode" || key === "sslmode" || key === "ssl_mode" ? tlsModes[value] : key === "ssl" ? sslFlags[value] : null;
    if (mode === null)
      throw new WarehouseError("invalid_connection_string", `unknown connection string parameter "${key}"; supported: ssl-mode, ssl`);
    if (mode === undefined)
      throw new WarehouseError(
        "invalid_connection_string",
        key === "ssl"
          ? `unsupported ssl "${raw}"; use true or false`
          : `unsupported ${key} "${raw}"; use DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY`,
      );
    tls = mode;
  }
  return {
    host,
    port: url.port ? Number(url.port) : 3306,
    user,
    password: decodeURIComponent(url.password),
    database: decodeURIComponent(url.pathname.replace(/^\//, "")),
    tls,
  };
}
