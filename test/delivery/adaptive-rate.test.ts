import { describe, expect, it } from "vitest";
import {
  type AdaptiveRate,
  allowanceMs,
  ceilingOf,
  currentRate,
  DECREASE_FACTOR,
  initialRate,
  MIN_RATE,
  observe,
  observedRate,
  spacingMs,
} from "../../src/delivery/adaptive-rate";
import type { RateSignal } from "../../src/lib/http";

const OK: RateSignal = { throttled: false };
const THROTTLED: RateSignal = { throttled: true };

/** Feeds `signal` as if its request had been granted `ageMs` before `now`. */
function step(state: AdaptiveRate, signal: RateSignal, now: number, configured = 10, ageMs = 50): AdaptiveRate {
  return observe(state, signal, { grantedAt: now - ageMs, now, configured });
}

/** `n` accepted requests spaced at the current rate, starting at `from`; returns the state and the time after. */
function sendAccepted(state: AdaptiveRate, n: number, from: number, configured = 10): { state: AdaptiveRate; now: number } {
  let s = state;
  let now = from;
  for (let i = 0; i < n; i++) {
    now += 1000 / currentRate(s, configured);
    s = step(s, OK, now, configured);
  }
  return { state: s, now };
}

describe("adaptive rate (AIMD)", () => {
  it("starts at the configured rate and learns nothing from accepted requests alone", () => {
    const { state } = sendAccepted(initialRate(), 50, 0);
    expect(currentRate(state, 10)).toBe(10);
    expect(state.learned).toBeNull();
    expect(observedRate(state, 10)).toBeNull();
  });

  it("a 429 cuts the rate multiplicatively, to a share of what the destination was accepting", () => {
    // 5 accepted within the last second, then a 429: the account takes about 5 per second.
    let state = initialRate();
    for (let t = 100; t <= 500; t += 100) state = step(state, OK, t);
    state = step(state, THROTTLED, 600);
    expect(currentRate(state, 10)).toBeCloseTo(5 * DECREASE_FACTOR);
    expect(observedRate(state, 10)).toEqual({ requests_per_second: 4, updated_at: new Date(600).toISOString() });
  });

  it("with nothing accepted in the window, the cut applies to the current rate", () => {
    const state = step(initialRate(), THROTTLED, 10_000);
    expect(currentRate(state, 10)).toBeCloseTo(10 * DECREASE_FACTOR);
  });

  it("one cut per round: 429s of requests granted before the last cut were sent at the old rate", () => {
    let state = step(initialRate(), THROTTLED, 1000);
    const afterFirst = currentRate(state, 10);
    state = observe(state, THROTTLED, { grantedAt: 900, now: 1010, configured: 10 });
    expect(currentRate(state, 10)).toBe(afterFirst);
    state = observe(state, THROTTLED, { grantedAt: 1005, now: 1100, configured: 10 });
    expect(currentRate(state, 10)).toBeLessThan(afterFirst);
  });

  it("climbs back quickly to just under where the limit was, then probes additively, never above the configured rate", () => {
    // The account accepted 5 in the last second, then refused one: its limit is about 5.
    let state = initialRate();
    for (let t = 600; t <= 1000; t += 100) state = step(state, OK, t);
    state = step(state, THROTTLED, 1050);
    expect(currentRate(state, 10)).toBe(4);
    // Recovery: half the gap to 95% of the estimated limit per second of sending.
    const recovered = sendAccepted(state, 15, 1050);
    expect(currentRate(recovered.state, 10)).toBeGreaterThan(4.5);
    expect(currentRate(recovered.state, 10)).toBeLessThanOrEqual(4.75);
    // Probing past it: 0.1 requests per second gained per second of sending (1% of the ceiling, at least 0.1).
    const near = sendAccepted(recovered.state, 20, recovered.now);
    const probing = sendAccepted(near.state, 50, near.now);
    const gained = currentRate(probing.state, 10) - currentRate(near.state, 10);
    const seconds = (probing.now - near.now) / 1000;
    expect(gained / seconds).toBeGreaterThan(0.07);
    expect(gained / seconds).toBeLessThan(0.13);
    state = sendAccepted(probing.state, 2000, probing.now).state;
    expect(currentRate(state, 10)).toBe(10);
    // A lower configured rate caps it at once.
    expect(currentRate(state, 4)).toBe(4);
  });

  it("never goes below the slowest rate, however many 429s", () => {
    let state = initialRate();
    for (let t = 1; t <= 100; t++) state = step(state, THROTTLED, t * 1000, 10, 1);
    expect(currentRate(state, 10)).toBe(MIN_RATE);
  });

  it("Retry-After pauses every sender; the vendor's advertised allowance lowers the ceiling at once", () => {
    let state = step(initialRate(), { throttled: true, retryAfterSeconds: 3 }, 1000);
    expect(state.pausedUntil).toBe(4000);
    state = step(initialRate(), { throttled: false, allowedPerSecond: 5, windowMs: 10_000 }, 1000);
    expect(ceilingOf(state, 10)).toBe(5);
    expect(currentRate(state, 10)).toBe(5);
    expect(state.windowMs).toBe(10_000);
    expect(observedRate(state, 10)?.requests_per_second).toBe(5);
    // Increases stop at the allowance, and at the configured rate when that is lower.
    state = sendAccepted(state, 500, 1000).state;
    expect(currentRate(state, 10)).toBe(5);
    expect(currentRate(state, 3)).toBe(3);
  });

  it("counts what was accepted over the vendor's window (HubSpot's rolling 10 s)", () => {
    let state = step(initialRate(), { throttled: false, windowMs: 10_000 }, 0);
    // 50 accepted over 10 s at 10/s, then a 429: the account accepts 5 per second.
    for (let i = 1; i < 50; i++) state = step(state, OK, i * 100);
    state = step(state, THROTTLED, 5000);
    expect(currentRate(state, 10)).toBeCloseTo(5 * DECREASE_FACTOR);
  });

  it("a 429 met while the destination took our whole rate is jitter: the spacing widens, the rate stays", () => {
    // 10 accepted in the last second at 10/s, then one refused: the limit is ours, trip time pushed one over.
    let { state, now } = sendAccepted(initialRate(), 10, 0);
    const spacing = spacingMs(state, 10, now);
    state = step(state, THROTTLED, now + 10);
    expect(currentRate(state, 10)).toBe(10);
    expect(state.learned).toBeNull();
    expect(spacingMs(state, 10, now + 10)).toBeGreaterThan(spacing);
    expect(state.pausedUntil).toBeGreaterThan(now);
    // Doubling stops at the cap; a 429 past it is a lower limit after all, and cuts the rate.
    for (let round = 0; round < 5 && currentRate(state, 10) === 10; round++) {
      ({ state, now } = sendAccepted(state, 12, Math.max(now, state.pausedUntil)));
      state = step(state, THROTTLED, now + 10, 10, 5);
    }
    expect(allowanceMs(state, now + 10)).toBeLessThanOrEqual(80);
    expect(1000 / spacingMs({ ...state, learned: null }, 10, now + 10)).toBeGreaterThanOrEqual(9.25);
    expect(currentRate(state, 10)).toBeCloseTo(10 * DECREASE_FACTOR);
  });

  it("a widened spacing fades back to the floor", () => {
    let { state, now } = sendAccepted(initialRate(), 10, 0);
    state = step(state, THROTTLED, now + 10);
    const widened = allowanceMs(state, now + 10);
    expect(widened).toBe(40);
    expect(allowanceMs(state, now + 10 + 300_000)).toBeCloseTo(30);
    expect(allowanceMs(state, now + 10 + 3_600_000)).toBeCloseTo(20, 1);
  });
});
