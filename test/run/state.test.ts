import { describe, expect, it } from "vitest";
import { RUN_PHASES } from "../../src/db/schema";
import { canTransition, IllegalTransitionError, phaseOf, RUN_STEPS, type RunTarget, transition } from "../../src/run/state";

describe("run state machine", () => {
  it("allows the real run's path, the dry run's path and staying in a budgeted step", () => {
    const real: RunTarget[] = ["extract", "diff", "deliver", "await", "commit", "report", "done"];
    for (let i = 0; i + 1 < real.length; i++) {
      const from = real[i] as (typeof RUN_STEPS)[number];
      expect(transition(from, real[i + 1] as RunTarget)).toBe(real[i + 1]);
    }
    expect(canTransition("diff", "report")).toBe(true);
    for (const step of ["diff", "deliver", "await", "commit", "report"] as const) expect(canTransition(step, step)).toBe(true);
    // Extraction never yields mid-way, but stays at extract to start over after a transient warehouse error.
    expect(canTransition("extract", "extract")).toBe(true);
  });

  it("lets any step fail the run", () => {
    for (const step of RUN_STEPS) expect(canTransition(step, "failed")).toBe(true);
  });

  it("refuses illegal transitions by throwing", () => {
    const illegal: [(typeof RUN_STEPS)[number], RunTarget][] = [
      ["extract", "deliver"],
      ["diff", "commit"],
      ["diff", "done"],
      ["deliver", "commit"], // commit only after every batch is reported
      ["deliver", "report"],
      ["await", "deliver"],
      ["commit", "diff"],
      ["commit", "done"],
      ["report", "extract"],
    ];
    for (const [from, to] of illegal) {
      expect(canTransition(from, to), `${from} → ${to}`).toBe(false);
      expect(() => transition(from, to)).toThrow(IllegalTransitionError);
    }
  });

  it("derives the API phase from the step, within the API's phase values", () => {
    expect(RUN_STEPS.map((step) => phaseOf(step))).toEqual(["extract", "diff", "deliver", "deliver", "commit", "commit"]);
    expect(phaseOf("report", true)).toBe("diff");
    for (const step of RUN_STEPS) expect(RUN_PHASES).toContain(phaseOf(step));
  });
});
