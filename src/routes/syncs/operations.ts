import { createRoute, z } from "@hono/zod-openapi";
import { and, desc, eq, gte, lt } from "drizzle-orm";
import { syncRuns } from "../../db/schema";
import { notFound, validationError } from "../../api/errors";
import { idParam, jsonResponse, listOf, openApiErrorResponses, type Router } from "../../api/openapi";
import { OPERATION_KINDS } from "../../destinations/destination";
import { decodeCursor, encodeCursor, OPERATION_STATUSES } from "../../run-log/entry";
import { keyInRun, operationsPage, retentionDays } from "../../run-log/store";
import { loadSync } from "./schema";

/** The run debugger: every operation of a run, and one key's history across the retained runs. */

export const OperationSchema = z
  .object({
    key: z.string(),
    op: z.enum(OPERATION_KINDS),
    fields: z.record(z.string(), z.unknown()).openapi({ description: "The mapped destination fields sent (planned, in a dry run)." }),
    status: z.enum(OPERATION_STATUSES).openapi({ description: "`planned`: a dry run's operation, never sent." }),
    error: z.string().nullable().openapi({ description: "The destination's message for a failed operation." }),
    destination_status: z
      .number()
      .int()
      .nullable()
      .openapi({ description: "HTTP status of the destination's last response to the batch." }),
    response: z.string().nullable().openapi({ description: "The start (500 characters) of that response's body." }),
    attempts: z.number().int().openapi({ description: "Send attempts of the batch (0 when planned)." }),
    batch_id: z.string(),
    at: z.string().openapi({ description: "When the batch settled (or was planned)." }),
  })
  .openapi("RunOperation");

/** Keys are path segments: what a warehouse primary key may hold, within reason. */
const MAX_KEY_CHARS = 1000;

const OperationsQuery = z.object({
  status: z.enum(OPERATION_STATUSES).optional(),
  op: z.enum(OPERATION_KINDS).optional(),
  key: z.string().min(1).max(MAX_KEY_CHARS).optional().openapi({ description: "Only this primary key's operation." }),
  limit: z.coerce.number().int().min(1).max(200).default(50).openapi({ description: "Page size, 1-200." }),
  cursor: z.string().max(512).optional().openapi({ description: "next_cursor of the previous page." }),
});

const operationsRoute = createRoute({
  operationId: "listSyncRunOperations",
  tags: ["runs"],
  method: "get",
  path: "/api/v1/syncs/{id}/runs/{run_id}/operations",
  request: {
    params: z.object({
      id: idParam("syn"),
      run_id: z
        .string()
        .max(64)
        .openapi({ param: { name: "run_id", in: "path" } }),
    }),
    query: OperationsQuery,
  },
  responses: {
    200: jsonResponse(
      listOf(OperationSchema, "RunOperationList"),
      "The run's operations in plan order (a dry run's planned ones), page by page; empty once the run's log is past RUN_LOG_RETENTION_DAYS.",
    ),
    ...openApiErrorResponses,
  },
});

export const RecordEventSchema = OperationSchema.extend({
  run_id: z.string(),
  run_status: z.string(),
  dry_run: z.boolean(),
  run_started_at: z.string().nullable(),
}).openapi("RecordHistoryEntry");

const recordRoute = createRoute({
  operationId: "getSyncRecordHistory",
  tags: ["runs"],
  method: "get",
  path: "/api/v1/syncs/{id}/records/{key}",
  request: {
    params: z.object({
      id: idParam("syn"),
      key: z
        .string()
        .min(1)
        .max(MAX_KEY_CHARS)
        .openapi({ param: { name: "key", in: "path" }, description: "The primary key, URL-encoded." }),
    }),
    query: z.object({
      limit: z.coerce.number().int().min(1).max(50).default(10).openapi({ description: "Runs looked at per page, 1-50." }),
      cursor: z.string().max(64).optional().openapi({ description: "next_cursor of the previous page (a run id)." }),
    }),
  },
  responses: {
    200: jsonResponse(
      listOf(RecordEventSchema, "RecordHistory"),
      "What each retained run (newest first) planned or sent for this key and how the destination answered; a run that did not touch the key is not listed (its row was unchanged, or not in the model).",
    ),
    ...openApiErrorResponses,
  },
});

export function registerRunOperationRoutes(app: Router) {
  app.openapi(operationsRoute, async (c) => {
    const { id, run_id } = c.req.valid("param");
    const q = c.req.valid("query");
    const cursor = q.cursor === undefined ? null : decodeCursor(q.cursor);
    if (q.cursor !== undefined && !cursor) throw validationError([{ path: "cursor", message: "not a cursor this API returned" }]);
    await loadSync(c.var.db, c.var.principal.workspaceId, id);
    const run = await c.var.db.query.syncRuns.findFirst({
      where: and(eq(syncRuns.id, run_id), eq(syncRuns.syncId, id)),
      columns: { id: true },
    });
    if (!run) throw notFound("run", run_id);
    const found = await operationsPage(c.env.SNAPSHOTS, id, run_id, { status: q.status, op: q.op, key: q.key }, q.limit, cursor);
    return c.json({ data: found?.data ?? [], next_cursor: found?.next ? encodeCursor(found.next) : null }, 200);
  });

  app.openapi(recordRoute, async (c) => {
    const { id, key } = c.req.valid("param");
    const q = c.req.valid("query");
    await loadSync(c.var.db, c.var.principal.workspaceId, id);
    // Only runs young enough to still have their log; each is read in the key's partition only.
    const since = new Date(Date.now() - retentionDays(c.env) * 86_400_000).toISOString();
    const runs = await c.var.db
      .select({ id: syncRuns.id, status: syncRuns.status, options: syncRuns.options, startedAt: syncRuns.startedAt })
      .from(syncRuns)
      .where(and(eq(syncRuns.syncId, id), gte(syncRuns.createdAt, since), q.cursor ? lt(syncRuns.id, q.cursor) : undefined))
      .orderBy(desc(syncRuns.id))
      .limit(q.limit + 1);
    const looked = runs.slice(0, q.limit);
    const entries = await Promise.all(looked.map((r) => keyInRun(c.env.SNAPSHOTS, id, r.id, key)));
    const data = looked.flatMap((r, i) =>
      (entries[i] ?? []).map((e) => ({
        ...e,
        run_id: r.id,
        run_status: r.status,
        dry_run: r.options?.dry_run === true,
        run_started_at: r.startedAt,
      })),
    );
    return c.json({ data, next_cursor: runs.length > q.limit ? (looked.at(-1)?.id ?? null) : null }, 200);
  });
}
