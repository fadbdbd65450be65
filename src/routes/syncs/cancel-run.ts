import { createRoute, z } from "@hono/zod-openapi";
import { recordAudit } from "../../api/audit";
import { and, eq } from "drizzle-orm";
import { syncRuns } from "../../db/schema";
import { ApiError, notFound } from "../../api/errors";
import { idParam, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { RunSchema, serializeRun } from "./run-schema";
import { loadSync, syncObject } from "./schema";

const route = createRoute({
  operationId: "cancelSyncRun",
  tags: ["runs"],
  method: "post",
  path: "/api/v1/syncs/{id}/runs/{run_id}/cancel",
  description:
    "Cancels a queued or running run. A queued run ends at once. A running one stops enqueueing, settles the batches not being sent, " +
    "commits what the destination acknowledged (the next run sends the rest) and ends with status `cancelled` (error code `cancelled`); " +
    "poll the run until then. 409 when the run has already ended.",
  request: {
    params: z.object({
      id: idParam("syn"),
      run_id: z
        .string()
        .max(64)
        .openapi({ param: { name: "run_id", in: "path" } }),
    }),
  },
  responses: { 202: jsonResponse(RunSchema, "The run, being cancelled (or cancelled, if it was queued)."), ...openApiErrorResponses },
});

export function registerCancelRun(app: Router) {
  app.openapi(route, async (c) => {
    const { id, run_id } = c.req.valid("param");
    await loadSync(c.var.db, c.var.principal.workspaceId, id);
    const row = await c.var.db.query.syncRuns.findFirst({ where: and(eq(syncRuns.id, run_id), eq(syncRuns.syncId, id)) });
    if (!row) throw notFound("run", run_id);
    const result = await syncObject(c.env, id).cancel(run_id);
    if (!result.ok) {
      // Ended meanwhile (or before): answer with its final status as D1 has it now.
      const now = await c.var.db.query.syncRuns.findFirst({ where: eq(syncRuns.id, run_id), columns: { status: true } });
      throw new ApiError("conflict", `the run has already ended (status "${now?.status ?? row.status}")`, {
        status: now?.status ?? row.status,
      });
    }
    await recordAudit(c, {
      action: "cancel",
      resourceType: "run",
      resourceId: run_id,
      before: { sync_id: id, status: row.status },
      after: { sync_id: id, status: result.run.status },
    });
    return c.json(serializeRun(result.run), 202);
  });
}
