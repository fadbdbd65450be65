import { z } from "@hono/zod-openapi";
import { RUN_PHASES, RUN_STATUSES, RUN_TRIGGERS } from "../../db/schema";
import type { RunRecord } from "../../run/record";

export const RunSchema = z
  .object({
    id: z.string().openapi({ example: "run_01jd2x3y4z5a6b7c8d9e0f1g2h" }),
    sync_id: z.string(),
    status: z.enum(RUN_STATUSES),
    trigger: z.enum(RUN_TRIGGERS),
    phase: z.enum(RUN_PHASES),
    progress: z.record(z.string(), z.number()).openapi({
      description:
        "Rows read, partitions diffed, operations planned, batches sent, acknowledged and resent (batches_resent: enqueued again because their reports were overdue or lost in a restart), warehouse_retries (extraction tries after a transient warehouse error); for a model read in key-ordered pages, pages_read, extract_resumes (times it went on from its last finished page after an interruption) and rows_reread; a dry run's planned_* counts.",
    }),
    options: z.object({ full_resync: z.boolean().optional(), allow_mass_delete: z.boolean().optional(), dry_run: z.boolean().optional() }),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    duration_ms: z.number().nullable(),
    rows_processed: z.number(),
    rows_created: z.number(),
    rows_updated: z.number(),
    rows_deleted: z.number(),
    rows_unchanged: z.number(),
    rows_failed: z.number(),
    error: z.object({ code: z.string(), message: z.string() }).nullable().openapi({
      description:
        "Why the run failed or stopped, e.g. `cancelled` (a user's cancel), `run_timeout` (past the sync's max_run_minutes) or `destination_daily_limit` (past it while batches waited for the destination's daily API limit).",
    }),
    created_at: z.string(),
  })
  .openapi("Run");

export function serializeRun(run: RunRecord): z.infer<typeof RunSchema> {
  const { workspace_id: _ws, ...rest } = run;
  return rest;
}

/** The run in flight when the trigger arrived (the answer's run is then the queued follow-up). */
const InFlightSchema = z
  .object({
    run_id: z.string(),
    phase: z.enum(RUN_PHASES),
    age_seconds: z.number().openapi({ description: "Seconds since the run in flight started." }),
  })
  .openapi("InFlightRun");

/** A trigger's answer (the API's and the trigger webhooks'): the run that will carry it out, and the run in flight, if any. */
export const TriggerResponse = RunSchema.extend({
  in_flight: InFlightSchema.optional().openapi({
    description:
      "Present when a run was already in flight: this trigger is queued behind it. A run that stays in one phase long can be cancelled.",
  }),
}).openapi("TriggeredRun");

/** A trigger's answer: the run, with `in_flight` when a run was already in flight. */
export function serializeTriggeredRun(
  run: RunRecord,
  inFlight: z.infer<typeof InFlightSchema> | undefined,
): z.infer<typeof TriggerResponse> {
  return { ...serializeRun(run), ...(inFlight ? { in_flight: inFlight } : {}) };
}
