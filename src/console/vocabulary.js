// @ts-check
// Domain words the views share: which run statuses are final, and what each sync mode does.
/** @import { RunStatus, SyncMode } from "./types.js" */

/** @type {ReadonlySet<RunStatus>} */
const FINAL_RUN_STATUSES = new Set(["succeeded", "partial", "failed", "cancelled"]);

/** Whether a run with this status has ended (no more polling needed). @param {RunStatus} status */
export const isFinal = (status) => FINAL_RUN_STATUSES.has(status);

/** The sync modes, in the order the form offers them (src/sync/mode.ts SYNC_MODES). */
export const SYNC_MODES = /** @type {const} */ (["upsert", "mirror", "append", "update"]);

/** What each sync mode does, in the words the form and the sync page show. @type {Record<SyncMode, string>} */
export const MODES = {
  upsert: "creates and updates records; never deletes",
  mirror: "creates, updates and deletes, so the destination matches the model",
  append: "only sends rows whose key it has not seen before; never updates or deletes",
  update: "only updates records that already exist; never creates or deletes (a missing record fails as not found)",
};
