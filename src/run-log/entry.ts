import type { OperationKind } from "../destinations/destination";

/**
 * One operation of a run as the run debugger keeps it: what was sent (or planned, in a dry run)
 * and how the destination answered. Stored as NDJSON, one R2 object per settled batch (store.ts).
 */
export interface OperationLogEntry {
  key: string;
  op: OperationKind;
  /** The mapped destination fields sent (empty for a delete). */
  fields: Record<string, unknown>;
  /** `planned`: a dry run's operation, never sent. */
  status: OperationStatus;
  /** The destination's message for a failed operation. */
  error: string | null;
  /** HTTP status of the destination's last response to this batch (null: none, e.g. a database destination). */
  destination_status: number | null;
  /** The start of that response's body. */
  response: string | null;
  /** Send attempts of the batch, this one included (0 for planned operations). */
  attempts: number;
  batch_id: string;
  /** When the batch settled (or was planned). */
  at: string;
}

export const OPERATION_STATUSES = ["succeeded", "failed", "planned"] as const;
type OperationStatus = (typeof OPERATION_STATUSES)[number];

/** The start of a response body kept per batch: enough to read the vendor's error, not a payload copy. */
const RESPONSE_CHARS = 500;

/** Filters of the operations endpoint. */
export interface OperationFilter {
  status?: OperationStatus;
  op?: OperationKind;
  key?: string;
}

export function matches(entry: OperationLogEntry, filter: OperationFilter): boolean {
  return (
    (filter.status === undefined || entry.status === filter.status) &&
    (filter.op === undefined || entry.op === filter.op) &&
    (filter.key === undefined || entry.key === filter.key)
  );
}

/** What every operation of one batch shares: stored once, as the object's first line. */
const BATCH_FIELDS = ["batch_id", "destination_status", "response", "attempts", "at"] as const;

/**
 * One log object: a first line with the batch's shared fields (the response is the same for all
 * its operations: kept once, not once per row), then one line per operation with its own fields.
 */
export function encodeEntries(entries: readonly OperationLogEntry[]): string {
  const first = entries[0];
  if (!first) return "";
  const header = Object.fromEntries(BATCH_FIELDS.map((f) => [f, first[f]]));
  const lines = entries.map((e) => {
    const own: Record<string, unknown> = { key: e.key, op: e.op, fields: e.fields, status: e.status, error: e.error };
    // An entry that differs from the header keeps its own value (never the case for one settled batch).
    for (const f of BATCH_FIELDS) if (e[f] !== first[f]) own[f] = e[f];
    return JSON.stringify(own);
  });
  return [JSON.stringify({ batch: header }), ...lines].join("\n");
}

/** Entries of one log object; a line that does not parse is skipped rather than failing the page. */
export function decodeEntries(text: string): OperationLogEntry[] {
  const out: OperationLogEntry[] = [];
  let header: Record<string, unknown> = {};
  for (const line of text.split("\n")) {
    if (!line) continue;
    try {
      const json = JSON.parse(line) as Record<string, unknown>;
      if (json.batch && typeof json.batch === "object") header = json.batch as Record<string, unknown>;
      else out.push({ ...header, ...json } as unknown as OperationLogEntry);
    } catch {
      // a torn object: its other lines still read
    }
  }
  return out;
}

/** Shortens a response body to {@link RESPONSE_CHARS}. */
function truncateResponse(text: string | null | undefined): string | null {
  if (text === null || text === undefined) return null;
  return text.length > RESPONSE_CHARS ? `${text.slice(0, RESPONSE_CHARS)}…` : text;
}

/**
 * The name of a batch's log object inside its run's partition folder, sortable in plan order:
 * batch ids are `<run>.<partition>.<first operation>` with `-<half>` per split, so the first
 * operation is zero-padded and the split suffix kept (`…-0-1` sorts before `…-1`).
 */
export function batchLogName(runId: string, batchId: string): { partition: number; name: string } | null {
  const match = /^\.(\d+)\.(\d+)((?:-\d+)*)$/.exec(batchId.startsWith(runId) ? batchId.slice(runId.length) : "");
  if (!match) return null;
  return { partition: Number(match[1]), name: `${match[2]?.padStart(10, "0")}${match[3] ?? ""}` };
}

/** A page position: the log object to start at and how many of its matching lines were already shown. */
export interface LogCursor {
  object: string;
  skip: number;
}

export function encodeCursor(cursor: LogCursor): string {
  return btoa(JSON.stringify([cursor.object, cursor.skip]))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replaceAll("=", "");
}

/** The cursor, or null when it is not one this API handed out. */
export function decodeCursor(text: string): LogCursor | null {
  try {
    const json: unknown = JSON.parse(atob(text.replaceAll("-", "+").replaceAll("_", "/")));
    if (!Array.isArray(json) || json.length !== 2) return null;
    const [object, skip] = json;
    if (typeof object !== "string" || !Number.isInteger(skip) || skip < 0) return null;
    return { object, skip };
  } catch {
    return null;
  }
}

/** How a batch's attempt ended, as the log records it on each of its operations. */
export interface BatchAnswer {
  batchId: string;
  attempts: number;
  /** The destination's last response, when there was one. */
  response?: { status: number; body: string };
  at: string;
}

/** The entries of a settled batch: each operation with its row's result (`results` by key). */
export function settledEntries(
  operations: readonly { op: OperationKind; key: string; fields: Record<string, unknown> }[],
  results: readonly ({ key: string; ok: true } | { key: string; ok: false; error: string })[],
  answer: BatchAnswer,
): OperationLogEntry[] {
  const byKey = new Map(results.map((r) => [r.key, r]));
  const response = truncateResponse(answer.response?.body);
  return operations.map((o) => {
    const result = byKey.get(o.key);
    return {
      key: o.key,
      op: o.op,
      fields: o.fields,
      // A row the destination did not answer for is not known to have landed.
      status: result?.ok ? "succeeded" : "failed",
      error: result === undefined ? "the destination reported no result for this row" : result.ok ? null : result.error,
      destination_status: answer.response?.status ?? null,
      response,
      attempts: answer.attempts,
      batch_id: answer.batchId,
      at: answer.at,
    };
  });
}

/** The entries of a dry run's planned batch. */
export function plannedEntries(
  operations: readonly { op: OperationKind; key: string; fields: Record<string, unknown> }[],
  batchId: string,
  at: string,
): OperationLogEntry[] {
  return operations.map((o) => ({
    key: o.key,
    op: o.op,
    fields: o.fields,
    status: "planned",
    error: null,
    destination_status: null,
    response: null,
    attempts: 0,
    batch_id: batchId,
    at,
  }));
}
