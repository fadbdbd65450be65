import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv } from "./env";

/** Every error code the API answers with. */
export const ERROR_CODES = [
  "bad_request",
  "validation_failed",
  "unauthorized",
  "forbidden",
  "not_found",
  "conflict",
  "idempotency_conflict",
  "payload_too_large",
  "unsupported_media_type",
  "source_error",
  "destination_error",
  "internal_error",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Exhaustive: adding a code without a status fails the type check. */
const codeToStatus: Record<ErrorCode, ContentfulStatusCode> = {
  bad_request: 400,
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  idempotency_conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  source_error: 422,
  destination_error: 422,
  internal_error: 500,
};

export interface ErrorDetail {
  /** Dotted path of the offending field, e.g. "field_mappings.0.source". */
  path: string;
  message: string;
}

/** An error a client caused or may act on; becomes `{"error":{code,message,details?,request_id}}`. */
export class ApiError extends HTTPException {
  readonly code: ErrorCode;
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(codeToStatus[code], { message });
    this.code = code;
    this.details = details;
  }
}

export function notFound(kind: string, id: string): ApiError {
  return new ApiError("not_found", `${kind} ${id} not found`);
}

/** A 400 naming each bad field. */
export function validationError(details: ErrorDetail[]): ApiError {
  const first = details[0];
  const message = first
    ? `${first.path || "body"}: ${first.message}${details.length > 1 ? ` (and ${details.length - 1} more)` : ""}`
    : "invalid request";
  return new ApiError("validation_failed", message, details);
}

export function errorBody(c: Context<AppEnv>, code: ErrorCode, message: string, details?: unknown) {
  return {
    error: {
      code,
      message,
      ...(details === undefined ? {} : { details }),
      request_id: c.get("requestId") ?? "unknown",
    },
  };
}

/** app.onError: known errors keep their status; anything else is logged and answers 500 without internals. */
export function handleError(err: Error, c: Context<AppEnv>): Response {
  if (err instanceof ApiError) {
    return c.json(errorBody(c, err.code, err.message, err.details), err.status);
  }
  if (err instanceof HTTPException) {
    // Hono's own (e.g. body limit, malformed JSON in c.req.json()).
    const status = err.status;
    const code: ErrorCode = status === 413 ? "payload_too_large" : status === 401 ? "unauthorized" : "bad_request";
    return c.json(errorBody(c, code, err.message || "bad request"), status as ContentfulStatusCode);
  }
  console.error(JSON.stringify({ level: "error", msg: "unhandled", request_id: c.get("requestId"), error: String(err), stack: err.stack }));
  return c.json(errorBody(c, "internal_error", "internal error; quote the request_id when reporting it"), 500);
}
