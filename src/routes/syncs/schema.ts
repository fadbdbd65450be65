import { z } from "@hono/zod-openapi";
import { and, desc, eq, getTableColumns, inArray, lt, ne, sql } from "drizzle-orm";
import type { Database } from "../../db/client";
import { type Columns, decodeColumns, RenderedStatements } from "../../db/rendered";
import { alertChannels, destinations, models, syncRuns, syncs } from "../../db/schema";
import { ApiError, notFound, validationError, type ErrorDetail } from "../../api/errors";
import { Name } from "../../api/openapi";
import type { FieldsAnswer, SyncShape } from "../../destinations/destination";
import { type OpenEnv, openDestination } from "../../destinations/open";
import { syncProblems } from "../../destinations/registry";
import { log } from "../../lib/log";
import { describedFieldProblems } from "../../sync/destination-fields";
import { SYNC_MODES, type SyncMode } from "../../sync/mode";
import { SYNC_STATUSES, type SyncStatus } from "../../sync/lifecycle";
import { checkFieldMappings, type FieldMapping, NULL_VALUES, SEND_FIELDS } from "../../sync/mapping";
import { MAX_TEMPLATE_LENGTH } from "../../sync/template";
import { cronProblem, isTimeZone } from "../../sync/schedule";
import { runFromRow, type RunRecord } from "../../run/record";
import { RunSchema, serializeRun } from "./run-schema";
import { AlertRulesBody, AlertRulesSchema, rulesOf } from "../../alerts/rules";

const ScheduleSchema = z
  .discriminatedUnion("type", [
    z.strictObject({ type: z.literal("manual") }),
    z.strictObject({
      type: z.literal("interval"),
      interval_minutes: z.number().int().min(1).max(525_600).openapi({ example: 60 }),
    }),
    z.strictObject({
      type: z.literal("cron"),
      expression: z
        .string()
        .max(120)
        .superRefine((expr, ctx) => {
          const problem = cronProblem(expr);
          if (problem) ctx.addIssue({ code: "custom", message: `invalid cron expression: ${problem}` });
        })
        .openapi({ example: "0 6 * * *" }),
      timezone: z
        .string()
        .max(64)
        .default("UTC")
        .refine(isTimeZone, { message: "must be an IANA time zone such as Europe/Berlin or UTC" })
        .openapi({ example: "Europe/Berlin" }),
    }),
  ])
  .openapi("Schedule");

const MAPPING_KINDS = ["source", "static", "template"] as const;
const FieldMappingObject = z.strictObject({
  source: z.string().min(1).max(256).optional().openapi({ description: "A column of the model." }),
  static: z
    .any()
    .refine((v) => v === undefined || JSON.stringify(v).length <= 10_000, { message: "must be a JSON value of at most 10,000 characters" })
    .optional()
    .openapi({ description: "A constant sent for every row (any JSON value).", example: "Warehouse" }),
  template: z.string().min(1).max(MAX_TEMPLATE_LENGTH).optional().openapi({
    description: "A Liquid template of the row's columns (no file access; limited in size, time and memory).",
    example: "{{ first_name }} {{ last_name | upcase }}",
  }),
  destination: z.string().min(1).max(256),
});
/** One of source, static or template, and the destination field. */
const FieldMappingSchema = FieldMappingObject.superRefine((m, ctx) => {
  const given = MAPPING_KINDS.filter((k) => m[k] !== undefined);
  if (given.length === 1) return;
  ctx.addIssue({
    code: "custom",
    path: [given[1] ?? "source"],
    message:
      given.length === 0
        ? 'one of "source" (a column), "static" (a constant) or "template" is required'
        : `give one of "source", "static" or "template", not ${given.join(" and ")}`,
  });
})
  .transform((m) => m as FieldMapping)
  .openapi("FieldMapping", { description: 'A destination field from a column ("source"), a constant ("static") or a Liquid "template".' });

/** A sync's field mappings (also what the model preview maps its rows through). */
export const FieldMappings = z.array(FieldMappingSchema).min(1).max(500);
const MaxRunMinutes = z.number().int().min(1).max(10_080).openapi({
  description:
    "Time limit of a run in minutes (default 360, at most a week). A run still going is stopped with error `run_timeout` and counts as failed.",
  example: 360,
});
const SendFieldsSchema = z.enum(SEND_FIELDS).openapi({
  description:
    "What an update carries: `all_fields` (default) every mapped field; `changed_fields` only the fields whose values changed since the last delivered state, plus the fields the destination finds the record by (the field the primary key is mapped to, HubSpot's id_property, Salesforce's external id field). Creates always carry every field. The snapshot then keeps a 4-byte hash per mapped column per row.",
  example: "changed_fields",
});
const NullValuesSchema = z.enum(NULL_VALUES).openapi({
  description:
    "`send` (default): a null value is sent, clearing the field at the destination; `skip`: null fields are left out, keeping what the destination has.",
  example: "skip",
});
const MassDeleteThreshold = z.number().int().min(0).max(100).openapi({
  description: "Percent of the destination's synced rows a mirror run may delete without confirmation.",
});

