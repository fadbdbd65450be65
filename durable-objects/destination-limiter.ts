import { DurableObject } from "cloudflare:workers";
import { type AdaptiveRate, currentRate, initialRate, MAX_AHEAD_MS, observe, observedRate, spacingMs } from "../src/delivery/adaptive-rate";
import type { RateLimit } from "../src/destinations/destination";
import type { RateSignal } from "../src/lib/http";

/**
 * A slot, possibly a little ahead: send after `delayMs` (the slot is reserved, so senders do not
 * poll and race for it); or how long to wait before asking again.
 */
export type Permit =
  | { granted: true; leaseId: string; delayMs: number }
  | {
      granted: false;
      /** When to ask again. */
      waitMs: number;
      /** Set when refused only because the next free slot lies beyond `aheadMs`: how far away it is. */
      slotInMs?: number;
      /** Set when a slot reserved ahead was voided by a pause (a 429, a spent quota) begun since. */
      voided?: true;
    };

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
 * How far ahead a slot is reserved unless the sender says otherwise: enough that senders queue for
 * the next slots instead of polling for them. A pause voids every slot reserved before it began.
 */
const RESERVE_AHEAD_MS = 250;
/** Send times kept: the window rule of {@link DestinationLimiter.earliestSend} looks this far back at most. */
const SENT_KEPT = 1000;
/** A lease not released within this time (a crashed consumer) frees its slot anyway. */
const LEASE_MS = 120_000;
/** Storage key of the learned rate (what survives eviction). */
const LEARNED_KEY = "learned";

/**
 * A slot: the pauses begun before it was reserved, its time, when it expires, whether its request
 * is being sent (what the concurrency cap counts).
 */
