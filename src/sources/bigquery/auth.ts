import { importPKCS8, SignJWT } from "jose";
import { retryAfterSeconds } from "../../lib/http";
import { type GrantedToken, TokenCache } from "../../lib/token-cache";
import { WarehouseError } from "../errors";
import type { ServiceAccountKey } from "./key-file";

/**
 * The service account's access token: the JWT bearer grant of "Using OAuth 2.0 for Server to
 * Server Applications" (https://developers.google.com/identity/protocols/oauth2/service-account):
 * an RS256 JWT signed with the key file's private key (`iss` the account's email, `aud` the key
 * file's `token_uri`, `scope`, `iat`, `exp` at most an hour later, header `kid` the key's id) is
 * POSTed to `token_uri` as `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=…`
 * and answered with `{access_token, expires_in, token_type: "Bearer"}`.
 *
 * The scope is `…/auth/bigquery`: the dry run is `jobs.insert`, whose discovery document lists
 * only the `bigquery` and `cloud-platform` scopes (no read-only scope can create a job). What the
 * account may read or write is the IAM roles' business (README: Data Viewer + Job User).
 */

const BIGQUERY_SCOPE = "https://www.googleapis.com/auth/bigquery";
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ASSERTION_SECONDS = 3600;
const MAX_ATTEMPTS = 3;

const tokens = new TokenCache();

/** The cache key of a key file's tokens (the private key is part of it: a new key is a new grant). */
function cacheKey(key: ServiceAccountKey): string {
  return `${key.token_uri}\n${key.client_email}\n${key.private_key_id}\n${key.private_key}`;
}

/** A Bearer token for the account: cached until shortly before it expires. Throws {@link WarehouseError}. */
export function accessToken(key: ServiceAccountKey, timeoutMs: number): Promise<string> {
  return tokens.get(cacheKey(key), () => grant(key, timeoutMs));
}

/** Forgets a token the API refused (401), so the next call asks for a new one. */
export function dropAccessToken(key: ServiceAccountKey, token: string): void {
  tokens.drop(cacheKey(key), token);
}

async function signedAssertion(key: ServiceAccountKey): Promise<string> {
  let privateKey: CryptoKey;
  try {
    privateKey = await importPKCS8(key.private_key, "RS256");
  } catch (err) {
    throw new WarehouseError("auth_failed", "the service account's private_key cannot be read as an RSA key", { cause: err });
  }
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope: BIGQUERY_SCOPE })
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: key.private_key_id })
    .setIssuer(key.client_email)
    .setAudience(key.token_uri)
    .setIssuedAt(now)
    .setExpirationTime(now + ASSERTION_SECONDS)
    .sign(privateKey);
}

async function grant(key: ServiceAccountKey, timeoutMs: number): Promise<GrantedToken> {
  const host = new URL(key.token_uri).host;
  for (let attempt = 1; ; attempt++) {
    const body = new URLSearchParams({ grant_type: JWT_BEARER, assertion: await signedAssertion(key) });
    let response: Response;
    try {
      response = await fetch(key.token_uri, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: body.toString(),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: "manual",
      });
    } catch (err) {
      throw new WarehouseError("unreachable", `could not reach the token endpoint ${host}: ${String(err)}`, { cause: err });
    }
    const text = await response.text().catch(() => "");
    let json: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === "object" && parsed !== null) json = parsed as Record<string, unknown>;
    } catch {
      // Not JSON: described by the status below.
    }
    if (response.ok && typeof json.access_token === "string") {
      return { token: json.access_token, expiresInSeconds: Number(json.expires_in) || 3600 };
    }
    const transient = response.status === 429 || response.status >= 500;
    if (transient && attempt < MAX_ATTEMPTS) {
      const waitSeconds = Math.min(10, retryAfterSeconds(response.headers) ?? 2 ** (attempt - 1));
      await new Promise((resolve) => setTimeout(resolve, waitSeconds * 1000));
      continue;
    }
    const reason = [json.error, json.error_description].filter((s) => typeof s === "string").join(": ") || `HTTP ${response.status}`;
    if (transient) throw new WarehouseError("unreachable", `the token endpoint ${host} answered HTTP ${response.status}: ${reason}`);
    // invalid_grant (bad signature, unknown key, clock skew), invalid_client (account deleted or disabled), …
    throw new WarehouseError("auth_failed", `the service account's token grant was refused: ${reason}`);
  }
}
