import { DurableObject } from "cloudflare:workers";
import type { RateLimit } from "../src/destinations/destination";

export type Permit = { granted: true; leaseId: string } | { granted: false; waitMs: number };

/** A lease not released within this time (a crashed consumer) frees its slot anyway. */
const LEASE_MS = 120_000;
/**
 * Requests do not reach the destination exactly as spaced here: N of them span one second plus this
 * much, so trip-time jitter does not push N + 1 into a vendor's one-second window (2% at most).
 */
const JITTER_ALLOWANCE_MS = 20;

/**
 * One per destination: spaces requests at least 1/rps apart (so no window of one second ever
 * holds more than the configured requests per second, which is how vendors count) and caps the
 * requests in flight, for every sync and queue consumer that writes to it.
 * State lives in memory: losing it on eviction allows at most one request early.
 */
export class DestinationLimiter extends DurableObject<Env> {
  /** Earliest time (epoch ms) of the next grant. */
  private nextAt = 0;
  private readonly leases = new Map<string, number>();

  /** Takes one request slot, or says how long to wait for one. */
  async acquire(limit: RateLimit): Promise<Permit> {
    const now = Date.now();
    for (const [id, expires] of this.leases) if (expires <= now) this.leases.delete(id);

    if (this.leases.size >= limit.concurrency) {
      return { granted: false, waitMs: 50 };
    }
    if (now < this.nextAt) {
      return { granted: false, waitMs: Math.ceil(this.nextAt - now) };
    }
    // A token bucket holding a second's worth would allow twice the rate within one second: space instead.
    this.nextAt = now + (1000 + JITTER_ALLOWANCE_MS) / limit.requestsPerSecond;
    const leaseId = crypto.randomUUID();
    this.leases.set(leaseId, now + LEASE_MS);
    return { granted: true, leaseId };
  }

  /** Frees a request slot taken by {@link acquire}. */
  async release(leaseId: string): Promise<void> {
    this.leases.delete(leaseId);
  }
}
