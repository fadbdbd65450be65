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

  it("spaces grants at least 1/rps apart and says how long to wait", async () => {
    const l = limiter();
    const limit = { requestsPerSecond: 4, concurrency: 10 };
    const first = await l.acquire(limit);
    expect(first.granted).toBe(true);
    const second = await l.acquire(limit);
    expect(second, JSON.stringify(second)).toMatchObject({ granted: false });
    if (second.granted) return;
    expect(second.waitMs).toBeGreaterThan(200);
    expect(second.waitMs).toBeLessThanOrEqual(255);
    await new Promise((r) => setTimeout(r, second.waitMs));
    expect((await l.acquire(limit)).granted).toBe(true);
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
