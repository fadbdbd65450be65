import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { DestinationLimiter } from "../../durable-objects/destination-limiter";
import { MAX_AHEAD_MS } from "../../src/delivery/adaptive-rate";

/** The DestinationLimiter keeps what the destination's answers taught it (src/delivery/adaptive-rate.ts). */
describe("DestinationLimiter learning", () => {
  const limiter = () => env.DESTINATION_LIMITER.get(env.DESTINATION_LIMITER.newUniqueId());
  const limit = { requestsPerSecond: 10, concurrency: 10 };

  async function grant(l: ReturnType<typeof limiter>): Promise<string> {
    for (;;) {
      const permit = await l.acquire(limit);
      if (permit.granted) {
        await new Promise((r) => setTimeout(r, permit.delayMs));
        return permit.leaseId;
      }
      await new Promise((r) => setTimeout(r, permit.waitMs));
    }
  }

  it("a 429 lowers the rate it grants at, shows it as observed, and keeps it in storage", async () => {
    const l = limiter();
    expect(await l.observed(10)).toBeNull();
    await l.release(await grant(l), { signals: [{ throttled: false }], limit });
    expect(await l.observed(10), "accepted requests alone teach nothing").toBeNull();
    await l.release(await grant(l), { signals: [{ throttled: true }], limit });
    const observed = await l.observed(10);
    expect(observed?.requests_per_second).toBeLessThan(10);
    // Never above what the destination is configured for.
    expect((await l.observed(2))?.requests_per_second).toBeLessThanOrEqual(2);
    // The next grant is spaced at the learned rate, not the configured 10 per second.
    await grant(l);
    const next = await l.acquire(limit);
    // The slot after it is at least 1/learned away (reserved ahead, or waited for).
    expect(next.granted ? next.delayMs : next.waitMs).toBeGreaterThan(110);
    await runInDurableObject(l, async (_instance: DestinationLimiter, state) => {
      expect(state.storage.kv.get("learned"), "the learned rate survives eviction").toMatchObject({ learned: expect.any(Number) });
    });
  });

  it("a pause begun after a slot was reserved ahead voids it when its time comes", async () => {
    const l = limiter();
    // 2 per second, reserved up to 1 s ahead: the second slot is 500 ms away, so the pause begins before it even on a loaded machine.
    const slow = { requestsPerSecond: 2, concurrency: 10 };
    const first = await l.acquire(slow, 1_000);
    const reserved = await l.acquire(slow, 1_000);
    expect([first.granted, reserved.granted]).toEqual([true, true]);
    if (!first.granted || !reserved.granted) return;
    expect(reserved.delayMs).toBeGreaterThan(250);
    await l.release(first.leaseId, { signals: [{ throttled: true, retryAfterSeconds: 2 }], limit: slow });
    const voided = await l.confirm(reserved.leaseId);
    expect(voided, JSON.stringify(voided)).toMatchObject({ granted: false });
    if (!voided.granted) expect(voided.waitMs).toBeGreaterThan(1500);
    // Without a pause, a reserved slot holds.
    const other = limiter();
    await other.acquire(limit);
    const held = await other.acquire(limit);
    if (held.granted) expect(await other.confirm(held.leaseId)).toMatchObject({ granted: true, delayMs: 0 });
  });

  it("Retry-After and a spent quota hold every sender", async () => {
    const l = limiter();
    await l.release(await grant(l), { signals: [{ throttled: true, retryAfterSeconds: 2 }], limit });
    const held = await l.acquire(limit);
    expect(held, JSON.stringify(held)).toMatchObject({ granted: false });
    if (!held.granted) expect(held.waitMs).toBeGreaterThan(1500);

    const quota = limiter();
    await quota.release(await grant(quota), { signals: [], limit, pauseSeconds: 3600 });
    const waiting = await quota.acquire(limit);
    expect(waiting, JSON.stringify(waiting)).toMatchObject({ granted: false });
    if (!waiting.granted) expect(waiting.waitMs).toBeGreaterThan(3500_000);
  });

  it("the vendor's advertised allowance caps the rate from the first answer", async () => {
    const l = limiter();
    await l.release(await grant(l), { signals: [{ throttled: false, allowedPerSecond: 5, windowMs: 10_000 }], limit });
    expect(await l.observed(10)).toMatchObject({ requests_per_second: 5 });
  });
});

describe("DestinationLimiter slots", () => {
  const limiter = () => env.DESTINATION_LIMITER.get(env.DESTINATION_LIMITER.newUniqueId());
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // 2 requests a second: slots 510 ms apart (a second plus the 20 ms jitter allowance, over 2).
  const limit = { requestsPerSecond: 2, concurrency: 10 };

  it("reserves no slot beyond its horizon, however long a sender would wait, and says when the next one is", async () => {
    const permits = await limiter().acquireMany(limit, 30, 60_000);
    const granted = permits.filter((p) => p.granted);
    expect(granted.length, JSON.stringify(permits)).toBe(Math.floor(MAX_AHEAD_MS / 510) + 1);
    for (const p of granted) expect(p.delayMs).toBeLessThanOrEqual(MAX_AHEAD_MS);
    // The senders beyond the horizon are told their slots at the current rate, one spacing apart:
    // what the limiter knows, so deferred senders come back when their slot is near, not all at once.
    const slots = permits.slice(granted.length).map((p) => (p.granted ? undefined : p.slotInMs));
    expect(slots[0]).toBeGreaterThan(MAX_AHEAD_MS - 510);
    expect(slots[0]).toBeLessThanOrEqual(MAX_AHEAD_MS + 510);
    const steps = slots.slice(1).map((slot, i) => (slot ?? 0) - (slots[i] ?? 0));
    for (const step of steps) expect(step, JSON.stringify(slots)).toBeCloseTo(510, -1);
  });

  it("a slot confirmed late holds the slots after it until the window allows them, not longer", async () => {
    const l = limiter();
    const [first, late, next, after] = await l.acquireMany(limit, 4, 5_000);
    if (!first?.granted || !late?.granted || !next?.granted || !after?.granted) throw new Error(JSON.stringify([first, late, next, after]));
    const t0 = Date.now() - first.delayMs;
    // The second slot (due at 510 ms) goes out at 900 ms, as a sender on a busy thread would.
    await sleep(900 - (Date.now() - t0));
    expect(await l.confirm(late.leaseId, limit)).toMatchObject({ granted: true, delayMs: 0 });
    // The third (1,020 ms) keeps its time: 2 requests within any 1,020 ms (the first left at 0).
    await sleep(next.delayMs - (Date.now() - t0));
    expect(await l.confirm(next.leaseId, limit)).toMatchObject({ granted: true, delayMs: 0 });
    // The fourth (1,530 ms) would be the third request within 1,020 ms of the late one: held until 1,920 ms.
    await sleep(after.delayMs - (Date.now() - t0));
    const held = await l.confirm(after.leaseId, limit);
    expect(held, JSON.stringify(held)).toMatchObject({ granted: true });
    if (held.granted) expect(held.delayMs).toBeGreaterThan(250);
    if (held.granted) expect(held.delayMs).toBeLessThanOrEqual(400);
    if (held.granted) await sleep(held.delayMs);
    if (held.granted) expect(await l.confirm(held.leaseId, limit)).toMatchObject({ granted: true, delayMs: 0 });
  });
});
