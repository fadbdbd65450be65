// `npm start`: the API locally on http://127.0.0.1:$PORT with local D1/R2/Queues/Durable Objects.
// Applies D1 migrations first, honours PORT and ADMIN_TOKEN, and keeps one process tree (Ctrl-C stops all).
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

process.env.WRANGLER_SEND_METRICS = "false";
const port = process.env.PORT ?? "8787";

// Local secrets live in .dev.vars (git-ignored); create it once with a random encryption key.
if (!existsSync(".dev.vars")) {
  writeFileSync(
    ".dev.vars",
    [
      `ADMIN_TOKEN=dev_${randomBytes(12).toString("hex")}`,
      `ENCRYPTION_KEY=${randomBytes(32).toString("base64")}`,
      "ALLOW_PRIVATE_DESTINATIONS=true",
      "",
    ].join("\n"),
  );
}
const devVars = Object.fromEntries(
  readFileSync(".dev.vars", "utf8")
    .split("\n")
    .filter((l) => l.includes("="))
    .map((l) => [l.slice(0, l.indexOf("=")).trim(), l.slice(l.indexOf("=") + 1).trim()]),
);
const adminToken = process.env.ADMIN_TOKEN ?? devVars.ADMIN_TOKEN;

const migrate = spawnSync("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local"], {
  stdio: ["ignore", "inherit", "inherit"],
  env: { ...process.env, CI: "1" },
});
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const dev = spawn("npx", ["wrangler", "dev", "--ip", "127.0.0.1", "--port", port, "--var", `ADMIN_TOKEN:${adminToken}`], {
  stdio: "inherit",
});

console.log(`
  Reverse ETL API   http://127.0.0.1:${port}/api/v1   (reference: http://127.0.0.1:${port}/docs)
  Admin token       ${adminToken}

  curl -H "Authorization: Bearer ${adminToken}" http://127.0.0.1:${port}/api/v1/syncs
`);

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => dev.kill(signal));
}
dev.on("exit", (code) => process.exit(code ?? 0));
