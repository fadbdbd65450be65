import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { backoffPolicy, DEFAULT_BACKOFF, retryDelaySeconds } from "../../src/delivery/backoff";

const lowest = () => 0;
const highest = () => 0.999999;

describe("retry backoff", () => {
  it("doubles from the base with jitter between half and all of the step, capped, by default 2 s … 15 min", () => {
    const steps = [1, 2, 3, 4, 5, 10, 12].map((a) => [
      retryDelaySeconds(a, undefined, DEFAULT_BACKOFF, lowest),
      retryDelaySeconds(a, undefined, DEFAULT_BACKOFF, highest),
    ]);
    expect(steps).toEqual([
      [1, 2],
      [2, 4],
      [4, 8],
      [8, 16],
      [16, 32],
      // capped: half to all of 15 min
      [450, 900],
      [450, 900],
    ]);
  });

  it("never retries sooner than the destination's Retry-After, even beyond the cap (but within the queue's 12 h)", () => {
    expect(retryDelaySeconds(1, 30, DEFAULT_BACKOFF, lowest)).toBe(30);
    expect(retryDelaySeconds(1, 0.2, DEFAULT_BACKOFF, lowest)).toBe(1);
    expect(retryDelaySeconds(20, 3600, DEFAULT_BACKOFF, lowest)).toBe(3600);
    expect(retryDelaySeconds(1, 10 * 86_400, DEFAULT_BACKOFF, lowest)).toBe(12 * 3600);
    expect(retryDelaySeconds(3, 1, { baseSeconds: 1, maxSeconds: 1 }, highest)).toBe(1);
  });

  it("reads DELIVERY_RETRY_BASE_SECONDS / DELIVERY_RETRY_MAX_SECONDS, falling back on the defaults for missing or unusable values", () => {
    expect(backoffPolicy({})).toEqual(DEFAULT_BACKOFF);
    expect(backoffPolicy({ DELIVERY_RETRY_BASE_SECONDS: "5", DELIVERY_RETRY_MAX_SECONDS: "60" })).toEqual({
      baseSeconds: 5,
      maxSeconds: 60,
    });
    for (const bad of ["", "abc", "0", "-1", "99999999"]) {
      expect(backoffPolicy({ DELIVERY_RETRY_BASE_SECONDS: bad, DELIVERY_RETRY_MAX_SECONDS: bad }), bad).toEqual(DEFAULT_BACKOFF);
    }
    // wrangler.toml's production values are the defaults; the tests run shortened.
    expect(backoffPolicy(env)).toEqual({ baseSeconds: 1, maxSeconds: 1 });
  });
});

describe("DestinationLimiter", () => {
  const limiter = () => env.DESTINATION_LIMITER.get(env.DESTINATION_LIMITER.newUniqueId());

  it("spaces grants at least 1/rps apart: the next slot is reserved a little ahead, a later one is waited for", async () => {
    const l = limiter();
    // 10 per second: each slot 102 ms after the last (1 s plus the 20 ms jitter allowance, over 10).
    const ten = { requestsPerSecond: 10, concurrency: 10 };
    const first = await l.acquire(ten);
    expect(first).toMatchObject({ granted: true, delayMs: 0 });
    const second = await l.acquire(ten);
    expect(second, JSON.stringify(second)).toMatchObject({ granted: true });
    if (second.granted) expect(second.delayMs).toBeGreaterThan(95);
    const third = await l.acquire(ten);
    if (third.granted) expect(third.delayMs).toBeGreaterThan(195);
    // 4 per second: the next slot is 255 ms away, beyond what is reserved ahead: wait, then ask again.
    const slow = limiter();
    const four = { requestsPerSecond: 4, concurrency: 10 };
    expect((await slow.acquire(four)).granted).toBe(true);
    const refused = await slow.acquire(four);
    expect(refused, JSON.stringify(refused)).toMatchObject({ granted: false });
    if (refused.granted) return;
    expect(refused.waitMs).toBeLessThanOrEqual(10);
    await new Promise((r) => setTimeout(r, refused.waitMs + 5));
    const later = await slow.acquire(four);
    expect(later, JSON.stringify(later)).toMatchObject({ granted: true });
    if (later.granted) expect(later.delayMs).toBeGreaterThan(200);
  });

  it("caps requests in flight until a lease is released", async () => {
    const l = limiter();
    const limit = { requestsPerSecond: 1000, concurrency: 2 };
    const a = await l.acquire(limit);
    await new Promise((r) => setTimeout(r, 5));
    const b = await l.acquire(limit);
    await new Promise((r) => setTimeout(r, 5));
    expect([a.granted, b.granted]).toEqual([true, true]);
    const c = await l.acquire(limit);
    expect(c, JSON.stringify(c)).toMatchObject({ granted: false, waitMs: 50 });
    if (a.granted) await l.release(a.leaseId);
    expect((await l.acquire(limit)).granted).toBe(true);
  });
});
