import { Liquid, Tag, type TagToken, type TopLevelToken } from "liquidjs";

/**
 * Liquid templates for mapped values and request bodies ("{{ first_name }} {{ last_name | upcase }}"),
 * through liquidjs with what makes it safe for user input: no file system (include, render and
 * layout refused), only built-in filters, own properties only, and limits on a template's size,
 * its render time and the memory it may allocate, so a template cannot run code or stall a run.
 */

/** Longest template accepted (characters). */
export const MAX_TEMPLATE_LENGTH = 10_000;
/** Render time of one row, ms: a runaway loop fails its row, not the run. */
const RENDER_LIMIT_MS = 50;
/** Bytes of strings and array items one render may create. */
const MEMORY_LIMIT = 1_000_000;

const liquid = new Liquid({
  strictFilters: true,
  ownPropertyOnly: true,
  parseLimit: MAX_TEMPLATE_LENGTH,
  renderLimit: RENDER_LIMIT_MS,
  memoryLimit: MEMORY_LIMIT,
  cache: false,
});

// Tags that read templates from a file system: none exists here, and none may be named.
for (const name of ["include", "render", "layout", "block"]) {
  liquid.registerTag(
    name,
    class extends Tag {
      constructor(token: TagToken, remain: TopLevelToken[], engine: Liquid) {
        super(token, remain, engine);
        throw new Error(`{% ${name} %} is not allowed in a template`);
      }
      *render() {}
    },
  );
}

/** A template checked and parsed once, rendered per row. */
export interface CompiledTemplate {
  /** The top-level names it reads (`{{ address.city }}` reads "address"), in first-use order. */
  variables: string[];
  /**
   * The template's output for one row. Throws {@link TemplateError} (e.g. over a limit). `limits`
   * raises the per-row limits for a render over many rows at once (a batch request body).
   */
  render(scope: Record<string, unknown>, limits?: RenderLimits): string;
}

/** Limits of one render, for a template whose scope holds many rows (defaults: one row's). */
export interface RenderLimits {
  /** Milliseconds the render may take. */
  ms: number;
  /** Bytes of strings and array items it may create. */
  bytes: number;
}

/** The limits of one render over `rows` rows: one row's, times `rows`, capped at `max`. */
export function limitsForRows(rows: number, max: RenderLimits): RenderLimits {
  return { ms: Math.min(RENDER_LIMIT_MS * rows, max.ms), bytes: Math.min(MEMORY_LIMIT * rows, max.bytes) };
}

/** A template that cannot be used, with a message fit for a 400 or a failed row. */
export class TemplateError extends Error {
  override name = "TemplateError";
}

/** Parses and checks `source`. Throws {@link TemplateError} naming the problem. */
export function compileTemplate(source: string): CompiledTemplate {
  if (source.length > MAX_TEMPLATE_LENGTH) throw new TemplateError(`a template may have at most ${MAX_TEMPLATE_LENGTH} characters`);
  let parsed: ReturnType<Liquid["parse"]>;
  let variables: string[];
  try {
    parsed = liquid.parse(source);
    variables = liquid.globalVariablesSync(parsed);
  } catch (err) {
    throw new TemplateError(messageOf(err));
  }
  return {
    variables,
    render(scope, limits) {
      try {
        return liquid.renderSync(parsed, scope, limits && { renderLimit: limits.ms, memoryLimit: limits.bytes });
      } catch (err) {
        throw new TemplateError(messageOf(err));
      }
    },
  };
}

/** liquidjs's message without its stack-like context lines. */
function messageOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n")[0]?.replace(/, line:\d+, col:\d+$/, "") ?? text;
}
