import { WarehouseError, type WarehouseErrorCode } from "../errors";

/**
 * Server error codes (https://mariadb.com/kb/en/mariadb-error-code-reference/,
 * https://dev.mysql.com/doc/mysql-errors/8.0/en/server-error-reference.html) onto ours; any other
 * error is the model's fault (`query_failed`).
 */
const codes = new Map<number, WarehouseErrorCode>([
  [1045, "auth_failed"], // ER_ACCESS_DENIED_ERROR: wrong user or password
  [1044, "auth_failed"], // ER_DBACCESS_DENIED_ERROR: no access to the named database
  [1130, "auth_failed"], // ER_HOST_NOT_PRIVILEGED
  [1129, "auth_failed"], // ER_HOST_IS_BLOCKED
  [1251, "auth_failed"], // ER_NOT_SUPPORTED_AUTH_MODE
  [1862, "auth_failed"], // ER_MUST_CHANGE_PASSWORD_LOGIN
  [1820, "auth_failed"], // ER_MUST_CHANGE_PASSWORD
  [3118, "auth_failed"], // ER_ACCOUNT_HAS_BEEN_LOCKED (MySQL)
  [4151, "auth_failed"], // ER_ACCOUNT_HAS_BEEN_LOCKED (MariaDB)
  [1049, "database_not_found"], // ER_BAD_DB_ERROR
  [1040, "unreachable"], // ER_CON_COUNT_ERROR: too many connections
  [1203, "unreachable"], // ER_TOO_MANY_USER_CONNECTIONS
  [1226, "unreachable"], // ER_USER_LIMIT_REACHED (max_queries_per_hour …)
  [1053, "unreachable"], // ER_SERVER_SHUTDOWN
  [1927, "connection_lost"], // ER_CONNECTION_KILLED
  [1317, "connection_lost"], // ER_QUERY_INTERRUPTED (KILL QUERY)
  [1969, "timeout"], // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
  [3024, "timeout"], // ER_QUERY_TIMEOUT (MySQL max_execution_time)
  [1792, "read_only"], // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
  [1290, "read_only"], // ER_OPTION_PREVENTS_STATEMENT (--read-only server)
  [1142, "permission_denied"], // ER_TABLEACCESS_DENIED_ERROR
  [1143, "permission_denied"], // ER_COLUMNACCESS_DENIED_ERROR
  [1227, "permission_denied"], // ER_SPECIFIC_ACCESS_DENIED_ERROR
  [1370, "permission_denied"], // ER_PROCACCESS_DENIED_ERROR
]);

// Deadlocks and lock wait timeouts pass when tried again.
const retryableQueryErrors = new Set([1205, 1213]);

/** A server error packet's code, SQLSTATE and message as a {@link WarehouseError}. */
export function serverError(code: number, sqlstate: string | undefined, message: string): WarehouseError {
  const text = `MySQL error ${code}${sqlstate ? ` (${sqlstate})` : ""}: ${message}`;
  const mapped = codes.get(code);
  if (mapped) return new WarehouseError(mapped, text, { sqlstate });
  return new WarehouseError("query_failed", text, { sqlstate, retryable: retryableQueryErrors.has(code) });
}
