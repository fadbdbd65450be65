import { describe, expect, it } from "vitest";
import { ATTEMPT_SECONDS, DEFAULT_BACKOFF, reportOverdueAt } from "../../src/delivery/backoff";

describe("when a batch's report is overdue", () => {
  it("allows every attempt and the silent backoff between them after the last sign", () => {
    // Default policy: 2+4+…+256 s of backoff over 8 retries, 9 attempts.
    const backoff = 2 + 4 + 8 + 16 + 32 + 64 + 128 + 256;
    expect(reportOverdueAt({ at: 0 }, DEFAULT_BACKOFF)).toBe((backoff + 9 * ATTEMPT_SECONDS) * 1000);
    // The test policy (1 s … 1 s).
    expect(reportOverdueAt({ at: 1_000 }, { baseSeconds: 1, maxSeconds: 1 })).toBe(1_000 + (8 + 9 * ATTEMPT_SECONDS) * 1000);
  });

  it("caps each silent retry at the policy's maximum delay and counts max retries", () => {
    const policy = { baseSeconds: 100, maxSeconds: 150 };
    expect(reportOverdueAt({ at: 0 }, policy, 3)).toBe((100 + 150 + 150 + 4 * ATTEMPT_SECONDS) * 1000);
    expect(reportOverdueAt({ at: 0 }, policy, 0)).toBe(ATTEMPT_SECONDS * 1000);
  });

  it("adds the wait the consumer announced (Retry-After), capped at the queue's 12 h", () => {
    const base = reportOverdueAt({ at: 0 }, DEFAULT_BACKOFF);
    expect(reportOverdueAt({ at: 0, waitSeconds: 120 }, DEFAULT_BACKOFF)).toBe(base + 120_000);
    expect(reportOverdueAt({ at: 0, waitSeconds: 30 * 86_400 }, DEFAULT_BACKOFF)).toBe(base + 12 * 3600 * 1000);
    expect(reportOverdueAt({ at: 0, waitSeconds: -5 }, DEFAULT_BACKOFF)).toBe(base);
  });
});
