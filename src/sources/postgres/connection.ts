import { Client } from "@neondatabase/serverless";
import { blockedHostReason } from "../../lib/ssrf";
import { WarehouseError } from "../errors";
import type { WarehouseOptions } from "../source";
import { type SqlSpan, toWarehouseError } from "./errors";
import { splittingWebSocketClass } from "./neon-websocket";
import { type ReadControl, type TlsMode, tcpWebSocketClass } from "./tcp-websocket";

/**
 * Reaching Postgres: Neon hosts use the driver's secure WebSocket; any other Postgres is reached
 * over plain TCP (`cloudflare:sockets`) through {@link tcpWebSocketClass}, with TLS per `sslmode`.
 * Model queries run in {@link withReadOnlyTransaction}: `BEGIN ISOLATION LEVEL REPEATABLE READ READ
 * ONLY` with a `statement_timeout`. Model SQL should still run as a read-only database role: a
 * read-only transaction stops writes in this session, not side effects of functions such as dblink.
 */

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_APPLICATION_NAME = "edge-reverse-etl";
// The server ends a session idle inside a transaction this long, e.g. a stream whose Worker died.
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 10 * 60_000;

/**
 * {@link WarehouseOptions} plus the server's flavour: `redshift` speaks the protocol of Postgres
 * 8.0, so the session skips what Redshift does not know (`idle_in_transaction_session_timeout`,
 * `bytea_output`, `NO SCROLL` cursors, `EXPLAIN (FORMAT JSON)`).
 */
export interface PostgresOptions extends WarehouseOptions {
  flavor?: "postgres" | "redshift";
  /**
   * Reach the host through a Neon-style WebSocket proxy at this `ws://` or `wss://` address (the
   * driver adds `?address=host:port`) rather than over TCP: Neon's own route for other hosts, e.g.
   * a self-hosted wsproxy, and how tests and benches exercise the WebSocket route locally.
   */
  webSocketProxy?: string;
}

/** Where a connection string points. */
export interface ConnectionTarget {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  tls: TlsMode;
  options: string | undefined;
  neon: boolean;
}

