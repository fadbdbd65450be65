import { createRoute, z } from "@hono/zod-openapi";
import { recordAudit } from "../../api/audit";
import { idParam, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { illegalTransition, loadSync, syncObject, syncResponse, SyncSchema } from "./schema";

const descriptions = {
  pause: "Stops scheduled runs; history is kept and manual runs are still allowed.",
  resume: "Re-arms the schedule of a paused or errored sync.",
  restore: "Brings an archived sync back, paused.",
} as const;

/** POST /syncs/{id}/pause|resume|restore: one lifecycle action each, checked by the sync's object. */
export function registerLifecycleActions(app: Router) {
  for (const action of ["pause", "resume", "restore"] as const) {
    const route = createRoute({
      operationId: `${action}Sync`,
      tags: ["syncs"],
      method: "post",
      path: `/api/v1/syncs/{id}/${action}`,
      description: descriptions[action],
      request: { params: z.object({ id: idParam("syn") }) },
      responses: { 200: jsonResponse(SyncSchema, "The sync in its new status."), ...openApiErrorResponses },
    });
    app.openapi(route, async (c) => {
      const { id } = c.req.valid("param");
      const { workspaceId } = c.var.principal;
      await loadSync(c.var.db, workspaceId, id);
      const origin = new URL(c.req.url).origin;
      const before = await syncResponse(c.var.db, workspaceId, id, origin);
      const result = await syncObject(c.env, id).transition(action);
      if (!result.ok) throw illegalTransition(action, result.status);
      const after = await syncResponse(c.var.db, workspaceId, id, origin);
      await recordAudit(c, { action, resourceType: "sync", resourceId: id, before, after });
      return c.json(after, 200);
    });
  }
}
