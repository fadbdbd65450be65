// The embedded demo warehouse of `npm start`: PGlite (Postgres compiled to WebAssembly) served over
// the Postgres wire protocol on 127.0.0.1, with a seeded `customers` table. Its data directory is
// kept under .wrangler/demo-warehouse, so restarts are fast (about 1 s instead of 5-10 s for initdb)
// and the warehouse stays consistent with the snapshots the local Worker keeps under .wrangler/state.
import { mkdirSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { customerRows, CUSTOMERS_DDL, insertSql } from "./customers.mjs";

/** Rows the demo `customers` table starts with. */
export const DEMO_CUSTOMERS = 5000;

/**
 * Opens (or creates and seeds) the PGlite database in `dir` and serves it on 127.0.0.1:`port`.
 * Resolves once the port accepts connections, with the connection string and a `stop()`.
 * @param {{ dir: string, port: number, log?: (line: string) => void }} options
 * @returns {Promise<{ url: string, created: boolean, rows: number, stop: () => Promise<void> }>}
 */
export async function startDemoWarehouse({ dir, port, log = () => {} }) {
  mkdirSync(dir, { recursive: true });
  const started = Date.now();
  const db = await PGlite.create({ dataDir: dir });
  const exists = (await db.query("SELECT to_regclass('public.customers') IS NOT NULL AS present")).rows[0]?.present === true;
  if (!exists) {
    log(`seeding ${DEMO_CUSTOMERS.toLocaleString("en")} customers…`);
    await db.exec(CUSTOMERS_DDL);
    const rows = customerRows(1, DEMO_CUSTOMERS, new Date());
    for (let i = 0; i < rows.length; i += 1000) await db.exec(insertSql(rows.slice(i, i + 1000)));
    await db.exec("ANALYZE customers");
  }
  const count = Number((await db.query("SELECT count(*)::int AS n FROM customers")).rows[0]?.n ?? 0);
  actLikeOneSessionPerConnection(db);

  const server = new PGLiteSocketServer({
    db,
    port,
    host: "127.0.0.1",
    maxConnections: 32,
    idleTimeout: 120_000,
    debug: process.env.DEMO_WAREHOUSE_DEBUG === "1",
  });
  hangUpAfterTerminate(server);
  await server.start();
  log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${count.toLocaleString("en")} customers)`);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable`,
    created: !exists,
    rows: count,
    stop: async () => {
      await server.stop();
      await db.close();
    },
  };
}

/**
 * PGlite is one Postgres session shared by every socket connection (pglite-socket runs one
 * connection's transaction at a time). Two things a real server does per session are added here:
 * - a Terminate message ends the connection's open transaction (the session would end), so the
 *   next connection is not kept waiting until the socket closes;
 * - a named prepared statement left behind by an earlier connection (our warehouse client names
 *   its statements, e.g. "retl_describe", and leaves them to die with the session) is dropped
 *   before a Parse of the same name, which would otherwise fail with 42P05 "already exists".
 * @param {PGlite} db
 */
function actLikeOneSessionPerConnection(db) {
  const forward = db.execProtocolRawStream.bind(db);
  const discard = () => {};
  db.execProtocolRawStream = async (message, options) => {
    if (message[0] === 0x58 /* Terminate */) {
      // While a transaction is open the queue only runs its own connection's messages: this one's.
      if (db.isInTransaction()) await forward(queryMessage("ROLLBACK"), { onRawData: discard });
      return forward(message, options);
    }
    const name = message[0] === 0x50 /* Parse */ ? cString(message, 5) : "";
    if (/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) {
      const sql =
        `DO $$BEGIN IF EXISTS (SELECT FROM pg_prepared_statements WHERE name = '${name}') ` +
        `THEN EXECUTE 'DEALLOCATE ${name}'; END IF; END$$`;
      await forward(queryMessage(sql), { onRawData: discard });
    }
    return forward(message, options);
  };
}

/**
 * A real server closes the connection after a Terminate message; pglite-socket waits for the
 * client to hang up, and a client that waits for the server (as ours does, for 2 s) keeps a
 * connection slot. Watch each connection's messages and close it shortly after its Terminate.
 * (Uses the server's `handleConnection`, internal to pglite-socket 0.2.17, pinned exactly.)
 * @param {PGLiteSocketServer} server
 */
function hangUpAfterTerminate(server) {
  const handle = server.handleConnection.bind(server);
  server.handleConnection = (socket) => {
    let buffered = Buffer.alloc(0);
    let startup = true;
    socket.on("data", (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        if (startup) {
          // Untyped start-up packets: SSLRequest / GSSENCRequest (8 bytes), then the StartupMessage.
          if (buffered.length < 8 || buffered.length < buffered.readInt32BE(0)) break;
          const code = buffered.readInt32BE(4);
          buffered = buffered.subarray(buffered.readInt32BE(0));
          if (code !== 80877103 && code !== 80877104) startup = false;
          continue;
        }
        if (buffered.length < 5 || buffered.length < 1 + buffered.readInt32BE(1)) break;
        const terminate = buffered[0] === 0x58;
        buffered = buffered.subarray(1 + buffered.readInt32BE(1));
        if (terminate) setTimeout(() => socket.end(), 100);
      }
    });
    return handle(socket);
  };
}

/** The NUL-terminated string at `offset`. */
function cString(bytes, offset) {
  const end = bytes.indexOf(0, offset);
  return end === -1 ? "" : Buffer.from(bytes.subarray(offset, end)).toString("utf8");
}

/** A simple-protocol Query message. */
function queryMessage(sql) {
  const text = Buffer.from(`${sql}\0`, "utf8");
  const message = Buffer.alloc(5 + text.length);
  message.write("Q", 0, "latin1");
  message.writeInt32BE(4 + text.length, 1);
  text.copy(message, 5);
  return new Uint8Array(message);
}
