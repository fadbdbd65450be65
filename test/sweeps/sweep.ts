// Over 400 lines: the sweeps' walker of the OpenAPI document (request builders, schema-driven bodies, envelope checks) in one place.
/**
 * Shared machinery of the bad-input and security sweeps: the operations of the live OpenAPI
 * document, a request recorder that checks every answer (no 500, the error envelope), D1
 * snapshots to prove that a refused request wrote nothing, and schema walking to derive per-field
 * mutations from the request body schemas.
 * Over 400 lines: the OpenAPI walking, the recorder and the D1 snapshots are used together by both sweeps.
 */
import { env, exports } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { createApp } from "../../src/app";
import { ERROR_CODES } from "../../src/api/errors";

// ---------------------------------------------------------------------------------------------
// The OpenAPI document

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON Schema node of the document (3.1), loosely typed. */
export interface Schema {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
  items?: Schema;
  enum?: Json[];
  const?: Json;
  maxLength?: number;
  minLength?: number;
  minimum?: number;
  maximum?: number;
  additionalProperties?: boolean | Schema;
  default?: Json;
}

interface Parameter {
  name: string;
  in: "path" | "query" | "header";
  required?: boolean;
  schema?: Schema;
}

export interface Operation {
  operationId: string;
  method: string;
  /** OpenAPI path template, e.g. /api/v1/syncs/{id}/runs/{run_id}. */
  path: string;
  pathParams: string[];
  queryParams: Parameter[];
  body?: { schema: Schema; required: boolean };
  /** `security: []` in the document: no Bearer token (trigger webhooks). */
  public: boolean;
}

export interface OpenApiDoc {
  paths: Record<
    string,
    Record<
      string,
      {
        operationId: string;
        parameters?: Parameter[];
        requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
        security?: unknown[];
      }
    >
  >;
  components: { schemas: Record<string, Schema> };
}

/** Fetches /api/v1/openapi.json from the Worker and lists every operation. */
export async function loadOperations(): Promise<{ doc: OpenApiDoc; operations: Operation[] }> {
  const res = await exports.default.fetch(new Request("http://api.test/api/v1/openapi.json"));
  if (res.status !== 200) throw new Error(`openapi.json answered ${res.status}`);
  const doc = (await res.json()) as OpenApiDoc;
  const operations: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const params = op.parameters ?? [];
      const json = op.requestBody?.content["application/json"];
      operations.push({
        operationId: op.operationId,
        method: method.toUpperCase(),
        path,
        pathParams: [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? ""),
        queryParams: params.filter((p) => p.in === "query"),
        body: json ? { schema: json.schema, required: op.requestBody?.required === true } : undefined,
        public: Array.isArray(op.security) && op.security.length === 0,
      });
    }
  }
  return { doc, operations };
}

/** Follows `$ref`s to the component schema. */
export function resolve(doc: OpenApiDoc, schema: Schema): Schema {
  let s = schema;
  for (let i = 0; s.$ref && i < 10; i++) {
    const name = s.$ref.replace("#/components/schemas/", "");
    const target = doc.components.schemas[name];
    if (!target) throw new Error(`unresolved ${s.$ref}`);
    s = target;
  }
  return s;
}

/** The JSON types a schema accepts ("integer" implies nothing about "number"); empty when unconstrained. */
export function acceptedTypes(doc: OpenApiDoc, schema: Schema): Set<string> {
  const s = resolve(doc, schema);
  const out = new Set<string>();
  const variants = [...(s.oneOf ?? []), ...(s.anyOf ?? []), ...(s.allOf ?? [])];
  if (variants.length > 0) {
    for (const v of variants) for (const t of acceptedTypes(doc, v)) out.add(t);
    if (out.size === 0) return out;
  }
  if (typeof s.type === "string") out.add(s.type);
  else if (Array.isArray(s.type)) for (const t of s.type) out.add(t);
  else if (s.properties) out.add("object");
  else if (s.enum) for (const e of s.enum) out.add(e === null ? "null" : typeof e);
  return out;
}