/** Parses a postgres:// URL; throws {@link WarehouseError} `invalid_connection_string`. */
export function parseConnectionString(connectionString: string): ConnectionTarget {
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    throw new WarehouseError("invalid_connection_string", "the connection string is not a valid postgres:// URL");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:")
    throw new WarehouseError("invalid_connection_string", "the connection string must start with postgres:// or postgresql://");
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!host || host.includes(","))
    throw new WarehouseError("invalid_connection_string", "the connection string must name exactly one host");
  const port = url.port ? Number(url.port) : 5432;
  const user = decodeURIComponent(url.username) || "postgres";
  const database = decodeURIComponent(url.pathname.replace(/^\//, "")) || user;
  const sslmode = url.searchParams.get("sslmode") ?? "prefer";
  const tls = sslModes[sslmode];
  if (!tls)
    throw new WarehouseError(
      "invalid_connection_string",
      `unsupported sslmode "${sslmode}"; use disable, prefer, require, verify-ca or verify-full`,
    );
  return {
    host,
    port,
    user,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    database,
    tls,
    options: url.searchParams.get("options") ?? undefined,
    neon: /\.neon\.(tech|build)$/i.test(host),
  };
}

// The runtime always verifies certificates, so every TLS mode verifies (see TlsMode).
const sslModes: Record<string, TlsMode | undefined> = {
  disable: "disable",
  allow: "disable",
  prefer: "prefer",
  require: "require",
  "verify-ca": "require",
  "verify-full": "require",
  "no-verify": "require",
};

/**
 * A connected read-write session with the same routing, TLS and error rules as the model
 * functions, `statementTimeoutMs` as its `statement_timeout` and no transaction open: for tests
 * and database destinations. Close it
 * with {@link closePostgres}. Throws {@link WarehouseError}.
 */
export function connectPostgres(connectionString: string, opts: WarehouseOptions): Promise<Client> {
  return openClient(connectionString, opts);
}

/** Ends a session from {@link connectPostgres}; never throws and gives up waiting after 2 s. */
export function closePostgres(client: Client): Promise<void> {
  return closeClient(client);
}

/** A connected session (see {@link connectPostgres}); `control` pauses the TCP route's reads. */
export async function openClient(connectionString: string, opts: PostgresOptions, control?: ReadControl): Promise<Client> {
  const target = parseConnectionString(connectionString);
  const blocked = opts.allowPrivate ? undefined : blockedHostReason(target.host);
  if (blocked) throw new WarehouseError("host_not_allowed", `${blocked}; private and local hosts are not allowed`);
  const client = new Client({
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    database: target.database,
    options: target.options,
    application_name: opts.applicationName ?? DEFAULT_APPLICATION_NAME,
    statement_timeout: statementTimeout(opts),
    idle_in_transaction_session_timeout: opts.flavor === "redshift" ? undefined : IDLE_IN_TRANSACTION_TIMEOUT_MS,
  });
  const proxy = opts.webSocketProxy === undefined ? undefined : new URL(opts.webSocketProxy);
  if (target.neon || proxy) {
    const config = client.neonConfig;
    // Rows of cursor pages are taken off the WebSocket's bytes (see cursorLines).
    if (control) config.webSocketConstructor = splittingWebSocketClass(control);
    if (proxy) {
      const base = `${proxy.host}${proxy.pathname.replace(/\/$/, "")}`;
      config.wsProxy = (host, port) => `${base}?address=${host}:${port}`;
      config.useSecureWebSocket = proxy.protocol === "wss:";
      // Neon's proxy takes a pipelined cleartext password; a plain Postgres behind a proxy asks first.
      config.pipelineConnect = false;
    }
  } else {
    const config = client.neonConfig;
    config.webSocketConstructor = tcpWebSocketClass({ hostname: target.host, port: target.port, tls: target.tls, control });
    config.wsProxy = (host, port) => `${host}:${port}`;
    config.useSecureWebSocket = false;
    config.pipelineConnect = false;
    config.pipelineTLS = false;
    config.coalesceWrites = false;
    config.forceDisablePgSSL = true;
  }
  // An error while no query is active is emitted as an event; unhandled, it would be thrown.
  client.on("error", () => undefined);

  const timeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const connecting = client.connect();
  connecting.catch(() => undefined);
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new WarehouseError("unreachable", `could not connect to ${target.host}:${target.port} within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([connecting, timedOut]);
    return client;
  } catch (err) {
    // Drop the socket without a Terminate message: after a FATAL the server has already hung up.
    client.neonConfig.destroy();
    throw toWarehouseError(err, "connect");
  } finally {
    clearTimeout(timer);
  }
}

/** Ends the session (the server rolls back any open transaction); never throws or hangs. */
export async function closeClient(client: Client): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  // end() waits for an 'end' event that a connection which failed early has already sent.
  const gaveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, 2_000)));
  await Promise.race([client.end().catch(() => undefined), gaveUp]);
  clearTimeout(timer);
}

/** Opens the read-only transaction with the statement timeout and the text forms of values. */
export async function beginReadOnly(client: Client, opts: PostgresOptions): Promise<void> {
  const timeout = statementTimeout(opts);
  // DateStyle and bytea_output fix the text form of values (DateStyle 'ISO' keeps the input order).
  await client.query(
    `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = ${timeout}; ` +
      `SET LOCAL DateStyle = 'ISO'${opts.flavor === "redshift" ? "" : "; SET LOCAL bytea_output = 'hex'"}`,
  );
}

/** Runs `fn` in a read-only transaction on a fresh connection, always closing it. */
export async function withReadOnlyTransaction<T>(
  connectionString: string,
  opts: PostgresOptions,
  span: SqlSpan,
  fn: (client: Client) => Promise<T>,
): Promise<T> {
  const client = await openClient(connectionString, opts);
  try {
    await beginReadOnly(client, opts);
    return await fn(client);
  } catch (err) {
    throw toWarehouseError(err, "query", span);
  } finally {
    await closeClient(client);
  }
}

function statementTimeout(opts: WarehouseOptions): number {
  return Math.max(1, Math.floor(opts.statementTimeoutMs) || 1);
}