export const CreateSyncBody = z
  .strictObject({
    name: Name,
    model_id: z.string().max(64),
    destination_id: z.string().max(64),
    mode: z.enum(SYNC_MODES),
    schedule: ScheduleSchema,
    field_mappings: FieldMappings,
    paused: z.boolean().optional().openapi({ description: "Create without arming the schedule." }),
    mass_delete_threshold_pct: MassDeleteThreshold.optional(),
    max_run_minutes: MaxRunMinutes.optional(),
    send: SendFieldsSchema.optional(),
    null_values: NullValuesSchema.optional(),
    alerts: AlertRulesBody.nullable()
      .optional()
      .openapi({ description: "Alert rules; without them the workspace's default channels and rules apply." }),
  })
  .openapi("CreateSync");

export const UpdateSyncBody = z
  .strictObject({
    name: Name.optional(),
    model_id: z.string().max(64).optional(),
    destination_id: z.string().max(64).optional(),
    mode: z.enum(SYNC_MODES).optional(),
    schedule: ScheduleSchema.optional(),
    field_mappings: FieldMappings.optional(),
    mass_delete_threshold_pct: MassDeleteThreshold.optional(),
    max_run_minutes: MaxRunMinutes.optional(),
    send: SendFieldsSchema.optional(),
    null_values: NullValuesSchema.optional(),
    alerts: AlertRulesBody.nullable()
      .optional()
      .openapi({ description: "Replaces the alert rules; null: back to the workspace's default channels and rules." }),
  })
  .openapi("UpdateSync");

