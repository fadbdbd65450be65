// @ts-check
// The console's API client: Bearer token from localStorage, JSON in and out, API errors as ApiError,
// and one typed function per endpoint the console calls (shapes in types.js).
/** @import { AlertChannel, AlertChannelBody, ConnectionTest, Destination, DestinationField, ErrorDetail, FieldMapping, Model, ModelBody, OperationFilter, Page, Preview, RecordEvent, RowError, Run, RunOperation, RunOptions, Source, SourceTest, Sync, SyncBody, TriggerSecret } from "./types.js" */

const TOKEN_KEY = "reverse-etl.token";

/** The token entered once and kept in this browser. */
export const token = {
  get: () => localStorage.getItem(TOKEN_KEY),
  /** @param {string} value */
  set: (value) => localStorage.setItem(TOKEN_KEY, value),
  clear: () => localStorage.removeItem(TOKEN_KEY),
};

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
const isObject = (value) => typeof value === "object" && value !== null;

/** One entry of an error's `details`, as text. @param {unknown} d @returns {ErrorDetail} */
const detailOf = (d) => (isObject(d) ? { path: String(d.path), message: String(d.message) } : { path: "", message: String(d) });

/** An error answer of the API: `{"error":{"code","message","details"?,"request_id"}}`. */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status; 0 when the API could not be reached
   * @param {unknown} body the parsed answer, an ErrorBody when the API wrote it
   */
  constructor(status, body) {
    const error = isObject(body) && isObject(body.error) ? body.error : {};
    super(typeof error.message === "string" ? error.message : `the API answered ${status}`);
    /** @type {number} */
    this.status = status;
    /** @type {string} */
    this.code = typeof error.code === "string" ? error.code : "http_error";
    /** @type {ErrorDetail[]} */
    this.details = Array.isArray(error.details) ? error.details.map(detailOf) : [];
    /** @type {string | null} */
    this.requestId = typeof error.request_id === "string" ? error.request_id : null;
  }
}

/**
 * Calls /api/v1`path`. Resolves with the parsed body (null for 204), rejects with ApiError.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<unknown>}
 */
async function api(method, path, body) {
  return request(method, `/api/v1${path}`, body);
}

/** The D1 session bookmark of the API's last answer (see README "API reads"). */
let bookmark = /** @type {string | null} */ (null);

/**
 * Calls `url` of this origin with the token. Resolves with the parsed body (null for 204), rejects with ApiError.
 * @param {string} method
 * @param {string} url
 * @param {unknown} [body]
 * @returns {Promise<unknown>}
 */
