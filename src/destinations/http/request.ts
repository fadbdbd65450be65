import { type CompiledTemplate, compileTemplate, limitsForRows, type RenderLimits, TemplateError } from "../../sync/template";
import type { Batch, Operation, OperationKind } from "../destination";
import { type HttpConfig, staticOrigin } from "./schema";

/**
 * How a batch becomes requests for the http destination: which operations share a request, and
 * each request's method, URL and body rendered from the config's templates. Rendering problems are
 * answers here (a row's failure), never exceptions.
 */

/** Body of one row per request when the config sets none: the row's mapped fields. */
const DEFAULT_ROW_BODY = "{{ fields | json }}";
/** Body of a batch request when the config sets none. */
const DEFAULT_BATCH_BODY = '{"operations": {{ operations | json }}}';
/** Ceiling of one batch body's render (one row's limits times the rows, up to this). */
const BATCH_RENDER_LIMITS: RenderLimits = { ms: 1_000, bytes: 16_000_000 };

/** One request to send, with the operations (by their index in the batch) it carries. */
export interface PlannedRequest {
  indexes: number[];
  method: HttpConfig["method"];
  url: string;
  /** The exact JSON text sent (and signed), or `undefined` for no body. */
  body?: string;
}

/** The requests of a batch, and the operations whose request could not be rendered (index → error). */
export interface RequestPlan {
  requests: PlannedRequest[];
  failed: Map<number, string>;
}

/**
 * Groups a batch's operations into requests: one per operation (`per_row`), or in batch mode one
 * per operation kind that has its own override and one for the rest, and renders each.
 */
export function planRequests(config: HttpConfig, batch: Batch): RequestPlan {
  const plan: RequestPlan = { requests: [], failed: new Map() };
  const groups = new Map<string, number[]>();
  for (const [index, op] of batch.operations.entries()) {
    const group = config.request === "batch" ? (config.overrides?.[op.op] ? op.op : "default") : String(index);
    groups.set(group, [...(groups.get(group) ?? []), index]);
  }
  for (const indexes of groups.values()) {
    const first = batch.operations[indexes[0] ?? 0];
    if (!first) continue;
    const endpoint = endpointOf(config, first.op);
    const operations = indexes.map((i) => batch.operations[i]).filter((o): o is Operation => o !== undefined);
    const rendered =
      config.request === "batch" ? renderBatch(endpoint, operations, batch.batch_id) : renderRow(endpoint, first, batch.batch_id);
    if (typeof rendered === "string") for (const i of indexes) plan.failed.set(i, rendered);
    else plan.requests.push({ indexes, method: endpoint.method, ...rendered });
  }
  return plan;
}

interface Endpoint {
  method: HttpConfig["method"];
  url: { path: string; source: string };
  body: { path: string; source: string };
}

/** The method and templates an operation kind uses, with the config path each comes from. */
function endpointOf(config: HttpConfig, op: OperationKind): Endpoint {
  const own = config.overrides?.[op];
  const defaultBody = config.request === "batch" ? DEFAULT_BATCH_BODY : DEFAULT_ROW_BODY;
  return {
    method: own?.method ?? config.method,
    url: own?.url !== undefined ? { path: `config.overrides.${op}.url`, source: own.url } : { path: "config.url", source: config.url },
    body:
      own?.body !== undefined
        ? { path: `config.overrides.${op}.body`, source: own.body }
        : { path: "config.body", source: config.body ?? defaultBody },
  };
}

/** The scope of one row: its fields at the top, then `fields`, `key`, `op` and `batch_id` (which win over fields of those names). */
function rowScope(op: Operation, batchId: string): Record<string, unknown> {
  return { ...op.fields, fields: op.fields, key: op.key, op: op.op, batch_id: batchId };
}

function renderRow(endpoint: Endpoint, op: Operation, batchId: string): { url: string; body?: string } | string {
  const scope = rowScope(op, batchId);
  return renderRequest(endpoint, scope);
}

function renderBatch(endpoint: Endpoint, operations: Operation[], batchId: string): { url: string; body?: string } | string {
  const scope = {
    rows: operations.map((o) => ({ ...o.fields, key: o.key, op: o.op })),
    operations: operations.map(({ op, key, fields }) => ({ op, key, fields })),
    batch_id: batchId,
  };
  return renderRequest(endpoint, scope, limitsForRows(operations.length, BATCH_RENDER_LIMITS));
}

/** The rendered URL and body, or the message of a row whose request cannot be made. */
function renderRequest(endpoint: Endpoint, scope: Record<string, unknown>, limits?: RenderLimits): { url: string; body?: string } | string {
  const url = render(endpoint.url, scope, limits);
  if (url.error !== undefined) return url.error;
  const origin = staticOrigin(endpoint.url.source);
  const target = url.text.trim();
  if (!URL.canParse(target) || new URL(target).origin !== origin) {
    return `${endpoint.url.path} rendered ${JSON.stringify(target.slice(0, 200))}, not a URL on ${origin ?? "its host"} (encode values with | url_encode)`;
  }
  const body = render(endpoint.body, scope, limits);
  if (body.error !== undefined) return body.error;
  if (body.text.trim() === "") return { url: target };
  try {
    JSON.parse(body.text);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return `${endpoint.body.path} did not render JSON (${reason}; write values with | json): ${JSON.stringify(body.text.slice(0, 200))}`;
  }
  return { url: target, body: body.text };
}

function render(
  template: { path: string; source: string },
  scope: Record<string, unknown>,
  limits: RenderLimits | undefined,
): { text: string; error?: undefined } | { error: string } {
  try {
    return { text: compiled(template.source).render(scope, limits) };
  } catch (err) {
    return { error: `${template.path}: ${err instanceof TemplateError ? err.message : String(err)}` };
  }
}

// Templates were checked when the destination was saved; compiled ones are kept by their source.
const COMPILED = new Map<string, CompiledTemplate>();
const MAX_COMPILED = 100;

function compiled(source: string): CompiledTemplate {
  let t = COMPILED.get(source);
  if (!t) {
    t = compileTemplate(source);
    if (COMPILED.size >= MAX_COMPILED) COMPILED.clear();
    COMPILED.set(source, t);
  }
  return t;
}
