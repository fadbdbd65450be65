import { z } from "@hono/zod-openapi";

/** A sync's alert rules as stored: every field filled in (see {@link rulesOf}). */
export interface AlertRules {
  /** Channels to alert; null: the workspace's default channels. */
  channel_ids: string[] | null;
  on_failure: boolean;
  on_error_state: boolean;
  on_recovery: boolean;
  /** Alert when more than this percent of the processed rows failed; null: never. */
  rows_failed_pct: number | null;
  /** Alert when the model's row count moved more than this percent against the last successful run; null: never. */
  row_count_change_pct: number | null;
  /** Alert when a scheduled run has not started this many minutes after it was due; null: never. */
  late_minutes: number | null;
  /** Alert when a run has been running longer than this; null: never. */
  max_duration_minutes: number | null;
}

/** The rules of a sync that sets none, and what a partial `alerts` object is completed with. */
export const DEFAULT_ALERT_RULES: AlertRules = {
  channel_ids: null,
  on_failure: true,
  on_error_state: true,
  on_recovery: true,
  rows_failed_pct: null,
  row_count_change_pct: null,
  late_minutes: 60,
  max_duration_minutes: null,
};

/** The stored rules of a sync, or the defaults. */
export function rulesOf(stored: AlertRules | null | undefined): AlertRules {
  return { ...DEFAULT_ALERT_RULES, ...stored };
}

const Pct = z.number().min(0).max(100_000);
const Minutes = z.number().int().min(1).max(10_080);

/** The `alerts` object of a sync body; omitted fields take the defaults. */
export const AlertRulesBody = z
  .strictObject({
    channel_ids: z.array(z.string().max(64)).max(20).nullable().optional().openapi({
      description: "Alert channels (`chn_…`) of this sync; null or omitted: the workspace's default channels; []: none.",
    }),
    on_failure: z.boolean().optional().openapi({ description: "`run_failed` when a run fails (default true)." }),
    on_error_state: z.boolean().optional().openapi({ description: "`sync_error` when the sync enters `error` (default true)." }),
    on_recovery: z.boolean().optional().openapi({ description: "`recovered` when a sync alerted on is healthy again (default true)." }),
    rows_failed_pct: Pct.nullable().optional().openapi({
      description: "`rows_failed` when more than this percent of the processed rows failed; null: never (default).",
      example: 5,
    }),
    row_count_change_pct: Pct.nullable().optional().openapi({
      description:
        "`row_count_change` when the model's row count moved more than this percent against the last successful run; null: never (default).",
      example: 50,
    }),
    late_minutes: Minutes.nullable().optional().openapi({
      description: "`late` when a scheduled run has not started this many minutes after it was due (default 60); null: never.",
      example: 30,
    }),
    max_duration_minutes: Minutes.nullable().optional().openapi({
      description: "`slow` when a run runs longer than this; null: never (default).",
      example: 120,
    }),
  })
  .openapi("AlertRulesInput");

/** The `alerts` of a sync as the API returns it: every rule filled in. */
export const AlertRulesSchema = z
  .object({
    channel_ids: z.array(z.string()).nullable(),
    on_failure: z.boolean(),
    on_error_state: z.boolean(),
    on_recovery: z.boolean(),
    rows_failed_pct: z.number().nullable(),
    row_count_change_pct: z.number().nullable(),
    late_minutes: z.number().nullable(),
    max_duration_minutes: z.number().nullable(),
  })
  .openapi("AlertRules");

/** A body's `alerts` completed with the defaults (`undefined` stays undefined: not given). */
export function rulesFromBody(body: z.infer<typeof AlertRulesBody> | null | undefined): AlertRules | null | undefined {
  if (body === undefined) return undefined;
  if (body === null) return null;
  const out: AlertRules = { ...DEFAULT_ALERT_RULES };
  for (const [k, v] of Object.entries(body)) if (v !== undefined) Object.assign(out, { [k]: v });
  return out;
}
