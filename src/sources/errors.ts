/**
 * How every source reports a failure: a {@link WarehouseError} whose `code` says what went wrong
 * and whose `kind` says who can fix it. Each source type maps its own errors (SQLSTATEs, HTTP
 * statuses, socket errors) onto these codes in its folder.
 */

/** Every {@link WarehouseError} code. */
const WAREHOUSE_ERROR_CODES = [
  "invalid_connection_string", // the source's settings cannot be used (bad URL scheme, sslmode, several hosts)
  "host_not_allowed", // a loopback/private host while private hosts are not allowed
  "unreachable", // refused, DNS, routing, connect timeout, server shutting down or full
  "tls_failed", // TLS refused under sslmode=require, or handshake/certificate failure
  "auth_failed", // wrong password, unknown role, no access entry
  "database_not_found", // the named database does not exist
  "connection_lost", // the connection broke after it was established
  "query_failed", // syntax or runtime error in the model SQL
  "timeout", // the statement timeout passed
  "read_only", // a model that writes, or is not a query (INSERT, CREATE, …)
  "permission_denied", // the role may not read what the model reads
] as const;
export type WarehouseErrorCode = (typeof WAREHOUSE_ERROR_CODES)[number];

/**
 * Who can act on a failure:
 * - `retryable`: trying again later may succeed (network, timeout, serialization failure).
 * - `auth`: the source's settings or credentials are refused; fix the source.
 * - `user`: the model's SQL is at fault (or reads what its role may not); fix the model.
 */
export type WarehouseErrorKind = "retryable" | "auth" | "user";

const retryableByDefault: Record<WarehouseErrorCode, boolean> = {
  invalid_connection_string: false,
  host_not_allowed: false,
  unreachable: true,
  tls_failed: false,
  auth_failed: false,
  database_not_found: false,
  connection_lost: true,
  query_failed: false,
  timeout: true,
  read_only: false,
  permission_denied: false,
};

// Who fixes it when trying again will not help (e.g. a host that is not a Postgres server at all).
const kindWhenFinal: Record<WarehouseErrorCode, Exclude<WarehouseErrorKind, "retryable">> = {
  invalid_connection_string: "auth",
  host_not_allowed: "auth",
  unreachable: "auth",
  tls_failed: "auth",
  auth_failed: "auth",
  database_not_found: "auth",
  connection_lost: "auth",
  query_failed: "user",
  timeout: "user",
  read_only: "user",
  permission_denied: "user",
};

/** A warehouse failure the caller can act on: `code` classifies it, `retryable` says whether trying again may help. */
export class WarehouseError extends Error {
  override readonly name = "WarehouseError";
  readonly code: WarehouseErrorCode;
  readonly retryable: boolean;
  /** Postgres SQLSTATE, when the server reported the error. */
  readonly sqlstate?: string;
  /** 1-based character offset of the error in the model SQL, when the warehouse gave one. */
  readonly position?: number;

  constructor(
    code: WarehouseErrorCode,
    message: string,
    extra: { retryable?: boolean; sqlstate?: string; position?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: extra.cause });
    this.code = code;
    this.retryable = extra.retryable ?? retryableByDefault[code];
    this.sqlstate = extra.sqlstate;
    this.position = extra.position;
  }

  /** Who can act on it: see {@link WarehouseErrorKind}. */
  get kind(): WarehouseErrorKind {
    return this.retryable ? "retryable" : kindWhenFinal[this.code];
  }
}
