import path from "node:path";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// The engine's tests alone, in workerd, without the project's Worker (whose entry must then build):
// `npx vitest run -c test/engine/vitest.config.ts`. `npm test` runs them with the project config too.
export default defineConfig({
  root: path.join(import.meta.dirname, "../.."),
  plugins: [cloudflareTest({ wrangler: { configPath: path.join(import.meta.dirname, "wrangler.toml") } })],
  test: { include: ["test/engine/**/*.test.ts"], testTimeout: 30_000 },
});
