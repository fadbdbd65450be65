import { classifyStatus, type FailureOutcome, type HttpResponse, httpRequest, isRecord, parseJson, truncate } from "../../lib/http";
import { resultsByPosition } from "../row-errors";
import type { Connector, ConnectorContext, DestinationField, Operation, RowResult } from "../destination";
import type { CustomerioConfig, CustomerioCredentials } from "./schema";

/**
 * The Customer.io config as the connector reads it. `timeout_ms` is internal (not in the API
 * schema): the per-request timeout, default 30 s, that tests shorten.
 */
export type CustomerioConnectorConfig = CustomerioConfig & { timeout_ms?: number };
type Ctx = ConnectorContext<CustomerioConnectorConfig, CustomerioCredentials>;

/** Track API base URLs by region (https://docs.customer.io/api/track/#section/Overview). */
export const CUSTOMERIO_TRACK_URLS = { us: "https://track.customer.io", eu: "https://track-eu.customer.io" } as const;
const MAX_PEOPLE = 1000;
/** `/api/v2/batch` requests must be smaller than 500 KB (Track API limits, "v2 API Limits"). */
const CUSTOMERIO_MAX_REQUEST_BYTES = 500 * 1000;
const DEFAULT_TIMEOUT_MS = 30_000;

/** Attributes that name the person: the connector sets `id` (the model's key), so a mapping may not. */
export const CUSTOMERIO_RESERVED_FIELDS = ["id", "cio_id"];

/**
 * Customer.io destination (Track API v2, Basic auth `site_id:api_key`).
 *
 * One `POST /api/v2/batch` call carries every operation of a batch as `{"batch":[…]}` entries:
 * `{type:"person", action:"identify", identifiers:{id: key}, attributes}` for creates, updates and
 * upserts (identify adds the person or updates the one with that id) and `{type:"person",
 * action:"delete", identifiers:{id: key}}` for a mirror's deletes. Requests stay under 500 KB (a
 * batch is split over several calls when needed; one row alone over it fails on its own).
 * Per-entry errors come back as `{"errors":[{batch_index, reason, field, message}]}` (200 or 207):
 * the entry at `batch_index` failed, the others were accepted; an error tied to no entry fails every
 * row of that call. 429 and 5xx `retry` (honouring `Retry-After`); 401/403 `auth_failed`; other 4xx
 * `rejected`. Customer.io's identify has no update-only form in v2, so mode `update` is not offered.
 */
export const customerioConnector: Connector<CustomerioConnectorConfig, CustomerioCredentials> = {
  maxBatchSize: (config) => Math.min(config.batch_size ?? 100, MAX_PEOPLE),
  // The Track API's fair-use limit: 100 requests per second per workspace, v1 and v2 alike.
  defaultRateLimit: { requestsPerSecond: 100, concurrency: 10 },

  /** `GET /api/v1/accounts/region`: the credentials must work, and the account be in the configured region. */
  async test(ctx) {
    const { response, outcome } = await call(ctx, "GET", "/api/v1/accounts/region");
    if (outcome) return { ok: false, error: outcome.error };
    if (response.status !== 200) {
      // The endpoint answers 400 for credentials it does not know.
      const detail = errorText(response);
      return {
        ok: false,
        error: response.status === 400 ? `Customer.io refused the Site ID and API key: ${detail}` : failure(response).error,
      };
    }
    const body = parseJson(response.text);
    const region = isRecord(body) && typeof body.data_center === "string" ? body.data_center.toLowerCase() : undefined;
    if (region !== undefined && region !== ctx.config.region) {
      return { ok: false, error: `this Customer.io account is in the ${region.toUpperCase()} region: set region to "${region}"` };
    }
    return { ok: true };
  },

  async send(ctx, batch) {
    if (batch.operations.length > MAX_PEOPLE) return { kind: "rejected", error: `a batch may carry at most ${MAX_PEOPLE} people` };
    const results = new Map<number, RowResult>();
    for (const request of requests(batch.operations, results)) {
      const outcome = await sendRequest(ctx, request, results);
      if (outcome) return outcome;
    }
    return { kind: "results", results: batch.operations.map((op, i) => results.get(i) ?? { key: op.key, ok: true }) };
  },

  /** The attributes Customer.io gives a meaning (https://docs.customer.io/journeys/attributes/); any other name is a custom attribute. */
  // Any other mapped field is a custom attribute.
  fields: async () => ({ ok: true, fields: CUSTOMERIO_FIELDS, open: true }),
};

