import { DatabaseError } from "@neondatabase/serverless";
import { WarehouseError } from "../errors";
import { TcpSocketError } from "./tcp-websocket";

/** Postgres failures as {@link WarehouseError}s: socket errors, then SQLSTATEs. */

/** Where the model SQL sits in the text sent to Postgres, to map error positions back onto it. */
export interface SqlSpan {
  start: number;
  length: number;
}

/** Classifies anything the driver threw. */
export function toWarehouseError(err: unknown, phase: "connect" | "query", span?: SqlSpan): WarehouseError {
  if (err instanceof WarehouseError) return err;
  if (err instanceof TcpSocketError) {
    if (err.code === "connect_failed") return new WarehouseError("unreachable", err.message, { cause: err });
    if (err.code === "not_postgres") return new WarehouseError("unreachable", err.message, { cause: err, retryable: false });
    if (err.code === "tls_refused" || err.code === "tls_failed") return new WarehouseError("tls_failed", err.message, { cause: err });
    return new WarehouseError(phase === "connect" ? "unreachable" : "connection_lost", err.message, { cause: err });
  }
  if (isDatabaseError(err)) return fromSqlState(err, phase, span);
  const message = err instanceof Error ? err.message : String(err);
  return new WarehouseError(phase === "connect" ? "unreachable" : "connection_lost", message || "the connection failed", { cause: err });
}

function isDatabaseError(err: unknown): err is DatabaseError {
  return (
    err instanceof DatabaseError || (err instanceof Error && "severity" in err && typeof (err as { code?: unknown }).code === "string")
  );
}

function fromSqlState(err: DatabaseError, phase: "connect" | "query", span: SqlSpan | undefined): WarehouseError {
  const sqlstate = err.code ?? "";
  const extra = { sqlstate, cause: err };
  switch (sqlstate) {
    case "28P01":
    case "28000":
      return new WarehouseError("auth_failed", err.message, extra);
    case "3D000":
      return new WarehouseError("database_not_found", err.message, extra);
    case "57014":
      return new WarehouseError("timeout", `the query was cancelled: ${err.message}`, extra);
    case "25006":
      return new WarehouseError("read_only", `a model must be read-only: ${err.message}`, extra);
    case "42501":
      return new WarehouseError("permission_denied", err.message, extra);
    // Too many connections, or the server is starting up: trying again later may get in.
    case "53300":
    case "57P03":
      return new WarehouseError("unreachable", err.message, extra);
    // Admin or crash shutdown (a restart, a failover, pg_terminate_backend): mid-query, the
    // connection was lost; both are worth another try.
    case "57P01":
    case "57P02":
      return new WarehouseError(phase === "query" ? "connection_lost" : "unreachable", err.message, extra);
  }
  if (sqlstate === "0A000" && /data-modifying/i.test(err.message))
    return new WarehouseError("read_only", `a model must be read-only: ${err.message}`, extra);
  if (sqlstate.startsWith("08")) return new WarehouseError("connection_lost", err.message, extra);

  const sent = Number(err.position);
  const inModel = span !== undefined && Number.isInteger(sent) && sent > span.start && sent <= span.start + span.length;
  const position = inModel ? sent - span.start : undefined;
  const where = position === undefined ? "" : ` (at character ${position} of the model SQL)`;
  const detail = err.detail ? `; ${err.detail}` : "";
  const hint = err.hint ? `; hint: ${err.hint}` : "";
  // Serialization failures, deadlocks and resource shortages may pass on a second try.
  const retryable = sqlstate.startsWith("40") || sqlstate.startsWith("53");
  return new WarehouseError("query_failed", `${err.message}${where}${detail}${hint}`, { ...extra, position, retryable });
}
