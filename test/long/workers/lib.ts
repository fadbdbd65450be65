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

/** mulberry32: a small seeded generator, so a schedule is the same for the same seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An integer in [lo, hi]. */
export const between = (random: () => number, lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));

/** `k` distinct elements of `from`, drawn with `random` (partial Fisher-Yates on a copy). */
export function sample<T>(random: () => number, from: readonly T[], k: number): T[] {
  const a = [...from];
  const n = Math.min(k, a.length);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(random() * (a.length - i));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a.slice(0, n);
}

/** One of `choices`, by weight. */
export function weighted<T extends string>(random: () => number, choices: Record<T, number>): T {
  const entries = Object.entries(choices) as [T, number][];
  const total = entries.reduce((s, [, w]) => s + w, 0);
  let x = random() * total;
  for (const [k, w] of entries) {
    x -= w;
    if (x < 0) return k;
  }
  return (entries.at(-1) as [T, number])[0];
}

/** A fixed-width text table: the first row is the header. */
export function table(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0]?.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length))) ?? [];
  const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(" | ")} |`;
  const rule = `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`;
  return [line(cells[0] ?? []), rule, ...cells.slice(1).map(line)].join("\n");
}

/** Percentile (nearest rank) of unsorted numbers. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}