const CUSTOMERIO_FIELDS: DestinationField[] = [
  { name: "id", label: "Person ID (the model's primary key)", type: "string", required: true, identifier: true },
  { name: "email", label: "Email", type: "string", required: false },
  { name: "created_at", label: "Created at (Unix timestamp, seconds)", type: "integer", required: false },
  { name: "unsubscribed", label: "Unsubscribed", type: "boolean", required: false },
];

interface Entry {
  index: number;
  op: Operation;
  body: Record<string, unknown>;
  bytes: number;
}

const encoder = new TextEncoder();

/** The batch's entries grouped into calls of at most 500 KB; a row too large on its own fails here. */
function requests(operations: Operation[], results: Map<number, RowResult>): Entry[][] {
  const groups: Entry[][] = [];
  let current: Entry[] = [];
  let size = 12; // {"batch":[]}
  for (const [index, op] of operations.entries()) {
    const body = entryOf(op);
    const bytes = encoder.encode(JSON.stringify(body)).length + 1;
    if (bytes + 12 > CUSTOMERIO_MAX_REQUEST_BYTES) {
      results.set(index, {
        key: op.key,
        ok: false,
        error: `this person's attributes take ${bytes} bytes; a Customer.io request must be under 500 KB`,
      });
      continue;
    }
    if (current.length > 0 && size + bytes > CUSTOMERIO_MAX_REQUEST_BYTES) {
      groups.push(current);
      current = [];
      size = 12;
    }
    current.push({ index, op, body, bytes });
    size += bytes;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

function entryOf(op: Operation): Record<string, unknown> {
  const identifiers = { id: op.key };
  if (op.op === "delete") return { type: "person", action: "delete", identifiers };
  const attributes: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(op.fields)) if (!CUSTOMERIO_RESERVED_FIELDS.includes(name)) attributes[name] = value ?? null;
  return { type: "person", action: "identify", identifiers, attributes };
}

async function sendRequest(ctx: Ctx, entries: Entry[], results: Map<number, RowResult>): Promise<FailureOutcome | undefined> {
  const { response, outcome } = await call(ctx, "POST", "/api/v2/batch", { batch: entries.map((e) => e.body) });
  if (outcome) return outcome;
  if (response.status < 200 || response.status >= 300) return failure(response);
  const body = parseJson(response.text);
  const errors = isRecord(body) && Array.isArray(body.errors) ? body.errors : [];
  const positioned = errors.map((err) => ({
    at: isRecord(err) && typeof err.batch_index === "number" ? err.batch_index : undefined,
    message: entryError(err),
  }));
  resultsByPosition(entries, positioned, results);
  return undefined;
}

/** `reason: field: message` of one entry error. */
function entryError(err: unknown): string {
  if (!isRecord(err)) return `rejected by Customer.io: ${truncate(JSON.stringify(err), 300)}`;
  const text = [err.reason, err.field, err.message].filter((v) => typeof v === "string" && v !== "").join(": ");
  return text || `rejected by Customer.io: ${truncate(JSON.stringify(err), 300)}`;
}

// ---------------------------------------------------------------------------------------------
// HTTP and errors

function baseUrl(ctx: Ctx): string {
  if (ctx.allowPrivate && ctx.config.api_base) return ctx.config.api_base.replace(/\/+$/, "");
  return CUSTOMERIO_TRACK_URLS[ctx.config.region] ?? CUSTOMERIO_TRACK_URLS.us;
}

function call(ctx: Ctx, method: "GET" | "POST", path: string, body?: unknown) {
  const { site_id, api_key } = ctx.credentials;
  return httpRequest(ctx, {
    method,
    url: `${baseUrl(ctx)}${path}`,
    headers: {
      Authorization: `Basic ${btoa(`${site_id}:${api_key}`)}`,
      Accept: "application/json",
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    timeoutMs: ctx.config.timeout_ms ?? DEFAULT_TIMEOUT_MS,
  });
}

/** The `meta.error`/`errors`/`message` of a Customer.io error body, or the raw text. */
function errorText(res: HttpResponse): string {
  const body = parseJson(res.text);
  if (isRecord(body)) {
    const meta = isRecord(body.meta) ? body.meta : {};
    const errors = Array.isArray(body.errors) ? body.errors.map(entryError) : [];
    const text = [meta.error, body.message, ...errors].filter((v) => typeof v === "string" && v !== "").join("; ");
    if (text) return truncate(text, 500);
  }
  return truncate(res.text, 500);
}

function failure(res: HttpResponse): FailureOutcome {
  return classifyStatus(res, errorText(res));
}
