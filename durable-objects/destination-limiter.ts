import { DurableObject } from "cloudflare:workers";
import { type AdaptiveRate, initialRate, observe, observedRate, spacingMs } from "../src/delivery/adaptive-rate";
import type { RateLimit } from "../src/destinations/destination";
import type { RateSignal } from "../src/lib/http";

/**
 * A slot, possibly a little ahead: send after `delayMs` (the slot is reserved, so senders do not
 * poll and race for it); or how long to wait before asking again.
 */
export type Permit = { granted: true; leaseId: string; delayMs: number } | { granted: false; waitMs: number };

/** What a sender reports when it gives its slot back: what the destination's answers said. */
export interface ReleaseReport {
  /** The rate-limit signal of each response the send received, in order. */
  signals: RateSignal[];
  /** The destination's configured (or default) rate limit, the ceiling of the learned rate. */
  limit: RateLimit;
  /** Hold every request to the destination for this long (its account quota is spent). */
  pauseSeconds?: number;
}

/**
 * How far ahead a slot may be reserved: enough that senders queue for the next slots instead of
 * polling for them, little enough that a 429's pause soon holds everyone.
 */
const RESERVE_AHEAD_MS = 250;
/** A lease not released within this time (a crashed consumer) frees its slot anyway. */
const LEASE_MS = 120_000;
/** Storage key of the learned rate (what survives eviction). */
const LEARNED_KEY = "learned";

interface StoredRate {
  learned: number | null;
  limitEstimate: number | null;
  advertised: number | null;
  windowMs: number;
  pausedUntil: number;
  updatedAt: number;
  jitterMs?: number;
  jitterAt?: number;
}

/**
 * One per destination: spaces requests at least 1/rate apart (so no window of one second ever
 * holds more than the rate, which is how vendors count) and caps the requests in flight, for every
 * sync and queue consumer that writes to it. The rate is the configured one (or the connector's
 * default) until the destination's answers teach a lower one (src/delivery/adaptive-rate.ts:
 * 429s cut it, or widen the spacing when they are trip-time jitter; accepted requests raise it
 * slowly; Retry-After pauses every sender). The learned
 * rate is kept in storage; spacing and leases live in memory (losing them allows at most one
 * request early).
 */
export class DestinationLimiter extends DurableObject<Env> {
  /** Earliest time (epoch ms) of the next grant. */
  private nextAt = 0;
  /** Lease id → [grant time, expiry] (epoch ms). */
  private readonly leases = new Map<string, [number, number]>();
  private rate: AdaptiveRate = initialRate();
  private savedAt = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const stored = ctx.storage.kv.get<StoredRate>(LEARNED_KEY);
    if (stored) {
      this.rate = { ...initialRate(), ...stored, accepted: [] };
    }
  }

  /** Takes one request slot, or says how long to wait for one. */
  async acquire(limit: RateLimit): Promise<Permit> {
    const now = Date.now();
    for (const [id, [, expires]] of this.leases) if (expires <= now) this.leases.delete(id);

    if (now < this.rate.pausedUntil) return { granted: false, waitMs: Math.ceil(this.rate.pausedUntil - now) };
    if (this.leases.size >= limit.concurrency) {
      return { granted: false, waitMs: 50 };
    }
    if (this.nextAt - now > RESERVE_AHEAD_MS) {
      return { granted: false, waitMs: Math.ceil(this.nextAt - now - RESERVE_AHEAD_MS) };
    }
    // A token bucket holding a second's worth would allow twice the rate within one second: space instead.
    const startAt = Math.max(now, this.nextAt);
    this.nextAt = startAt + spacingMs(this.rate, limit.requestsPerSecond, startAt);
    const leaseId = crypto.randomUUID();
    this.leases.set(leaseId, [startAt, startAt + LEASE_MS]);
    return { granted: true, leaseId, delayMs: Math.ceil(startAt - now) };
  }

  /**
   * At the time of a slot reserved ahead: still granted (send now), or voided by a pause that began
   * since it was reserved (its lease freed; wait as told).
   */
  async confirm(leaseId: string): Promise<Permit> {
    const now = Date.now();
    if (this.leases.has(leaseId) && now >= this.rate.pausedUntil) return { granted: true, leaseId, delayMs: 0 };
    this.leases.delete(leaseId);
    return { granted: false, waitMs: Math.max(1, Math.ceil(this.rate.pausedUntil - now)) };
  }

  /** Frees a request slot taken by {@link acquire}, learning from what the destination answered. */
  async release(leaseId: string, report?: ReleaseReport): Promise<void> {
    const lease = this.leases.get(leaseId);
    this.leases.delete(leaseId);
    if (!report) return;
    const now = Date.now();
    const grantedAt = lease?.[0] ?? now;
    const before = this.rate;
    for (const signal of report.signals) {
      this.rate = observe(this.rate, signal, { grantedAt, now, configured: report.limit.requestsPerSecond });
    }
    if (report.pauseSeconds !== undefined && report.pauseSeconds > 0) {
      this.rate = { ...this.rate, pausedUntil: Math.max(this.rate.pausedUntil, now + report.pauseSeconds * 1000) };
    }
    const changed =
      before.decreasedAt !== this.rate.decreasedAt ||
      before.jitterAt !== this.rate.jitterAt ||
      before.advertised !== this.rate.advertised ||
      before.pausedUntil !== this.rate.pausedUntil;
    // Increases are small and frequent: save them at most once a second, decreases and pauses at once.
    if (changed || now - this.savedAt >= 1000) this.save(now);
    // A cut rate applies to the next grant at once, not after the spacing of the old rate.
    if (before.decreasedAt !== this.rate.decreasedAt) {
      this.nextAt = Math.max(this.nextAt, now + spacingMs(this.rate, report.limit.requestsPerSecond, now));
    }
  }

  /** The rate learned from the destination's answers (at most `configured`), or null while nothing was learned. */
  async observed(configured: number): Promise<{ requests_per_second: number; updated_at: string } | null> {
    return observedRate(this.rate, configured);
  }

  private save(now: number): void {
    this.savedAt = now;
    const { learned, limitEstimate, advertised, windowMs, pausedUntil, updatedAt, jitterMs, jitterAt } = this.rate;
    const stored: StoredRate = { learned, limitEstimate, advertised, windowMs, pausedUntil, updatedAt, jitterMs, jitterAt };
    this.ctx.storage.kv.put(LEARNED_KEY, stored);
  }
}