interface Lease {
  pauses: number;
  at: number;
  expires: number;
  sending: boolean;
}

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
  /** Times the latest requests went out (at most {@link SENT_KEPT}), oldest first. */
  private readonly sent: number[] = [];
  /** Pauses begun so far: a slot reserved before the latest one is void. */
  private pauses = 0;
  private readonly leases = new Map<string, Lease>();
  private rate: AdaptiveRate = initialRate();
  private savedAt = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const stored = ctx.storage.kv.get<StoredRate>(LEARNED_KEY);
    if (stored) {
      this.rate = { ...initialRate(), ...stored, accepted: [] };
    }
  }

  /**
   * Takes one request slot, possibly up to `aheadMs` ahead (then {@link confirm} it at its time), or
   * says how long to wait for one. A sender that can wait longer reserves further ahead, so a
   * queue batch of many messages reserves its slots in one call each instead of polling.
   */
  async acquire(limit: RateLimit, aheadMs = RESERVE_AHEAD_MS): Promise<Permit> {
    return this.grant(limit, aheadMs, Date.now());
  }

  /**
   * {@link acquire} for `count` senders at once (a queue batch's messages): their permits in order,
   * every one after the first refusal refused alike, but for a slot beyond the horizon: each sender
   * after it is told the slot after the previous one's (at the current rate), so deferred senders
   * come back one slot apart instead of all at once. One call instead of one per message.
   */
  async acquireMany(limit: RateLimit, count: number, aheadMs = RESERVE_AHEAD_MS): Promise<Permit[]> {
    const now = Date.now();
    const spacing = spacingMs(this.rate, limit.requestsPerSecond, now);
    const permits: Permit[] = [];
    for (let i = 0; i < count; i++) {
      const last = permits.at(-1);
      if (!last || last.granted) permits.push(this.grant(limit, aheadMs, now));
      else if (last.slotInMs === undefined) permits.push(last);
      else permits.push({ granted: false, waitMs: Math.ceil(last.waitMs + spacing), slotInMs: Math.ceil(last.slotInMs + spacing) });
    }
    return permits;
  }

  private grant(limit: RateLimit, aheadMs: number, now: number): Permit {
    for (const [id, { expires }] of this.leases) if (expires <= now) this.leases.delete(id);

    if (now < this.rate.pausedUntil) return { granted: false, waitMs: Math.ceil(this.rate.pausedUntil - now) };
    const startAt = Math.max(now, this.nextAt, this.earliestSend(limit, now));
    if (startAt <= now && this.sending() >= limit.concurrency) return { granted: false, waitMs: 50 };
    const ahead = Math.min(MAX_AHEAD_MS, Math.max(0, aheadMs));
    if (startAt - now > ahead) {
      return { granted: false, waitMs: Math.ceil(startAt - now - ahead), slotInMs: Math.ceil(startAt - now) };
    }
    // A token bucket holding a second's worth would allow twice the rate within one second: space instead.
    this.nextAt = startAt + spacingMs(this.rate, limit.requestsPerSecond, startAt);
    const leaseId = crypto.randomUUID();
    const sending = startAt <= now;
    this.leases.set(leaseId, { pauses: this.pauses, at: startAt, expires: startAt + LEASE_MS, sending });
    if (sending) this.noteSent(startAt);
    return { granted: true, leaseId, delayMs: Math.ceil(startAt - now) };
  }

  /**
   * At the time of a slot reserved ahead: still granted (send now), or voided by a pause that began
   * since it was reserved (wait as told), or refused while the requests in flight fill the
   * concurrency cap (ask for a new slot). A refused slot's lease is freed.
   */
  async confirm(leaseId: string, limit?: RateLimit): Promise<Permit> {
    const now = Date.now();
    const lease = this.leases.get(leaseId);
    if (lease && now >= this.rate.pausedUntil && lease.pauses === this.pauses) {
      // Only requests already out count here: the slots due alongside this one are confirmed as
      // they come (counting them too would refuse every one of a batch whose slots fell due together).
      if (limit && this.sending(leaseId, true) >= limit.concurrency) {
        this.leases.delete(leaseId);
        return { granted: false, waitMs: 50 };
      }
      // Slots before this one went out late (a busy thread): it waits until the window allows it.
      const earliest = limit ? this.earliestSend(limit, now) : now;
      if (earliest > now) {
        lease.at = earliest;
        return { granted: true, leaseId, delayMs: Math.ceil(earliest - now) };
      }
      lease.sending = true;
      this.noteSent(now);
      return { granted: true, leaseId, delayMs: 0 };
    }
    this.leases.delete(leaseId);
    return { granted: false, waitMs: Math.max(1, Math.ceil(this.rate.pausedUntil - now)), voided: true };
  }

  /**
   * Frees a request slot taken by {@link acquire}, learning from what the destination answered.
   * Senders need not wait for it: nothing they do next depends on its answer.
   */
  async release(leaseId: string, report?: ReleaseReport): Promise<void> {
    const lease = this.leases.get(leaseId);
    this.leases.delete(leaseId);
    if (!report) return;
    const now = Date.now();
    const grantedAt = lease?.at ?? now;
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
    const spacing = spacingMs(this.rate, report.limit.requestsPerSecond, now);
    if (before.pausedUntil !== this.rate.pausedUntil || before.decreasedAt !== this.rate.decreasedAt) {
      // Every slot reserved until now is void (its sender asks again): slots start again when the
      // pause ends, at the cut rate, not after the reserved ones of the old rate.
      this.pauses += 1;
      this.nextAt = Math.max(this.rate.pausedUntil, (this.sent.at(-1) ?? 0) + spacing, now + spacing);
    }
  }

  /** The rate learned from the destination's answers (at most `configured`), or null while nothing was learned. */
  async observed(configured: number): Promise<{ requests_per_second: number; updated_at: string } | null> {
    return observedRate(this.rate, configured);
  }

  /**
   * The earliest a request may go out so that no window of n spacings (n the whole requests a
   * second allows, at least 1) holds more than n requests: slots are spaced when granted, but a
   * sender whose slot came late (timers fire late on a busy thread) would otherwise bunch with the
   * on-time slots after it, and the vendor counts arrivals, not grants. A slot late by less than a
   * spacing delays nobody.
   */
  private earliestSend(limit: RateLimit, now: number): number {
    const rate = currentRate(this.rate, limit.requestsPerSecond);
    const n = Math.min(SENT_KEPT, Math.max(1, Math.floor(rate)));
    const nth = this.sent[this.sent.length - n];
    return nth === undefined ? now : nth + n * spacingMs(this.rate, limit.requestsPerSecond, now);
  }

  private noteSent(at: number): void {
    this.sent.push(at);
    if (this.sent.length > SENT_KEPT) this.sent.splice(0, this.sent.length - SENT_KEPT);
  }

  /**
   * Requests being sent now, but `except`; unless `outOnly`, also the slots whose time has come but
   * whose senders have not confirmed yet (they go before a sender asking now).
   */
  private sending(except?: string, outOnly = false): number {
    const now = Date.now();
    let n = 0;
    for (const [id, lease] of this.leases) if (id !== except && (lease.sending || (!outOnly && lease.at <= now))) n += 1;
    return n;
  }

  private save(now: number): void {
    this.savedAt = now;
    const { learned, limitEstimate, advertised, windowMs, pausedUntil, updatedAt, jitterMs, jitterAt } = this.rate;
    const stored: StoredRate = { learned, limitEstimate, advertised, windowMs, pausedUntil, updatedAt, jitterMs, jitterAt };
    this.ctx.storage.kv.put(LEARNED_KEY, stored);
  }
}
