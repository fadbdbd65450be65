import type { RateSignal } from "../lib/http";

/**
 * The request rate a destination accepts, learned from its answers (AIMD, as TCP learns a link's
 * capacity): a 429 cuts the rate multiplicatively, each accepted request raises it additively, and
 * it never exceeds the ceiling (the destination's configured rate, else the connector's default,
 * and the vendor's advertised allowance when its headers give one). Pure: the DestinationLimiter
 * keeps the state and feeds it what each response said (src/lib/http.ts `RateSignal`).
 */

/** The learned state of one destination. */
export interface AdaptiveRate {
  /** Requests per second to grant; `null` while nothing has been learned (the ceiling applies). */
  learned: number | null;
  /** The rate the destination was accepting when it last throttled: where the limit probably is. */
  limitEstimate: number | null;
  /** The vendor's advertised allowance, requests per second, when its headers gave one. */
  advertised: number | null;
  /** Epoch ms of the last decrease: a 429 of a request granted before it was sent at the old rate. */
  decreasedAt: number;
  /** Epoch ms before which no request may go (Retry-After). */
  pausedUntil: number;
  /** The vendor's counting window, ms (1 s unless it says otherwise). */
  windowMs: number;
  /** Epoch ms of the accepted responses within the last two windows, oldest first. */
  accepted: number[];
  /** Epoch ms of the last change of `learned` or `advertised`. */
  updatedAt: number;
  /** The spacing allowance last learned, ms added to each second's worth of grants (see {@link allowanceMs}). */
  jitterMs: number;
  /** Epoch ms when {@link AdaptiveRate.jitterMs} was learned; it fades back to the floor from then. */
  jitterAt: number;
}

/**
 * The furthest ahead a sender may reserve: a few seconds' worth covers the queue's round trip for
 * the senders after it, while a slot further ahead would keep its sender (and, on a consumer that
 * gets one batch at a time, every message behind it) waiting for nothing. Slots are granted in
 * order, so no reserved slot lies further than this (plus one spacing) ahead: a sender told to
 * come back later is told a time the limiter knows.
 */
export const MAX_AHEAD_MS = 5_000;

/** On a 429 the rate becomes this share of the rate the destination was accepting. */
export const DECREASE_FACTOR = 0.8;
/**
 * After a cut the rate climbs back quickly to this share of where the limit was (half the gap per
 * second of sending), then probes slowly: most time is spent just under the limit, few requests over it.
 */
const RECOVERY_SHARE = 0.95;
const RECOVERY_PER_SECOND = 0.5;
/** The slow probe: requests per second gained per second of accepted sending, as a share of the ceiling (at least {@link MIN_INCREASE}). */
const INCREASE_SHARE = 0.01;
const MIN_INCREASE = 0.1;
/** Slowest the limiter ever goes (the lowest configurable rate). */
export const MIN_RATE = 0.1;
const DEFAULT_WINDOW_MS = 1000;
/** Longest window counted (HubSpot's rolling window is 10 s). */
const MAX_WINDOW_MS = 60_000;

/**
 * Requests do not reach the destination exactly as spaced: N grants span one second plus an
 * allowance, so trip-time jitter does not push N + 1 into the vendor's one-second window. It starts
 * at the floor; a 429 met while the destination was accepting our whole rate is jitter, not a
 * lower limit, and doubles it instead of cutting the rate, while the double stays within the cap (so ≥ 92.5% of
 * the limit is kept).
 */
const JITTER_FLOOR_MS = 20;
const JITTER_CAP_MS = 80;
/** The learned allowance halves back towards the floor every this long. */
const JITTER_HALF_LIFE_MS = 300_000;
/** A 429 is jitter when the destination accepted at least this share of our rate in its window. */
const JITTER_SHARE = 0.9;

/** Nothing learned yet. */
export function initialRate(): AdaptiveRate {
  return {
    learned: null,
    limitEstimate: null,
    advertised: null,
    decreasedAt: 0,
    pausedUntil: 0,
    windowMs: DEFAULT_WINDOW_MS,
    accepted: [],
    updatedAt: 0,
    jitterMs: JITTER_FLOOR_MS,
    jitterAt: 0,
  };
}

/** The spacing allowance at `now`: the learned one fading to the floor. */
export function allowanceMs(state: AdaptiveRate, now: number): number {
  const fade = 0.5 ** (Math.max(0, now - state.jitterAt) / JITTER_HALF_LIFE_MS);
  return JITTER_FLOOR_MS + (state.jitterMs - JITTER_FLOOR_MS) * fade;
}

