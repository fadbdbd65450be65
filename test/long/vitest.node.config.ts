import path from "node:path";
import { defineConfig } from "vitest/config";

// The long stress scenarios that run in Node (`npm run stress`, after test/long/vitest.config.ts):
// they start their own `wrangler dev` and load generator.
export default defineConfig({
  root: path.join(import.meta.dirname, "../.."),
  test: {
    include: ["test/long/node/**/*.stress.ts"],
    environment: "node",
    fileParallelism: false,
    testTimeout: 10 * 60_000,
    hookTimeout: 5 * 60_000,
  },
});