/** For a oneOf (discriminated union), the variant that the sample value selects. */
export function variantFor(doc: OpenApiDoc, schema: Schema, sample: Json | undefined): Schema {
  const s = resolve(doc, schema);
  if (!s.oneOf && !s.anyOf) return s;
  const variants = (s.oneOf ?? s.anyOf ?? []).map((v) => resolve(doc, v));
  if (sample === null || typeof sample !== "object" || Array.isArray(sample)) {
    return variants.find((v) => v.properties) ?? s;
  }
  const matches = variants.find(
    (v) =>
      Object.entries(v.properties ?? {}).every(([k, p]) => {
        const ps = resolve(doc, p);
        return ps.enum?.length !== 1 || ps.enum[0] === sample[k];
      }) && v.properties,
  );
  return matches ?? s;
}

/** One field of a body: its dotted path segments, schema and whether its parent requires it. */
export interface Field {
  path: (string | number)[];
  schema: Schema;
  required: boolean;
  /** The sample's value for this field, if any. */
  value: Json | undefined;
}

/**
 * Every field of a body schema, following objects, discriminated unions (by the sample's
 * discriminator) and the first element of arrays of objects, down to `depth` levels.
 */
export function fieldsOf(doc: OpenApiDoc, schema: Schema, sample: Json | undefined, prefix: (string | number)[] = [], depth = 3): Field[] {
  const s = variantFor(doc, schema, sample);
  const out: Field[] = [];
  if (depth === 0 || !s.properties) return out;
  const obj = sample !== null && typeof sample === "object" && !Array.isArray(sample) ? sample : {};
  for (const [name, raw] of Object.entries(s.properties)) {
    const child = resolve(doc, raw);
    const value = obj[name];
    const path = [...prefix, name];
    out.push({ path, schema: child, required: (s.required ?? []).includes(name), value });
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      out.push(...fieldsOf(doc, child, value, path, depth - 1));
    } else if (Array.isArray(value) && value.length > 0 && child.items) {
      out.push(...fieldsOf(doc, child.items, value[0], [...path, 0], depth - 1));
    }
  }
  return out;
}

/** Values of the wrong JSON type for a schema (never one it accepts). */
export function wrongValues(doc: OpenApiDoc, schema: Schema): Json[] {
  const types = acceptedTypes(doc, schema);
  if (types.size === 0) return [];
  const candidates: [string, Json][] = [
    ["integer", 12345],
    ["number", 1.5],
    ["string", "not-the-right-type"],
    ["boolean", true],
    ["null", null],
    ["array", []],
    ["object", {}],
  ];
  const out: Json[] = [];
  for (const [type, value] of candidates) {
    const accepted =
      types.has(type) || (type === "integer" && types.has("number")) || (type === "number" && !types.has("integer") && types.has("number"));
    // One wrong number is enough when neither kind of number is accepted.
    if (!accepted && !(type === "number" && !types.has("integer") && out.includes(12345))) out.push(value);
  }
  const s = resolve(doc, schema);
  if (s.enum?.every((e) => typeof e === "string")) out.push("not_one_of_the_values");
  return out;
}

/** A deep copy of `body` with the value at `path` replaced (or removed when `value` is undefined). */
export function withValue(body: Json, path: (string | number)[], value: Json | undefined): Json {
  const copy = structuredClone(body);
  let node: Json = copy;
  for (const key of path.slice(0, -1)) {
    if (node === null || typeof node !== "object") return copy;
    node = Array.isArray(node) ? (node[Number(key)] ?? null) : (node[String(key)] ?? null);
  }
  const last = path.at(-1);
  if (last === undefined || node === null || typeof node !== "object") return copy;
  if (Array.isArray(node)) {
    if (value === undefined) node.splice(Number(last), 1);
    else node[Number(last)] = value;
  } else if (value === undefined) delete node[String(last)];
  else node[String(last)] = value;
  return copy;
}

// ---------------------------------------------------------------------------------------------
// Requests and their checks

export interface Answer {
  status: number;
  text: string;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  json: unknown;
  headers: Headers;
}

export interface SendOptions {
  token?: string | null;
  /** Serialised as JSON. */
  body?: unknown;
  /** Sent as is (malformed JSON, oversized payloads). */
  raw?: BodyInit;
  headers?: Record<string, string>;
  /** Defaults to the Worker's own fetch handler. */
  fetcher?: (req: Request) => Promise<Response>;
}

