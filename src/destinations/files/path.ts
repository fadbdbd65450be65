/**
 * The folder template of a files destination: `{{ name }}` placeholders (spaces optional) filled
 * from the run. Dates are the run's start in UTC, so every file of a run lands in one folder even
 * when the run crosses midnight.
 */

/** The placeholders a path may use. */
export const TEMPLATE_VARIABLES = ["sync_id", "run_id", "date", "yyyy", "mm", "dd", "hh"] as const;
type Variable = (typeof TEMPLATE_VARIABLES)[number];

const PLACEHOLDER = /\{\{\s*([A-Za-z_]+)\s*\}\}/g;

/** Why a path template is refused, or undefined when it is fine. */
export function templateProblem(template: string): string | undefined {
  for (const [, name] of template.matchAll(PLACEHOLDER)) {
    if (!(TEMPLATE_VARIABLES as readonly string[]).includes(name ?? "")) {
      return `unknown placeholder {{ ${name} }}; use ${TEMPLATE_VARIABLES.map((v) => `{{ ${v} }}`).join(", ")}`;
    }
  }
  const literal = template.replace(PLACEHOLDER, "x");
  if (/[{}]/.test(literal)) return "braces are only allowed in {{ placeholders }}";
  if (literal.startsWith("/")) return "must be relative to the bucket (no leading /)";
  if (literal.split("/").some((part) => part === ".." || part === ".")) return "must not contain . or .. segments";
  if ([...literal].some((c) => c === "\\" || c.charCodeAt(0) < 0x20)) return "must not contain backslashes or control characters";
  return undefined;
}

/** The run a path is filled from. */
export interface PathRun {
  syncId: string;
  runId: string;
  /** The run's start (ISO 8601). */
  startedAt: string;
}

/** The folder of a run's files, ending with `/` unless empty. */
export function renderPath(template: string, run: PathRun): string {
  const iso = new Date(run.startedAt).toISOString();
  const values: Record<Variable, string> = {
    sync_id: run.syncId,
    run_id: run.runId,
    date: iso.slice(0, 10),
    yyyy: iso.slice(0, 4),
    mm: iso.slice(5, 7),
    dd: iso.slice(8, 10),
    hh: iso.slice(11, 13),
  };
  const path = template.replace(PLACEHOLDER, (_, name: Variable) => values[name]).replace(/\/{2,}/g, "/");
  return path === "" || path.endsWith("/") ? path : `${path}/`;
}

/** The literal folder a template starts with (before its first placeholder, up to a `/`): where staged parts go. */
export function literalRoot(template: string): string {
  const first = template.search(/\{\{/);
  const literal = first < 0 ? template : template.slice(0, first);
  return literal.slice(0, literal.lastIndexOf("/") + 1);
}
