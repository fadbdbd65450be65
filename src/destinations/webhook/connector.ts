import { hmacSha256Hex } from "../../lib/crypto";
import { classifyStatus, httpRequest, isRecord, parseJson, truncate } from "../../lib/http";
import type { Batch, Connector, ConnectorContext, RowResult, SendOutcome } from "../destination";
import type { WebhookConfig, WebhookCredentials } from "./schema";

/** Header carrying the batch id, stable across redeliveries, so the receiver can drop duplicates. */
const IDEMPOTENCY_HEADER = "Idempotency-Key";
/** Header carrying `sha256=<hex HMAC-SHA256 of the exact body>` when a signing secret is set. */
const SIGNATURE_HEADER = "X-Signature";

const DEFAULT_BATCH_SIZE = 100;
const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Webhook destination: each batch is one `POST` of
 * `{"sync_id","run_id","batch_id","operations":[{"op","key","fields"}]}` to `config.url`.
 *
 * - Headers: `config.headers`, then `credentials.headers`, then `Content-Type`,
 *   `Idempotency-Key: <batch_id>` and, with `credentials.signing_secret`, `X-Signature`.
 * - 2xx: every row ok, except rows a `{"results":[{"key","ok":false,"error"}]}` body marks failed.
 * - 401/403 `auth_failed`; 408, 429, 5xx, network errors and timeouts `retry` (with Retry-After);
 *   other 4xx and any 3xx (redirects are never followed) `rejected`.
 */
export const webhookConnector: Connector<WebhookConfig, WebhookCredentials> = {
  maxBatchSize: (config) => config.batch_size ?? DEFAULT_BATCH_SIZE,
  // Receivers are often small services: stay gentle unless the destination sets its own limit.
  defaultRateLimit: { requestsPerSecond: 10, concurrency: 4 },

  /** POSTs an empty batch with a fresh batch id (a receiver deduplicating by Idempotency-Key must not replay an old answer); any 2xx passes. */
  async test(ctx) {
    const outcome = await post(ctx, {
      sync_id: "connection_test",
      run_id: "connection_test",
      batch_id: `connection_test_${crypto.randomUUID()}`,
      operations: [],
    });
    return outcome.kind === "results" ? { ok: true } : { ok: false, error: outcome.error };
  },

  send: post,
};

async function post(ctx: ConnectorContext<WebhookConfig, WebhookCredentials>, batch: Batch): Promise<SendOutcome> {
  const { config, credentials } = ctx;
  const body = JSON.stringify({
    sync_id: batch.sync_id,
    run_id: batch.run_id,
    batch_id: batch.batch_id,
    // In update mode the receiver must not create: a missing record is answered `not_found: true`.
    ...(batch.mode ? { mode: batch.mode } : {}),
    operations: batch.operations.map(({ op, key, fields }) => ({ op, key, fields })),
  });
  const headers: Record<string, string> = {
    ...config.headers,
    ...credentials.headers,
    "Content-Type": "application/json",
    [IDEMPOTENCY_HEADER]: batch.batch_id,
  };
  if (credentials.signing_secret) {
    headers[SIGNATURE_HEADER] = `sha256=${await hmacSha256Hex(credentials.signing_secret, body)}`;
  }
  const { response, outcome } = await httpRequest(ctx, {
    method: "POST",
    url: config.url,
    headers,
    body,
    timeoutMs: config.timeout_ms ?? DEFAULT_TIMEOUT_MS,
  });
  if (outcome) return outcome;
  if (response.status < 200 || response.status >= 300) return classifyStatus(response, truncate(response.text));
  return { kind: "results", results: rowResults(batch, parseJson(response.text)) };
}

/**
 * Every row ok unless the body's `results` marks it `ok: false` (with `not_found: true` when an
 * update found no record); unknown keys are ignored.
 */
function rowResults(batch: Batch, body: unknown): RowResult[] {
  const failed = new Map<string, RowResult>();
  const reported = isRecord(body) && Array.isArray(body.results) ? body.results : [];
  for (const item of reported) {
    if (!isRecord(item) || typeof item.key !== "string" || item.ok !== false) continue;
    const notFound = item.not_found === true;
    const fallback = notFound ? "no such record to update" : "the destination refused this row";
    const error = truncate(typeof item.error === "string" && item.error ? item.error : fallback, 1000);
    failed.set(item.key, { key: item.key, ok: false, error, ...(notFound ? { not_found: true as const } : {}) });
  }
  return batch.operations.map(({ key }): RowResult => failed.get(key) ?? { key, ok: true });
}