export const SyncSchema = z
  .object({
    id: z.string().openapi({ example: "syn_01jd2x3y4z5a6b7c8d9e0f1g2h" }),
    name: z.string(),
    model_id: z.string(),
    destination_id: z.string(),
    mode: z.enum(SYNC_MODES),
    schedule: ScheduleSchema,
    field_mappings: z.array(FieldMappingObject),
    mass_delete_threshold_pct: z.number(),
    max_run_minutes: z.number(),
    send: SendFieldsSchema,
    null_values: NullValuesSchema,
    alerts: AlertRulesSchema.openapi({ description: "The alert rules in force; `channel_ids` null: the workspace's default channels." }),
    status: z.enum(SYNC_STATUSES),
    status_reason: z.string().nullable(),
    next_run_at: z.string().nullable(),
    last_run: RunSchema.nullable(),
    trigger_url: z.string().openapi({
      description: "Webhook that starts a run without an API token. Its secret is shown only at creation and rotation.",
    }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Sync");

export type SyncRow = typeof syncs.$inferSelect;
type RunRow = typeof syncRuns.$inferSelect;

/** The columns of a sync that its answer shows (not its sealed trigger secret nor bookkeeping). */
const SYNC_ANSWER_KEYS = [
  "id",
  "name",
  "modelId",
  "destinationId",
  "mode",
  "schedule",
  "fieldMappings",
  "massDeleteThresholdPct",
  "maxRunMinutes",
  "send",
  "nullValues",
  "alerts",
  "status",
  "statusReason",
  "nextRunAt",
  "createdAt",
  "updatedAt",
] as const satisfies readonly (keyof SyncRow)[];
type SyncAnswerRow = Pick<SyncRow, (typeof SYNC_ANSWER_KEYS)[number]>;
const syncColumns = getTableColumns(syncs);
const SYNC_ANSWER_COLUMNS: Columns = SYNC_ANSWER_KEYS.map((key) => [key, syncColumns[key]] as const);
const RUN_COLUMNS: Columns = Object.entries(getTableColumns(syncRuns));

/** The trigger webhook URL; `secret` only right after creation or rotation, masked otherwise. */
export function triggerUrl(origin: string, syncId: string, secret?: string): string {
  return `${origin}/api/v1/hooks/syncs/${syncId}/${secret ?? "****"}`;
}

function serializeSync(row: SyncAnswerRow, lastRun: RunRecord | undefined, origin: string, secret?: string): z.infer<typeof SyncSchema> {
  return {
    id: row.id,
    name: row.name,
    model_id: row.modelId,
    destination_id: row.destinationId,
    mode: row.mode,
    schedule: row.schedule,
    field_mappings: row.fieldMappings,
    mass_delete_threshold_pct: row.massDeleteThresholdPct,
    max_run_minutes: row.maxRunMinutes,
    send: row.send,
    null_values: row.nullValues,
    alerts: rulesOf(row.alerts),
    status: row.status,
    status_reason: row.statusReason,
    next_run_at: row.nextRunAt,
    last_run: lastRun ? serializeRun(lastRun) : null,
    trigger_url: triggerUrl(origin, row.id, secret),
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}

/** Which filters of the syncs list are present: its statement's shape. */
type ListShape = `${"status" | "live"}${"" | "+model"}${"" | "+destination"}${"" | "+cursor"}`;
const placeholder = (name: string) => sql.placeholder(name);

/** Syncs with their last run, newest first: one query (one D1 round trip), rendered once per shape. */
const syncListStatements = new RenderedStatements<ListShape>((db, shape) =>
  db
    .select({ sync: Object.fromEntries(SYNC_ANSWER_COLUMNS), run: Object.fromEntries(RUN_COLUMNS) })
    .from(syncs)
    .leftJoin(syncRuns, eq(syncRuns.id, syncs.lastRunId))
    .where(
      and(
        eq(syncs.workspaceId, placeholder("workspace")),
        shape.startsWith("status") ? eq(syncs.status, placeholder("status")) : ne(syncs.status, "archived"),
        shape.includes("+model") ? eq(syncs.modelId, placeholder("model")) : undefined,
        shape.includes("+destination") ? eq(syncs.destinationId, placeholder("destination")) : undefined,
        shape.includes("+cursor") ? lt(syncs.id, placeholder("cursor")) : undefined,
      ),
    )
    .orderBy(desc(syncs.id))
    .limit(placeholder("limit")),
);

/** One sync with its last run, in one query. */
const oneSyncStatement = new RenderedStatements<"one">((db) =>
  db
    .select({ sync: Object.fromEntries(SYNC_ANSWER_COLUMNS), run: Object.fromEntries(RUN_COLUMNS) })
    .from(syncs)
    .leftJoin(syncRuns, eq(syncRuns.id, syncs.lastRunId))
    .where(and(eq(syncs.id, placeholder("id")), eq(syncs.workspaceId, placeholder("workspace")))),
);

/** A sync answer's row: the sync and its last run (null when it has none). */
interface SyncWithLastRun {
  id: string;
  sync: SyncAnswerRow;
  run: RunRow | null;
}

/** A row of these statements: drizzle renders the selected columns in the select object's key order, the sync's then the run's. */
function syncWithLastRun(row: readonly unknown[]): SyncWithLastRun {
  const sync = decodeColumns<SyncAnswerRow>(SYNC_ANSWER_COLUMNS, row);
  // A left join without a match: every run column is null, its primary key too.
  const run = row[SYNC_ANSWER_COLUMNS.length] === null ? null : decodeColumns<RunRow>(RUN_COLUMNS, row, SYNC_ANSWER_COLUMNS.length);
  return { id: sync.id, sync, run };
}

/** What the syncs list filters on. */
export interface SyncListFilter {
  workspaceId: string;
  /** Only this status; without it, every sync but archived ones. */
  status?: SyncStatus;
  modelId?: string;
  destinationId?: string;
  /** Only syncs with ids below this (keyset pagination). */
  before?: string;
  limit: number;
}

/** Syncs with their last run, newest first, in one D1 round trip. */
export async function listSyncsWithLastRun(db: Database, f: SyncListFilter): Promise<SyncWithLastRun[]> {
  const shape =
    `${f.status ? "status" : "live"}${f.modelId ? "+model" : ""}${f.destinationId ? "+destination" : ""}${f.before ? "+cursor" : ""}` as ListShape;
  const rows = await syncListStatements.rows(db, shape, {
    workspace: f.workspaceId,
    status: f.status,
    model: f.modelId,
    destination: f.destinationId,
    cursor: f.before,
    limit: f.limit,
  });
  return rows.map(syncWithLastRun);
}

/** A row of {@link listSyncsWithLastRun}, serialized. */
export function serializeSyncWithLastRun(row: SyncWithLastRun, origin: string, secret?: string) {
  return serializeSync(row.sync, row.run ? runFromRow(row.run) : undefined, origin, secret);
}

/** The sync's id when it is in the workspace: an ownership check to batch with other reads. */
export function syncInWorkspace(db: Database, workspaceId: string, id: string) {
  return db
    .select({ id: syncs.id })
    .from(syncs)
    .where(and(eq(syncs.id, id), eq(syncs.workspaceId, workspaceId)))
    .limit(1);
}

export async function loadSync(db: Database, workspaceId: string, id: string): Promise<SyncRow> {
  const row = await db.query.syncs.findFirst({ where: and(eq(syncs.id, id), eq(syncs.workspaceId, workspaceId)) });
  if (!row) throw notFound("sync", id);
  return row;
}

/** The sync with its last run, serialized. */
export async function syncResponse(db: Database, workspaceId: string, id: string, origin: string, secret?: string) {
  const [row] = await oneSyncStatement.rows(db, "one", { id, workspace: workspaceId });
  if (!row) throw notFound("sync", id);
  return serializeSyncWithLastRun(syncWithLastRun(row), origin, secret);
}

/**
 * Checks the references and mappings of a sync body: model and destination in the workspace,
 * mapping sources among the model's columns, what the destination's type requires of a sync
 * (its plug-in's `validateSync`, e.g. HubSpot's `id_property` mapped), and, where the destination
 * describes its fields, that each mapped field exists and required ones are mapped
 * ({@link describedFieldProblems}). Throws one 400 listing every problem.
 */
export async function checkSyncReferences(
  db: Database,
  env: OpenEnv,
  workspaceId: string,
  body: { model_id: string; destination_id: string; field_mappings: FieldMapping[]; mode: SyncMode },
): Promise<void> {
  const problems: ErrorDetail[] = [];
  const [model, destination] = await Promise.all([
    db.query.models.findFirst({ where: and(eq(models.id, body.model_id), eq(models.workspaceId, workspaceId)) }),
    db.query.destinations.findFirst({
      where: and(eq(destinations.id, body.destination_id), eq(destinations.workspaceId, workspaceId)),
      columns: { id: true, type: true, config: true },
    }),
  ]);
  if (!model) problems.push({ path: "model_id", message: `model ${body.model_id} not found in this workspace` });
  if (!destination) problems.push({ path: "destination_id", message: `destination ${body.destination_id} not found in this workspace` });
  if (model)
    problems.push(
      ...checkFieldMappings(
        body.field_mappings,
        model.columns.map((c) => c.name),
      ),
    );
  if (model && destination) {
    const sync = { mappings: body.field_mappings, mode: body.mode, primaryKey: model.primaryKey };
    problems.push(...syncProblems(destination.type, destination.config, sync));
    // Only a body otherwise valid is worth a call to the destination.
    if (problems.length === 0) problems.push(...(await describedProblems(db, env, workspaceId, body.destination_id, sync)));
  }
  if (problems.length) throw validationError(problems);
}

/** How long a sync save waits for the destination's field description before saving unchecked. */
const DESCRIBE_AT_SAVE_MS = 8_000;

/**
 * The sync's problems against the fields the destination describes (cached a few minutes). A
 * destination that cannot be described right now (unreachable, refusing, slow) does not block the
 * save: the check is skipped and the destination reports bad fields per row when the sync runs.
 */
async function describedProblems(db: Database, env: OpenEnv, workspaceId: string, destinationId: string, sync: SyncShape) {
  const opened = await openDestination(db, env, workspaceId, destinationId);
  const fields = opened.ok ? opened.destination.fields : undefined;
  if (!fields) return [];
  const check = async (fresh: boolean) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<FieldsAnswer>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, error: `no answer within ${DESCRIBE_AT_SAVE_MS} ms` }), DESCRIBE_AT_SAVE_MS);
    });
    const answer = await Promise.race([fields(fresh), timeout]).finally(() => clearTimeout(timer));
    if (answer.ok) return describedFieldProblems(answer.fields, sync, answer.open === true);
    log("sync_fields_unchecked", { destination_id: destinationId, error: answer.error }, "warn");
    return [];
  };
  const problems = await check(false);
  // A refusal by a cached description is confirmed afresh: a field added at the destination a minute ago is no mistake.
  return problems.length > 0 ? check(true) : problems;
}

/** A 400 unless every channel id names an alert channel of the workspace. */
export async function checkAlertChannels(
  db: Database,
  workspaceId: string,
  channelIds: readonly string[] | null | undefined,
): Promise<void> {
  if (!channelIds?.length) return;
  const found = await db
    .select({ id: alertChannels.id })
    .from(alertChannels)
    .where(and(eq(alertChannels.workspaceId, workspaceId), inArray(alertChannels.id, [...channelIds])));
  const known = new Set(found.map((r) => r.id));
  const problems = channelIds.flatMap((id, i) =>
    known.has(id) ? [] : [{ path: `alerts.channel_ids.${i}`, message: `alert channel ${id} not found in this workspace` }],
  );
  if (problems.length) throw validationError(problems);
}

/** The sync's Durable Object. */
export function syncObject(env: Env, syncId: string) {
  return env.SYNC.get(env.SYNC.idFromName(syncId));
}

/** 409 for an action the sync's current status does not allow. */
export function illegalTransition(action: string, status: string): ApiError {
  return new ApiError("conflict", `cannot ${action} a sync whose status is "${status}"`, { status });
}
