/**
 * Paths into a JSON response, for the http destination's `success_path` and `error_path`: names
 * separated by dots, `[n]` for an array element and at most one `[*]`, which stands for "the
 * element of this row" (`results[*].ok` reads `results[i].ok` for the request's i-th row).
 * A small, exactly defined subset of JSONPath: enough to find a per-row answer, nothing to evaluate.
 */

type Step = { name: string } | { index: number } | { each: true };

/** A parsed path, or why it cannot be one. */
export type ParsedPath = { ok: true; steps: Step[] } | { ok: false; error: string };

const STEP = /^(?:\.?([A-Za-z_$][\w$-]*)|\[(\d+|\*)\]|\["([^"\]]+)"\])/;

/** Parses `results[*].ok`, `data.items[0].status`, `["weird key"].ok`. */
export function parseResponsePath(path: string): ParsedPath {
  const steps: Step[] = [];
  let rest = path.trim();
  if (rest === "") return { ok: false, error: "must not be empty" };
  while (rest !== "") {
    const m = STEP.exec(rest);
    if (!m || (steps.length === 0 && rest.startsWith("."))) {
      return { ok: false, error: `cannot read the path at "${rest.slice(0, 30)}": use names, [n] and [*], e.g. results[*].ok` };
    }
    const [whole, name, index, quoted] = m;
    if (name !== undefined) steps.push({ name });
    else if (quoted !== undefined) steps.push({ name: quoted });
    else if (index === "*") steps.push({ each: true });
    else steps.push({ index: Number(index) });
    rest = rest.slice(whole.length);
  }
  if (steps.filter((s) => "each" in s).length > 1) return { ok: false, error: "may use [*] at most once" };
  return { ok: true, steps };
}

/**
 * The value a path gives the `row`-th row of a request, `undefined` when absent. Without `[*]`
 * the one value answers for every row of the request.
 */
export function valueForRow(steps: readonly Step[], body: unknown, row: number): unknown {
  let value = body;
  for (const step of steps) {
    if ("name" in step) {
      if (typeof value !== "object" || value === null || Array.isArray(value) || !Object.hasOwn(value, step.name)) return undefined;
      value = (value as Record<string, unknown>)[step.name];
    } else {
      if (!Array.isArray(value)) return undefined;
      value = value["index" in step ? step.index : row];
    }
  }
  return value;
}
