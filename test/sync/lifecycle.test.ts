import { describe, expect, it } from "vitest";
import { manualRunAllowed, nextStatus, scheduleArmed, SYNC_STATUSES } from "../../src/sync/lifecycle";

describe("sync lifecycle", () => {
  it("allows exactly the documented transitions", () => {
    expect(nextStatus("created", "run_started")).toBe("active");
    expect(nextStatus("active", "pause")).toBe("paused");
    expect(nextStatus("paused", "resume")).toBe("active");
    expect(nextStatus("error", "resume")).toBe("active");
    expect(nextStatus("active", "fail")).toBe("error");
    expect(nextStatus("active", "archive")).toBe("archived");
    expect(nextStatus("archived", "restore")).toBe("paused");
    // Manual runs keep a paused or errored sync's schedule off.
    expect(nextStatus("paused", "run_started")).toBe("paused");
    expect(nextStatus("error", "run_started")).toBe("error");
  });

  it("refuses illegal transitions", () => {
    expect(nextStatus("active", "resume")).toBeUndefined();
    expect(nextStatus("paused", "pause")).toBeUndefined();
    expect(nextStatus("archived", "pause")).toBeUndefined();
    expect(nextStatus("archived", "run_started")).toBeUndefined();
    expect(nextStatus("active", "restore")).toBeUndefined();
  });

  it("arms the schedule only in created and active, and allows manual runs unless archived", () => {
    expect(SYNC_STATUSES.filter(scheduleArmed)).toEqual(["created", "active"]);
    expect(SYNC_STATUSES.filter((s) => !manualRunAllowed(s))).toEqual(["archived"]);
  });
});
