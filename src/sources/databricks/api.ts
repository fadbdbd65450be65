import { clientCredentialsToken, forgetClientCredentialsToken, TokenRequestError } from "../../lib/client-credentials";
import { isRecord, parseJson, truncate } from "../../lib/http";
import { WarehouseError } from "../errors";
import type { WarehouseOptions } from "../source";
import { sleep, warehouseFetch } from "../statement-http";

/**
 * Calls to a Databricks workspace's REST API (https://docs.databricks.com/api/workspace): the
 * bearer token (a personal access token, or an OAuth M2M token from `<host>/oidc/v1/token`,
 * https://docs.databricks.com/aws/en/dev-tools/auth/oauth-m2m), retries of 429, 503 and 504 after
 * their Retry-After, and Databricks' error JSON (`{"error_code","message"}`) as {@link WarehouseError}s.
 */

/** Where and as whom a Databricks source connects (its config and credentials together). */
export type DatabricksSettings = {
  host: string;
  warehouse_id: string;
  catalog?: string | undefined;
  schema?: string | undefined;
  token?: string | undefined;
  client_id?: string | undefined;
  client_secret?: string | undefined;
};

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const MAX_ATTEMPTS = 4;
const MAX_RETRY_AFTER_MS = 10_000;
// One call, wait_timeout included (at most 10 s, see ./statement.ts); the statement's own deadline is `call.signal`.
const CALL_TIMEOUT_MS = 60_000;

/** The workspace URL without a trailing slash (a path prefix stays, for proxies). */
function baseUrl(settings: DatabricksSettings): string {
  return settings.host.replace(/\/+$/, "");
}

/** The OAuth M2M credentials of a service principal, or undefined for a personal access token. */
function oauthCredentials(settings: DatabricksSettings, opts: WarehouseOptions) {
  if (settings.token || !settings.client_id || !settings.client_secret) return undefined;
  return {
    tokenUrl: `${baseUrl(settings)}/oidc/v1/token`,
    clientId: settings.client_id,
    clientSecret: settings.client_secret,
    scope: "all-apis",
    timeoutMs: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
  };
}

/** The bearer token: the personal access token, or a cached OAuth token. Throws {@link WarehouseError}. */
async function bearerToken(settings: DatabricksSettings, opts: WarehouseOptions): Promise<string> {
  const oauth = oauthCredentials(settings, opts);
  if (!oauth) {
    if (!settings.token)
      throw new WarehouseError("auth_failed", "the Databricks source has neither a token nor client_id and client_secret");
    return settings.token;
  }
  for (let attempt = 1; ; attempt++) {
    try {
      return await clientCredentialsToken(oauth);
    } catch (err) {
      if (!(err instanceof TokenRequestError)) throw err;
      const transient = err.status === 0 || err.status === 429 || err.status >= 500;
      if (transient && attempt < MAX_ATTEMPTS) {
        await sleep(waitMs(err.retryAfterSeconds));
        continue;
      }
      if (err.status === 0) throw new WarehouseError("unreachable", `Databricks OAuth: ${err.message}`, { cause: err });
      if (transient) throw new WarehouseError("unreachable", `Databricks OAuth: ${err.message}`);
      throw new WarehouseError("auth_failed", `Databricks OAuth (client credentials of ${settings.client_id}): ${err.message}`);
    }
  }
}

/** One JSON call to the workspace API. */
export interface ApiCall {
  method: "GET" | "POST";
  /** An absolute path (`/api/2.0/sql/statements`), joined with the host. */
  path: string;
  body?: unknown;
  /** Aborts the call (the statement's deadline). */
  signal?: AbortSignal;
}

/**
 * Sends one call and returns its JSON body (through ../statement-http.ts: no redirects, 429, 503
 * and 504 retried after their Retry-After, at most 4 attempts); 401/403 are `auth_failed` (an OAuth token is asked again once, in case it was
 * revoked). Throws {@link WarehouseError}.
 */
export async function databricksApi(settings: DatabricksSettings, opts: WarehouseOptions, call: ApiCall): Promise<Record<string, unknown>> {
  const url = `${baseUrl(settings)}${call.path}`;
  for (let refreshed = false; ; refreshed = true) {
    const token = await bearerToken(settings, opts);
    const answer = await warehouseFetch(
      url,
      {
        method: call.method,
        headers: { authorization: `Bearer ${token}`, accept: "application/json", "content-type": "application/json" },
        body: call.body === undefined ? undefined : JSON.stringify(call.body),
      },
      { vendor: "Databricks", timeoutMs: CALL_TIMEOUT_MS, attempts: MAX_ATTEMPTS, maxWaitMs: MAX_RETRY_AFTER_MS, signal: call.signal },
    );
    const text = new TextDecoder().decode(answer.body);
    if (answer.status === 200) {
      const body = parseJson(text);
      if (isRecord(body)) return body;
      throw new WarehouseError("unreachable", `not a Databricks answer (HTTP 200): ${truncate(text, 200)}`, { retryable: false });
    }
    const oauth = oauthCredentials(settings, opts);
    if (answer.status === 401 && oauth && !refreshed) {
      forgetClientCredentialsToken(oauth);
      continue;
    }
    throw apiError(answer.status, text);
  }
}

/** Databricks' error answer (`{"error_code","message"}`) as a {@link WarehouseError}. */
function apiError(status: number, text: string): WarehouseError {
  const body = parseJson(text);
  const code = isRecord(body) && typeof body.error_code === "string" ? body.error_code : undefined;
  const message = isRecord(body) && typeof body.message === "string" ? body.message : truncate(text, 300);
  const what = `Databricks${code ? ` ${code}` : ""} (HTTP ${status}): ${message || "no message"}`;
  if (status === 401 || status === 403) return new WarehouseError("auth_failed", what);
  if (status === 404 && code === "RESOURCE_DOES_NOT_EXIST") return new WarehouseError("database_not_found", what);
  if (status === 429 || status >= 500) return new WarehouseError("unreachable", what);
  if (!code)
    return new WarehouseError("unreachable", `not a Databricks answer (HTTP ${status}): ${truncate(text, 200)}`, { retryable: false });
  return new WarehouseError("query_failed", what);
}

function waitMs(seconds: number | undefined): number {
  return seconds === undefined ? 1000 : Math.min(MAX_RETRY_AFTER_MS, seconds * 1000);
}