/** Milliseconds between two grants at `now`: a second plus the allowance, over the rate. */
export function spacingMs(state: AdaptiveRate, configured: number, now: number): number {
  return (1000 + allowanceMs(state, now)) / currentRate(state, configured);
}

/** The highest rate allowed: the configured (or default) rate, lowered by the vendor's advertised allowance. */
export function ceilingOf(state: AdaptiveRate, configured: number): number {
  return Math.max(MIN_RATE, Math.min(configured, state.advertised ?? Number.POSITIVE_INFINITY));
}

/** Requests per second to grant now. */
export function currentRate(state: AdaptiveRate, configured: number): number {
  const ceiling = ceilingOf(state, configured);
  return Math.min(ceiling, state.learned ?? ceiling);
}

/**
 * The state after one response: `grantedAt` is when its request was granted, `now` when it
 * answered, `configured` the destination's configured (or default) rate.
 */
export function observe(state: AdaptiveRate, signal: RateSignal, at: { grantedAt: number; now: number; configured: number }): AdaptiveRate {
  const { grantedAt, now, configured } = at;
  const next: AdaptiveRate = { ...state };
  if (signal.windowMs !== undefined && signal.windowMs > 0) next.windowMs = Math.min(MAX_WINDOW_MS, signal.windowMs);
  if (signal.allowedPerSecond !== undefined && signal.allowedPerSecond > 0 && signal.allowedPerSecond !== state.advertised) {
    // Requests granted before a lower allowance was known went out at the old rate: not a reason to cut again.
    if (signal.allowedPerSecond < currentRate(state, configured)) next.decreasedAt = now;
    next.advertised = signal.allowedPerSecond;
    next.updatedAt = now;
  }
  if (signal.retryAfterSeconds !== undefined && signal.retryAfterSeconds > 0) {
    next.pausedUntil = Math.max(state.pausedUntil, now + signal.retryAfterSeconds * 1000);
  }
  // Two windows are kept: a 429 is judged against the window its request met, which began before it was granted.
  next.accepted = state.accepted.filter((t) => t > now - 2 * next.windowMs);
  const rate = currentRate(next, configured);
  if (signal.throttled) {
    // One decrease per round: requests granted before the last decrease were sent at the old rate.
    if (grantedAt < state.decreasedAt) return next;
    // What got through in the window this request met is what the account accepts (other apps may share it).
    const since = Math.max(now - 2 * next.windowMs, grantedAt - next.windowMs);
    const accepting = next.accepted.filter((t) => t > since).length / (next.windowMs / 1000);
    // Refused while it took all we sent: our spacing meets its limit and trip time pushed one over.
    const allowance = allowanceMs(state, now);
    if (accepting >= JITTER_SHARE * rate && 2 * allowance <= JITTER_CAP_MS) {
      next.jitterMs = 2 * allowance;
      next.jitterAt = now;
      pauseUntilWindowFrees(next, now);
      next.decreasedAt = now;
      return next;
    }
    const base = accepting > 0 ? Math.min(rate, accepting) : rate;
    next.limitEstimate = base;
    next.learned = Math.max(MIN_RATE, base * DECREASE_FACTOR);
    pauseUntilWindowFrees(next, now);
    next.decreasedAt = now;
    next.updatedAt = now;
    return next;
  }
  next.accepted.push(now);
  if (next.learned !== null) {
    // +step per second of sending at rate r: +step/r per accepted request (idle time adds nothing).
    const ceiling = ceilingOf(next, configured);
    const probe = Math.max(MIN_INCREASE, INCREASE_SHARE * ceiling);
    const recoveryTarget = RECOVERY_SHARE * (next.limitEstimate ?? 0);
    const step = rate < recoveryTarget ? Math.max(probe, RECOVERY_PER_SECOND * (recoveryTarget - rate)) : probe;
    next.learned = Math.min(ceiling, rate + step / rate);
    next.updatedAt = now;
  } else if (next.advertised !== null) {
    next.learned = ceilingOf(next, configured);
  }
  return next;
}

/** The vendor's window is full: nothing passes before its oldest accepted request leaves it. */
function pauseUntilWindowFrees(state: AdaptiveRate, now: number): void {
  const oldest = state.accepted.find((t) => t > now - state.windowMs);
  if (oldest !== undefined) state.pausedUntil = Math.max(state.pausedUntil, oldest + state.windowMs);
}

/** The learned rate to show (`rate_limit_observed`), or null when nothing was learned yet. */
export function observedRate(state: AdaptiveRate, configured: number): { requests_per_second: number; updated_at: string } | null {
  if (state.learned === null && state.advertised === null) return null;
  return {
    requests_per_second: Math.round(currentRate(state, configured) * 100) / 100,
    updated_at: new Date(state.updatedAt).toISOString(),
  };
}
