/** What a sync does with each kind of change; see the table in DESIGN.md. */
export const SYNC_MODES = ["upsert", "mirror", "append", "update"] as const;
export type SyncMode = (typeof SYNC_MODES)[number];