const defaultFetch = (req: Request) => exports.default.fetch(req);

/** One HTTP request to the API, as a client would send it. */
export async function send(method: string, path: string, opts: SendOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: BodyInit | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
    headers["content-type"] = "application/json";
  }
  const res = await (opts.fetcher ?? defaultFetch)(new Request(`http://api.test${path}`, { method, headers, body }));
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, headers: res.headers };
}

interface ErrorEnvelope {
  error: { code: string; message: string; details?: unknown; request_id: string };
}

const statusOfCode: Record<string, number[]> = {
  bad_request: [400],
  validation_failed: [400],
  unauthorized: [401],
  forbidden: [403],
  not_found: [404],
  conflict: [409],
  idempotency_conflict: [409],
  payload_too_large: [413],
  unsupported_media_type: [415],
  source_error: [422],
  internal_error: [500],
};

/** What is wrong with an error answer's envelope, or an empty list. */
function envelopeProblems(res: Answer): string[] {
  const problems: string[] = [];
  if (!/^application\/json/i.test(res.headers.get("content-type") ?? ""))
    problems.push(`content-type is ${res.headers.get("content-type")}`);
  const body = res.json as Partial<ErrorEnvelope> | undefined;
  const err = body?.error;
  if (!err || typeof err !== "object") return [...problems, `no error object in ${res.text.slice(0, 200)}`];
  if (!(ERROR_CODES as readonly string[]).includes(err.code)) problems.push(`unknown error.code ${JSON.stringify(err.code)}`);
  else if (!statusOfCode[err.code]?.includes(res.status)) problems.push(`error.code ${err.code} with status ${res.status}`);
  if (typeof err.message !== "string" || err.message.trim() === "") problems.push("empty error.message");
  if (typeof err.request_id !== "string" || err.request_id === "") problems.push("no request_id");
  else if (res.headers.get("x-request-id") !== err.request_id) problems.push("request_id differs from X-Request-Id");
  if (err.code === "validation_failed") {
    const details = err.details;
    if (!Array.isArray(details) || details.length === 0) problems.push("validation_failed without details");
    else if (
      !details.every(
        (d: unknown) => typeof (d as { path?: unknown }).path === "string" && typeof (d as { message?: unknown }).message === "string",
      )
    ) {
      problems.push("details are not {path, message}");
    }
  }
  return problems;
}

/** The `details[].path`s of a validation error. */
function detailPaths(res: Answer): string[] {
  const details = (res.json as Partial<ErrorEnvelope> | undefined)?.error?.details;
  return Array.isArray(details) ? details.map((d: { path?: unknown }) => String(d.path)) : [];
}

/** Whether the error's details name `path` (or a field inside it). */
export function namesPath(res: Answer, path: string): boolean {
  return detailPaths(res).some((p) => p === path || p.startsWith(`${path}.`));
}

export function errorCode(res: Answer): string | undefined {
  return (res.json as Partial<ErrorEnvelope> | undefined)?.error?.code;
}

/**
 * Sends requests and checks each answer: never a 500, every 4xx with the error envelope. Problems
 * are collected (not thrown) so one run reports all of them; `assertClean` fails the test.
 */
export class Recorder {
  /** Every answer of every Recorder in this test file, for file-wide scans (secrets). */
  static readonly answers: { operationId: string; label: string; text: string; headers: string }[] = [];
  readonly operations = new Set<string>();
  readonly statuses = new Map<number, number>();
  readonly problems: string[] = [];
  requests = 0;
  fiveHundreds = 0;

  constructor(readonly name: string) {}

