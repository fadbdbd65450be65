import path from "node:path";
import { defineConfig, type ViteUserConfigFnPromise } from "vitest/config";
import projectConfig from "../../vitest.config.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** STRESS_* variables of the shell (workerd does not see the host's environment); read in test/long/workers/lib.ts. */
    stressEnv: Record<string, string>;
  }
}

/**
 * The long stress scenarios that run inside workerd (`npm run stress`, never `npm test`): the
 * project's own plugin setup, bindings and global setup (webhook receiver and fake vendors),
 * with only these files, one at a time, and long timeouts. The files end in `.stress.ts`, so the
 * main config's `test/**\/*.test.ts` never picks them up.
 */
export default defineConfig(async (env) => {
  const base = await (projectConfig as ViteUserConfigFnPromise)(env);
  return {
    ...base,
    root: path.join(import.meta.dirname, "../.."),
    test: {
      ...base.test,
      include: ["test/long/workers/**/*.stress.ts"],
      exclude: ["**/node_modules/**"],
      fileParallelism: false,
      testTimeout: 15 * 60_000,
      // STRESS_* settings (seed, sizes) reach the tests through inject("stressEnv").
      provide: {
        stressEnv: Object.fromEntries(Object.entries(process.env).filter(([k, v]) => k.startsWith("STRESS_") && v !== undefined)) as Record<
          string,
          string
        >,
      },
      hookTimeout: 5 * 60_000,
      // The product logs one JSON line per batch and step: thousands here. Keep the scenarios' own output.
      onConsoleLog: (log: string) => !log.trimStart().startsWith('{"level"'),
    },
  };
});
