import { defineConfig } from "vitest/config";

// The web console's browser tests, in Node: each file starts its own `wrangler dev`, webhook
// receiver and Chromium (`npm run test:browser`; `npm test` runs them after the workers suite).
export default defineConfig({
  test: {
    include: ["test/browser/**/*.test.ts"],
    environment: "node",
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
