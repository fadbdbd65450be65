/**
 * The local MariaDB for the MySQL source tests (run in Node by test/setup/global.ts): started when
 * it is not running (as .ci/run does), then the test database `retl_mysql_test`, the tests' admin
 * (`retl_mysql_admin`) and a least-privilege reader (`retl_mysql_reader`, SELECT on that database
 * only) are made. Returns whether it answers.
 */
import { spawn, spawnSync } from "node:child_process";
import { connect } from "node:net";

const HOST = "127.0.0.1";
const PORT = 3306;

const listening = () =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: HOST, port: PORT });
    socket.setTimeout(1000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });

async function start(): Promise<boolean> {
  // Not installed: say so at once rather than wait for a server that cannot come.
  if (spawnSync("sh", ["-c", "command -v mariadbd || command -v mysqld"], { stdio: "ignore" }).status !== 0) return false;
  // The init script where there is one (Debian, without systemd), else mysqld_safe in the background.
  const service = spawnSync("service", ["mariadb", "start"], { stdio: "ignore", timeout: 60_000 });
  if (service.status !== 0) {
    const safe = spawn("mysqld_safe", [], { detached: true, stdio: "ignore" });
    safe.on("error", () => undefined);
    safe.unref();
  }
  for (let i = 0; i < 30; i++) {
    if (await listening()) return true;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return false;
}

// The tests' admin (TEST_MYSQL_URL) reaches the server over TCP, as workerd must: root often may
// not (Debian's root@localhost authenticates by unix socket), so it is a user of its own.
const SETUP_SQL = `CREATE DATABASE IF NOT EXISTS retl_mysql_test CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'retl_mysql_admin'@'127.0.0.1' IDENTIFIED BY 'admin-pw';
GRANT ALL PRIVILEGES ON *.* TO 'retl_mysql_admin'@'127.0.0.1';
CREATE USER IF NOT EXISTS 'retl_mysql_reader'@'127.0.0.1' IDENTIFIED BY 'reader-pw';
CREATE USER IF NOT EXISTS 'retl_mysql_reader'@'localhost' IDENTIFIED BY 'reader-pw';
GRANT SELECT, SHOW VIEW ON retl_mysql_test.* TO 'retl_mysql_reader'@'127.0.0.1';
GRANT SELECT, SHOW VIEW ON retl_mysql_test.* TO 'retl_mysql_reader'@'localhost';`;

export async function startMariadb(): Promise<boolean> {
  if (!(await listening()) && !(await start())) return false;
  // As root: over the unix socket (Debian's default for the OS root), else over TCP.
  let setup = spawnSync("mariadb", ["-uroot"], { input: SETUP_SQL, encoding: "utf8", timeout: 30_000 });
  if (setup.status !== 0)
    setup = spawnSync("mariadb", ["-uroot", `-h${HOST}`, `-P${PORT}`], { input: SETUP_SQL, encoding: "utf8", timeout: 30_000 });
  if (setup.status !== 0) {
    console.warn(`\n*** MariaDB setup failed: ${setup.stderr || setup.error}`);
    return false;
  }
  return true;
}