async function request(method, url, body) {
  /** @type {Record<string, string>} */
  const headers = { authorization: `Bearer ${token.get() ?? ""}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  // Reads may be served by a D1 replica: the last answer's bookmark makes them see what we wrote.
  if (bookmark) headers["x-d1-bookmark"] = bookmark;
  let res;
  try {
    res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ApiError(0, { error: { code: "network_error", message: `could not reach the API: ${reason}` } });
  }
  bookmark = res.headers.get("x-d1-bookmark") ?? bookmark;
  const text = await res.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { error: { code: "bad_response", message: `the API answered ${res.status} with a non-JSON body` } };
  }
  if (!res.ok) throw new ApiError(res.status, parsed);
  return parsed;
}

/**
 * `api` with the answer typed by the caller's declared return type: the one place where JSON
 * becomes a shape of types.js (the API's OpenAPI schema guarantees it).
 * @template T
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<T>}
 */
async function call(method, path, body) {
  return /** @type {T} */ (await api(method, path, body));
}

/** `&cursor=…` for a page after the first, else "". @param {string | null | undefined} cursor */
const after = (cursor) => (cursor ? `&cursor=${encodeURIComponent(cursor)}` : "");

/**
 * Every item of a list, following `next_cursor` (at most `max` items).
 * @template T
 * @param {(cursor: string | null) => Promise<Page<T>>} pageAfter
 * @returns {Promise<T[]>}
 */
async function listAll(pageAfter, max = 1000) {
  /** @type {T[]} */
  const items = [];
  /** @type {string | null} */
  let cursor = null;
  do {
    const page = await pageAfter(cursor);
    items.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}

// ---------------------------------------------------------------------------------------------
// Syncs

/**
 * A page of the workspace's syncs (archived ones instead with `archived`).
 * @param {{ limit: number, archived?: boolean, cursor?: string | null }} query
 * @returns {Promise<Page<Sync>>}
 */
export const listSyncs = ({ limit, archived, cursor }) =>
  call("GET", `/syncs?limit=${limit}${archived ? "&status=archived" : ""}${after(cursor)}`);

/** @param {string} id @returns {Promise<Sync>} */
export const getSync = (id) => call("GET", `/syncs/${id}`);

/** @param {SyncBody} body @returns {Promise<Sync>} */
export const createSync = (body) => call("POST", "/syncs", body);

/** @param {string} id @param {Omit<SyncBody, "paused">} body @returns {Promise<Sync>} */
export const updateSync = (id, body) => call("PUT", `/syncs/${id}`, body);

/** Starts (or queues) a run. @param {string} id @param {RunOptions} options @returns {Promise<Run>} */
export const triggerSync = (id, options) => call("POST", `/syncs/${id}/trigger`, options);

/** @param {string} id @returns {Promise<Sync>} */
export const pauseSync = (id) => call("POST", `/syncs/${id}/pause`);

/** @param {string} id @returns {Promise<Sync>} */
export const resumeSync = (id) => call("POST", `/syncs/${id}/resume`);

/** Soft delete: the sync keeps its history and can be restored. @param {string} id @returns {Promise<Sync>} */
export const archiveSync = (id) => call("DELETE", `/syncs/${id}`);

/** @param {string} id @returns {Promise<Sync>} */
export const restoreSync = (id) => call("POST", `/syncs/${id}/restore`);

/** Deletes an archived sync for good, with its runs and snapshots. @param {string} id @returns {Promise<null>} */
export const deleteSyncPermanently = (id) => call("DELETE", `/syncs/${id}?permanent=true`);

/** @param {string} id @returns {Promise<TriggerSecret>} */
export const rotateTriggerSecret = (id) => call("POST", `/syncs/${id}/trigger-secret`);

// ---------------------------------------------------------------------------------------------
// Runs

/**
 * A page of a sync's runs, newest first.
 * @param {string} syncId
 * @param {{ limit: number, cursor?: string | null }} query
 * @returns {Promise<Page<Run>>}
 */
export const listRuns = (syncId, { limit, cursor }) => call("GET", `/syncs/${syncId}/runs?limit=${limit}${after(cursor)}`);

/** @param {string} syncId @param {string} runId @returns {Promise<Run>} */
export const getRun = (syncId, runId) => call("GET", `/syncs/${syncId}/runs/${runId}`);

/**
 * Cancels a queued or running run (409 when it has ended); a running one ends `cancelled` shortly.
 * @param {string} syncId @param {string} runId @returns {Promise<Run>}
 */
export const cancelRun = (syncId, runId) => call("POST", `/syncs/${syncId}/runs/${runId}/cancel`);

/**
 * A page of 200 of a run's failed rows.
 * @param {string} syncId
 * @param {string} runId
 * @param {string | null} cursor
 * @returns {Promise<Page<RowError>>}
 */
export const listRunErrors = (syncId, runId, cursor) => call("GET", `/syncs/${syncId}/runs/${runId}/errors?limit=200${after(cursor)}`);

/**
 * A page of a run's operations (the run debugger), filtered.
 * @param {string} syncId
 * @param {string} runId
 * @param {OperationFilter} filter
 * @param {string | null} cursor
 * @returns {Promise<Page<RunOperation>>}
 */
export const listRunOperations = (syncId, runId, filter, cursor) => {
  const query = new URLSearchParams({ limit: "50" });
  for (const [name, value] of Object.entries(filter)) if (value) query.set(name, value);
  if (cursor) query.set("cursor", cursor);
  return call("GET", `/syncs/${syncId}/runs/${runId}/operations?${query}`);
};

/**
 * One primary key's history across the retained runs, 10 runs a page.
 * @param {string} syncId
 * @param {string} key
 * @param {string | null} cursor
 * @returns {Promise<Page<RecordEvent>>}
 */
export const getRecordHistory = (syncId, key, cursor) =>
  call("GET", `/syncs/${syncId}/records/${encodeURIComponent(key)}?limit=10${after(cursor)}`);

// ---------------------------------------------------------------------------------------------
// Models and destinations

/** @param {string} id @returns {Promise<Model>} */
export const getModel = (id) => call("GET", `/models/${id}`);

/** @param {string} id @returns {Promise<Destination>} */
export const getDestination = (id) => call("GET", `/destinations/${id}`);

/** Every model of the workspace (up to 1000). @returns {Promise<Model[]>} */
export const listModels = () => listAll((cursor) => call("GET", `/models?limit=200${after(cursor)}`));

/** Every destination of the workspace (up to 1000). @returns {Promise<Destination[]>} */
export const listDestinations = () => listAll((cursor) => call("GET", `/destinations?limit=200${after(cursor)}`));

// ---------------------------------------------------------------------------------------------
// Sources, models and destinations: the catalogue the console creates and edits

/** The API's OpenAPI document, fetched once: the source and destination forms are drawn from it. */
let openApiDocument = /** @type {Promise<unknown> | null} */ (null);

/** @returns {Promise<unknown>} */
export const getOpenApi = () => {
  openApiDocument ??= request("GET", "/api/v1/openapi.json").catch((err) => {
    openApiDocument = null;
    throw err;
  });
  return openApiDocument;
};

/** Every source of the workspace (up to 1000). @returns {Promise<Source[]>} */
export const listSources = () => listAll((cursor) => call("GET", `/sources?limit=200${after(cursor)}`));

/** @param {string} id @returns {Promise<Source>} */
export const getSource = (id) => call("GET", `/sources/${id}`);

/** @param {Record<string, unknown>} body a CreateSource of the OpenAPI document @returns {Promise<Source>} */
export const createSource = (body) => call("POST", "/sources", body);

/** Changes only what `body` names; credentials left out are kept. @param {string} id @param {Record<string, unknown>} body @returns {Promise<Source>} */
export const updateSource = (id, body) => call("PUT", `/sources/${id}`, body);

/** Whether the warehouse accepts a connection (a refusal is a result, not an error). @param {string} id @returns {Promise<SourceTest>} */
export const testSource = (id) => call("POST", `/sources/${id}/test`);

/** @param {ModelBody} body @returns {Promise<Model>} */
export const createModel = (body) => call("POST", "/models", body);

/** @param {string} id @param {Partial<ModelBody>} body @returns {Promise<Model>} */
export const updateModel = (id, body) => call("PUT", `/models/${id}`, body);

/**
 * The first rows of a query not saved yet, run read-only on the source.
 * @param {{ source_id: string, sql: string, limit: number }} body
 * @returns {Promise<Preview>}
 */
export const previewQuery = (body) => call("POST", "/models/preview", body);

/**
 * A saved model's first rows, mapped through `field_mappings` as a sync would send them.
 * @param {string} id @param {{ limit: number, field_mappings: FieldMapping[] }} body
 * @returns {Promise<Preview>}
 */
export const previewMapping = (id, body) => call("POST", `/models/${id}/preview`, body);

/** @param {Record<string, unknown>} body a CreateDestination of the OpenAPI document @returns {Promise<Destination>} */
export const createDestination = (body) => call("POST", "/destinations", body);

/** `config` and `credentials`, when given, replace the stored ones. @param {string} id @param {Record<string, unknown>} body @returns {Promise<Destination>} */
export const updateDestination = (id, body) => call("PUT", `/destinations/${id}`, body);

/** Whether the destination accepts the credentials (a refusal is a result). @param {string} id @returns {Promise<ConnectionTest>} */
export const testDestination = (id) => call("POST", `/destinations/${id}/test`);

/**
 * The fields the destination describes (Salesforce describe, HubSpot properties, a table's columns, an engagement tool's attributes).
 * @param {string} id
 * @returns {Promise<DestinationField[]>}
 */
export const listDestinationFields = async (id) => {
  /** @type {{ data: DestinationField[] }} */
  const answer = await call("GET", `/destinations/${id}/fields`);
  return answer.data;
};

// Alert channels

/** Every alert channel of the workspace (up to 1000). @returns {Promise<AlertChannel[]>} */
export const listAlertChannels = () => listAll((cursor) => call("GET", `/alert-channels?limit=200${after(cursor)}`));

/** @param {AlertChannelBody} body @returns {Promise<AlertChannel>} */
export const createAlertChannel = (body) => call("POST", "/alert-channels", body);

/** @param {string} id @param {Partial<AlertChannelBody>} body @returns {Promise<AlertChannel>} */
export const updateAlertChannel = (id, body) => call("PUT", `/alert-channels/${id}`, body);

/** @param {string} id @returns {Promise<null>} */
export const deleteAlertChannel = (id) => call("DELETE", `/alert-channels/${id}`);

/** Sends a `test` alert now. @param {string} id @returns {Promise<{ ok: boolean, error?: string }>} */
export const testAlertChannel = (id) => call("POST", `/alert-channels/${id}/test`);
