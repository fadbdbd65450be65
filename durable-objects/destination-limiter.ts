import { DurableObject } from "cloudflare:workers";

/** Requests per second and requests in flight allowed against one destination account. */
export interface RateLimit {
  requestsPerSecond: number;
  concurrency: number;
}

export type Permit = { granted: true; leaseId: string } | { granted: false; waitMs: number };

/** A lease not released within this time (a crashed consumer) frees its slot anyway. */
const LEASE_MS = 120_000;

/**
 * One per destination: a token bucket (requests per second, bursting up to one second's worth) plus
 * a cap on requests in flight, shared by every sync and queue consumer that writes to it.
 * State lives in memory: losing it on eviction only forgets a second of history.
 */
export class DestinationLimiter extends DurableObject<Env> {
  private tokens = 0;
  private refilledAt = 0;
  private readonly leases = new Map<string, number>();

  /** Takes one request slot, or says how long to wait for one. */
  async acquire(limit: RateLimit): Promise<Permit> {
    const now = Date.now();
    const burst = Math.max(1, limit.requestsPerSecond);
    if (this.refilledAt === 0) this.tokens = burst;
    else this.tokens = Math.min(burst, this.tokens + ((now - this.refilledAt) / 1000) * limit.requestsPerSecond);
    this.refilledAt = now;
    for (const [id, expires] of this.leases) if (expires <= now) this.leases.delete(id);

    if (this.leases.size >= limit.concurrency) {
      return { granted: false, waitMs: 50 };
    }
    if (this.tokens < 1) {
      return { granted: false, waitMs: Math.ceil(((1 - this.tokens) / limit.requestsPerSecond) * 1000) };
    }
    this.tokens -= 1;
    const leaseId = crypto.randomUUID();
    this.leases.set(leaseId, now + LEASE_MS);
    return { granted: true, leaseId };
  }

  /** Frees a request slot taken by {@link acquire}. */
  async release(leaseId: string): Promise<void> {
    this.leases.delete(leaseId);
  }
}
