/** Run states. A run ends in exactly one of the final four. */
export const RUN_STATUSES = [
  "queued", // waiting for the run in flight to finish
  "running", // extracting, diffing, delivering or committing
  "succeeded", // every operation acknowledged
  "partial", // finished; some rows failed and will be retried next run
  "failed", // stopped by an error; nothing committed beyond what was acknowledged
  "cancelled", // dropped before it started (sync archived or deleted)
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const RUN_TRIGGERS = ["schedule", "manual", "webhook"] as const;
export type RunTrigger = (typeof RUN_TRIGGERS)[number];

/** Steps of a running run, in order. */
export const RUN_PHASES = ["queued", "extract", "diff", "deliver", "commit", "done"] as const;
export type RunPhase = (typeof RUN_PHASES)[number];
