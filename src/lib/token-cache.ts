/**
 * Short-lived access tokens (OAuth grants: a service account's JWT grant, client credentials),
 * kept per isolate until shortly before they expire, so a run's many API calls share one grant.
 * Concurrent callers for the same key wait on the same request instead of each asking.
 */

/** A token as a grant returned it. */
export interface GrantedToken {
  token: string;
  /** Seconds the token is valid for, from when it was granted (OAuth's `expires_in`). */
  expiresInSeconds: number;
}

// Renew this long before expiry (or at half the lifetime of a shorter-lived token).
const RENEW_BEFORE_MS = 5 * 60_000;

/** Tokens by key (whatever identifies the credentials and the grant). */
export class TokenCache {
  private readonly tokens = new Map<string, { token: string; renewAt: number }>();
  private readonly pending = new Map<string, Promise<string>>();

  /** The cached token of `key`, or a new one from `grant` (cached when it succeeds). */
  async get(key: string, grant: () => Promise<GrantedToken>): Promise<string> {
    const cached = this.tokens.get(key);
    if (cached && Date.now() < cached.renewAt) return cached.token;
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight;
    const started = Date.now();
    const request = grant()
      .then(({ token, expiresInSeconds }) => {
        const lifetimeMs = Math.max(0, expiresInSeconds * 1000);
        this.tokens.set(key, { token, renewAt: started + Math.max(lifetimeMs / 2, lifetimeMs - RENEW_BEFORE_MS) });
        return token;
      })
      .finally(() => this.pending.delete(key));
    this.pending.set(key, request);
    return request;
  }

  /** Forgets the token of `key` (the API refused it), so the next {@link TokenCache.get} asks again. */
  drop(key: string, token: string): void {
    if (this.tokens.get(key)?.token === token) this.tokens.delete(key);
  }
}
