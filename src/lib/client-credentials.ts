import { isRecord, parseJson, retryAfterSeconds, truncate } from "./http";

/**
 * OAuth 2.0 client-credentials access tokens (RFC 6749 §4.4), cached per token endpoint and client
 * until shortly before they expire, so a run asks once per hour, not once per request. Callers
 * that need a token at the same time share one request. Generic: any vendor whose machine
 * identities are a client id and secret (Databricks service principals today).
 */

/** Where and as whom to ask for a token. */
export interface ClientCredentials {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  /** Space-separated scopes, e.g. Databricks' `all-apis`. */
  scope?: string;
  timeoutMs: number;
}

/** The token endpoint refused or failed: `status` 0 when no answer came. */
export class TokenRequestError extends Error {
  override readonly name = "TokenRequestError";
  constructor(
    message: string,
    readonly status: number,
    /** Seconds the endpoint asked to wait (429/503 with Retry-After). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

// A token is used until this long before its expiry: a request that starts with it must not outlive it.
const EXPIRY_MARGIN_MS = 120_000;
const cache = new Map<string, Promise<{ token: string; expiresAt: number }>>();

/** An access token for `creds`, from the cache when it is still good. Throws {@link TokenRequestError}. */
export async function clientCredentialsToken(creds: ClientCredentials, now: () => number = Date.now): Promise<string> {
  const key = `${creds.tokenUrl}\n${creds.clientId}\n${creds.clientSecret}\n${creds.scope ?? ""}`;
  const cached = cache.get(key);
  if (cached) {
    const entry = await cached.catch(() => undefined);
    if (entry && entry.expiresAt - EXPIRY_MARGIN_MS > now()) return entry.token;
    if (cache.get(key) === cached) cache.delete(key);
  }
  const pending = requestToken(creds, now);
  cache.set(key, pending);
  try {
    return (await pending).token;
  } catch (err) {
    if (cache.get(key) === pending) cache.delete(key);
    throw err;
  }
}

/** Forgets the cached token of `creds` (after the API refused it, e.g. revoked before its expiry). */
export function forgetClientCredentialsToken(creds: ClientCredentials): void {
  cache.delete(`${creds.tokenUrl}\n${creds.clientId}\n${creds.clientSecret}\n${creds.scope ?? ""}`);
}

async function requestToken(creds: ClientCredentials, now: () => number): Promise<{ token: string; expiresAt: number }> {
  const form = new URLSearchParams({ grant_type: "client_credentials" });
  if (creds.scope) form.set("scope", creds.scope);
  let res: Response;
  try {
    res = await fetch(creds.tokenUrl, {
      method: "POST",
      headers: {
        // RFC 6749 §2.3.1: the client id and secret, form-encoded, as HTTP Basic credentials.
        authorization: `Basic ${btoa(`${encodeURIComponent(creds.clientId)}:${encodeURIComponent(creds.clientSecret)}`)}`,
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
      },
      body: form.toString(),
      redirect: "manual",
      signal: AbortSignal.timeout(creds.timeoutMs),
    });
  } catch (err) {
    throw new TokenRequestError(`could not reach the token endpoint: ${String(err)}`, 0);
  }
  const text = await res.text().catch(() => "");
  const body = parseJson(text);
  if (res.status !== 200 || !isRecord(body) || typeof body.access_token !== "string") {
    const detail = isRecord(body)
      ? [body.error, body.error_description].filter((v) => typeof v === "string").join(": ")
      : truncate(text, 200);
    throw new TokenRequestError(
      `the token endpoint answered HTTP ${res.status}${detail ? `: ${detail}` : ""}`,
      res.status,
      retryAfterSeconds(res.headers),
    );
  }
  const expiresIn = typeof body.expires_in === "number" ? body.expires_in : Number(body.expires_in) || 3600;
  return { token: body.access_token, expiresAt: now() + expiresIn * 1000 };
}
