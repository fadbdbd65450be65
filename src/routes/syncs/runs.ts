import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, desc, eq, gt, lt } from "drizzle-orm";
import { ROW_ERROR_CODES, runRowErrors, syncRuns } from "../../db/schema";
import { notFound } from "../../api/errors";
import { idParam, jsonResponse, ListQuery, listOf, openApiErrorResponses, page, type Router } from "../../api/openapi";
import { RUN_STATUSES } from "../../db/schema";
import { runFromRow } from "../../run/record";
import { syncInWorkspace } from "./schema";
import { RunSchema, serializeRun } from "./run-schema";

const listRoute = createRoute({
  operationId: "listSyncRuns",
  tags: ["runs"],
  method: "get",
  path: "/api/v1/syncs/{id}/runs",
  request: {
    params: z.object({ id: idParam("syn") }),
    query: ListQuery.extend({ status: z.enum(RUN_STATUSES).optional() }),
  },
  responses: { 200: jsonResponse(listOf(RunSchema, "RunList"), "Runs, newest first."), ...openApiErrorResponses },
});

const RunParams = z.object({
  id: idParam("syn"),
  run_id: z
    .string()
    .max(64)
    .openapi({ param: { name: "run_id", in: "path" } }),
});

const getRoute = createRoute({
  operationId: "getSyncRun",
  tags: ["runs"],
  method: "get",
  path: "/api/v1/syncs/{id}/runs/{run_id}",
  request: { params: RunParams },
  responses: { 200: jsonResponse(RunSchema, "The run, with live progress while it runs."), ...openApiErrorResponses },
});

const RowError = z
  .object({
    primary_key: z.string().nullable(),
    operation: z.string(),
    message: z.string().openapi({ description: "The destination's own error text, or why the row was not sent." }),
    code: z.enum(ROW_ERROR_CODES).nullable().openapi({
      description:
        "invalid_row: the row can never be sent as it is (e.g. a duplicate key); not_sent: the run stopped first (the next run sends it); rejected: the destination refused it (retried next run); not_found: update mode found no record to update (retried when the row changes).",
    }),
    created_at: z.string(),
  })
  .openapi("RowError");

const errorsRoute = createRoute({
  operationId: "listSyncRunErrors",
  tags: ["runs"],
  method: "get",
  path: "/api/v1/syncs/{id}/runs/{run_id}/errors",
  request: { params: RunParams, query: ListQuery },
  responses: { 200: jsonResponse(listOf(RowError, "RowErrorList"), "Failed rows of the run, page by page."), ...openApiErrorResponses },
});

export function registerRunRoutes(app: Router) {
  app.openapi(listRoute, async (c) => {
    const { id } = c.req.valid("param");
    const q = c.req.valid("query");
    const db = c.var.db;
    // One D1 round trip: the sync's ownership check and the page together.
    const [sync, rows] = await db.batch([
      syncInWorkspace(db, c.var.principal.workspaceId, id),
      db
        .select()
        .from(syncRuns)
        .where(
          and(
            eq(syncRuns.syncId, id),
            q.status ? eq(syncRuns.status, q.status) : undefined,
            q.cursor ? lt(syncRuns.id, q.cursor) : undefined,
          ),
        )
        .orderBy(desc(syncRuns.id))
        .limit(q.limit + 1),
    ]);
    if (sync.length === 0) throw notFound("sync", id);
    const { items, nextCursor } = page(rows, q.limit);
    return c.json({ data: items.map((r) => serializeRun(runFromRow(r))), next_cursor: nextCursor }, 200);
  });

  app.openapi(getRoute, async (c) => {
    const { id, run_id } = c.req.valid("param");
    const db = c.var.db;
    const [sync, [row]] = await db.batch([
      syncInWorkspace(db, c.var.principal.workspaceId, id),
      db
        .select()
        .from(syncRuns)
        .where(and(eq(syncRuns.id, run_id), eq(syncRuns.syncId, id))),
    ]);
    if (sync.length === 0) throw notFound("sync", id);
    if (!row) throw notFound("run", run_id);
    return c.json(serializeRun(runFromRow(row)), 200);
  });

  app.openapi(errorsRoute, async (c) => {
    const { id, run_id } = c.req.valid("param");
    const q = c.req.valid("query");
    const after = q.cursor && /^\d+$/.test(q.cursor) ? Number(q.cursor) : 0;
    const db = c.var.db;
    const [sync, run, rows] = await db.batch([
      syncInWorkspace(db, c.var.principal.workspaceId, id),
      db
        .select({ id: syncRuns.id })
        .from(syncRuns)
        .where(and(eq(syncRuns.id, run_id), eq(syncRuns.syncId, id))),
      db
        .select()
        .from(runRowErrors)
        .where(and(eq(runRowErrors.runId, run_id), gt(runRowErrors.seq, after)))
        .orderBy(asc(runRowErrors.seq))
        .limit(q.limit + 1),
    ]);
    if (sync.length === 0) throw notFound("sync", id);
    if (run.length === 0) throw notFound("run", run_id);
    const { items, nextCursor } = page(
      rows.map((r) => ({ ...r, id: String(r.seq) })),
      q.limit,
    );
    return c.json(
      {
        data: items.map((r) => ({
          primary_key: r.primaryKey,
          operation: r.operation,
          message: r.message,
          code: r.code,
          created_at: r.createdAt,
        })),
        next_cursor: nextCursor,
      },
      200,
    );
  });
}
