import { describe, expect, it } from "vitest";
import { cronProblem, isTimeZone, nextRunAt } from "../../src/sync/schedule";

describe("schedule math", () => {
  it("fires a daily cron at 06:00 Berlin wall time on both sides of the spring DST change", () => {
    const s = { type: "cron", expression: "0 6 * * *", timezone: "Europe/Berlin" } as const;
    // 28 March 2026 is CET (UTC+1); 29 March is CEST (UTC+2).
    const first = nextRunAt(s, new Date("2026-03-28T00:00:00Z"));
    expect(first?.toISOString()).toBe("2026-03-28T05:00:00.000Z");
    const second = nextRunAt(s, first ?? new Date(0));
    expect(second?.toISOString()).toBe("2026-03-29T04:00:00.000Z");
  });

  it("fires once when autumn's fall-back repeats the hour", () => {
    const s = { type: "cron", expression: "30 2 * * *", timezone: "Europe/Berlin" } as const;
    // 25 October 2026: 02:30 happens twice (CEST then CET).
    const first = nextRunAt(s, new Date("2026-10-24T12:00:00Z"));
    expect(first?.toISOString()).toBe("2026-10-25T00:30:00.000Z");
    const next = nextRunAt(s, first ?? new Date(0));
    expect(next?.toISOString()).toBe("2026-10-26T01:30:00.000Z");
  });

  it("runs a time skipped by spring-forward once that day, not never", () => {
    const s = { type: "cron", expression: "30 2 * * *", timezone: "Europe/Berlin" } as const;
    // 29 March 2026: 02:00-03:00 does not exist in Berlin.
    const at = nextRunAt(s, new Date("2026-03-28T12:00:00Z"));
    expect(at).not.toBeNull();
    expect(at?.toISOString().slice(0, 10)).toBe("2026-03-29");
  });

  it("honours another zone's DST dates (New York changes on 8 March 2026)", () => {
    const s = { type: "cron", expression: "0 9 * * 1-5", timezone: "America/New_York" } as const;
    expect(nextRunAt(s, new Date("2026-03-06T15:00:00Z"))?.toISOString()).toBe("2026-03-09T13:00:00.000Z");
    expect(nextRunAt(s, new Date("2026-03-05T12:00:00Z"))?.toISOString()).toBe("2026-03-05T14:00:00.000Z");
  });

  it("adds the interval to the reference time and never fires manual schedules", () => {
    const from = new Date("2026-01-01T00:00:00Z");
    expect(nextRunAt({ type: "interval", interval_minutes: 90 }, from)?.toISOString()).toBe("2026-01-01T01:30:00.000Z");
    expect(nextRunAt({ type: "manual" }, from)).toBeNull();
  });

  it("explains invalid cron expressions and time zones", () => {
    expect(cronProblem("0 6 * * *")).toBeUndefined();
    expect(cronProblem("0 6 * *")).toMatch(/5 fields/);
    expect(cronProblem("61 6 * * *")).toBeDefined();
    expect(cronProblem("0 6 31 2 *")).toBeDefined();
    expect(isTimeZone("Europe/Berlin")).toBe(true);
    expect(isTimeZone("Mars/Olympus")).toBe(false);
  });
});
