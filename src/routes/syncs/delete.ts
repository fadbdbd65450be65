import { createRoute, z } from "@hono/zod-openapi";
import { recordAudit } from "../../api/audit";
import { eq } from "drizzle-orm";
import { syncAlertStates, syncs } from "../../db/schema";
import { idParam, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { illegalTransition, loadSync, syncObject, syncResponse, SyncSchema } from "./schema";

const route = createRoute({
  operationId: "deleteSync",
  tags: ["syncs"],
  method: "delete",
  path: "/api/v1/syncs/{id}",
  request: {
    params: z.object({ id: idParam("syn") }),
    query: z.object({
      permanent: z
        .enum(["true", "false"])
        .optional()
        .openapi({ description: "true: remove the sync, its runs and its snapshots for good." }),
    }),
  },
  responses: {
    200: jsonResponse(SyncSchema, "Archived: the schedule is stopped; `restore` brings it back paused."),
    204: { description: "Permanently deleted." },
    ...openApiErrorResponses,
  },
});

export function registerDeleteSync(app: Router) {
  app.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    const { workspaceId } = c.var.principal;
    await loadSync(c.var.db, workspaceId, id);
    const origin = new URL(c.req.url).origin;
    const before = await syncResponse(c.var.db, workspaceId, id, origin);
    const stub = syncObject(c.env, id);
    if (c.req.valid("query").permanent === "true") {
      await stub.destroy();
      await c.var.db.batch([
        c.var.db.delete(syncAlertStates).where(eq(syncAlertStates.syncId, id)),
        c.var.db.delete(syncs).where(eq(syncs.id, id)),
      ]);
      await recordAudit(c, { action: "delete", resourceType: "sync", resourceId: id, before });
      return c.body(null, 204);
    }
    const result = await stub.transition("archive");
    if (!result.ok) throw illegalTransition("archive", result.status);
    const after = await syncResponse(c.var.db, workspaceId, id, origin);
    await recordAudit(c, { action: "archive", resourceType: "sync", resourceId: id, before, after });
    return c.json(after, 200);
  });
}
