import { inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** STRESS_* variables of the shell that ran `npm run stress` (workerd does not see the host's environment). */
    stressEnv: Record<string, string>;
  }
}

/** A STRESS_* setting from the shell, or `fallback`. */
export function setting(name: string, fallback: number): number {
  const raw = inject("stressEnv")?.[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`${name}=${raw} is not a number`);
  return n;
}
