/** Sync lifecycle: the states and the only transitions allowed between them. */
export const SYNC_STATUSES = [
  "created", // saved, never run; schedule armed unless created paused
  "active", // has run at least once; schedule on
  "paused", // no scheduled runs; history kept; manual runs allowed
  "error", // stopped by the engine (auth rejected, repeated failures); schedule off until resume
  "archived", // soft-deleted: hidden from the default list, schedule off, restorable
] as const;
export type SyncStatus = (typeof SYNC_STATUSES)[number];

const SYNC_ACTIONS = ["run_started", "pause", "resume", "fail", "archive", "restore"] as const;
export type SyncAction = (typeof SYNC_ACTIONS)[number];

/** transitions[from][action] = to. A missing entry is an illegal transition (409). */
const transitions: Record<SyncStatus, Partial<Record<SyncAction, SyncStatus>>> = {
  created: { run_started: "active", pause: "paused", fail: "error", archive: "archived" },
  active: { run_started: "active", pause: "paused", fail: "error", archive: "archived" },
  // A manual run of a paused or errored sync does not switch its schedule back on.
  paused: { run_started: "paused", resume: "active", fail: "paused", archive: "archived" },
  error: { run_started: "error", resume: "active", fail: "error", pause: "paused", archive: "archived" },
  archived: { restore: "paused" },
};

/** The state `action` leads to from `from`, or undefined when the transition is illegal. */
export function nextStatus(from: SyncStatus, action: SyncAction): SyncStatus | undefined {
  return transitions[from][action];
}

/** Whether the schedule fires in this state. */
export function scheduleArmed(status: SyncStatus): boolean {
  return status === "created" || status === "active";
}

/** Whether a user may start a run by hand (API or trigger webhook) in this state. */
export function manualRunAllowed(status: SyncStatus): boolean {
  return status !== "archived";
}