  async send(label: string, operationId: string, method: string, path: string, opts: SendOptions = {}): Promise<Answer> {
    this.operations.add(operationId);
    this.requests++;
    let res: Answer;
    try {
      res = await send(method, path, opts);
    } catch (err) {
      this.problems.push(`${label}: request threw ${String(err)}`);
      return { status: 0, text: "", json: undefined, headers: new Headers() };
    }
    Recorder.answers.push({ operationId, label, text: res.text, headers: JSON.stringify([...res.headers]) });
    this.statuses.set(res.status, (this.statuses.get(res.status) ?? 0) + 1);
    if (res.status >= 500) {
      this.fiveHundreds++;
      this.problems.push(`${label}: ${res.status} ${res.text.slice(0, 300)}`);
    } else if (res.status >= 400) {
      for (const p of envelopeProblems(res)) this.problems.push(`${label}: ${p}`);
    }
    return res;
  }

  check(ok: boolean, label: string, message: string): void {
    if (!ok) this.problems.push(`${label}: ${message}`);
  }

  /** Prints the figures quoted in the reliability report. */
  summary(extra: Record<string, unknown> = {}): void {
    for (const p of this.problems.slice(0, 100)) console.log(`[${this.name}] PROBLEM ${p}`);
    const statuses = Object.fromEntries([...this.statuses.entries()].sort(([a], [b]) => a - b));
    console.log(
      `[${this.name}] ${JSON.stringify({ operations: this.operations.size, requests: this.requests, statuses, status_500: this.fiveHundreds, problems: this.problems.length, ...extra })}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// D1 snapshots

/** Tables holding a workspace's objects; columns the read path itself refreshes are left out. */
const WORKSPACE_TABLES: { table: string; ignore: string[] }[] = [
  { table: "api_tokens", ignore: ["last_used_at"] },
  { table: "sources", ignore: [] },
  { table: "models", ignore: [] },
  { table: "destinations", ignore: [] },
  { table: "syncs", ignore: [] },
  { table: "sync_runs", ignore: [] },
  { table: "idempotency_keys", ignore: [] },
];

/** Every row of the workspace (one D1 batch), as a string to compare before and after requests. */
export async function workspaceSnapshot(workspaceId: string): Promise<string> {
  const statements = WORKSPACE_TABLES.map(({ table }) =>
    env.DB.prepare(`SELECT * FROM ${table} WHERE workspace_id = ? ORDER BY rowid`).bind(workspaceId),
  );
  statements.push(
    env.DB.prepare(`SELECT e.* FROM run_row_errors e JOIN sync_runs r ON r.id = e.run_id WHERE r.workspace_id = ? ORDER BY e.seq`).bind(
      workspaceId,
    ),
  );
  const results = await env.DB.batch<Record<string, unknown>>(statements);
  return results
    .map((r, i) => {
      const ignore = WORKSPACE_TABLES[i]?.ignore ?? [];
      const rows = r.results.map((row) => Object.fromEntries(Object.entries(row).filter(([k]) => !ignore.includes(k))));
      return `${WORKSPACE_TABLES[i]?.table ?? "run_row_errors"}:${JSON.stringify(rows)}`;
    })
    .join("\n");
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Row counts per table of the workspace. */
export async function workspaceCounts(workspaceId: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const { table } of WORKSPACE_TABLES) {
    const row = await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE workspace_id = ?`).bind(workspaceId).first<{ n: number }>();
    out[table] = row?.n ?? 0;
  }
  return out;
}

/** Every row of every application table of D1, as JSON text per table. */
export async function dumpD1(): Promise<Record<string, string>> {
  const { results: tables } = await env.DB.prepare(
    `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'd1_%'`,
  ).all<{ name: string }>();
  const out: Record<string, string> = {};
  for (const { name } of tables) {
    const { results } = await env.DB.prepare(`SELECT * FROM "${name}"`).all();
    out[name] = JSON.stringify(results);
  }
  return out;
}

/** Fills `{param}`s of a path template. */
export function fillPath(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`no value for {${name}} in ${template}`);
    return v;
  });
}

/**
 * A fetch into a fresh app whose bindings are the test env with `overrides` (e.g. a short warehouse
 * statement timeout, or ALLOW_PRIVATE_DESTINATIONS off), for settings the shared test Worker fixes.
 */
export function appWithEnv(overrides: Partial<Record<keyof Env, string>>): (req: Request) => Promise<Response> {
  const app = createApp();
  return async (req) => {
    const ctx = createExecutionContext();
    const res = await app.fetch(req, { ...env, ...overrides } as Env, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  };
}
