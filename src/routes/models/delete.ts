import { createRoute, z } from "@hono/zod-openapi";
import { recordAudit } from "../../api/audit";
import { eq } from "drizzle-orm";
import { models, syncs } from "../../db/schema";
import { ApiError } from "../../api/errors";
import { idParam, openApiErrorResponses, type Router } from "../../api/openapi";
import { loadModel, serializeModel } from "./schema";

const route = createRoute({
  operationId: "deleteModel",
  tags: ["models"],
  method: "delete",
  path: "/api/v1/models/{id}",
  request: { params: z.object({ id: idParam("mod") }) },
  responses: { 204: { description: "Deleted." }, ...openApiErrorResponses },
});

/** DELETE /api/v1/models/{id}: refused (409) while a sync uses the model. */
export function registerDeleteModel(app: Router) {
  app.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    const model = await loadModel(c.var.db, c.var.principal.workspaceId, id);
    // Archived syncs count too: they keep their model so that restore works.
    const used = await c.var.db.query.syncs.findFirst({ where: eq(syncs.modelId, id), columns: { id: true } });
    if (used) {
      throw new ApiError(
        "conflict",
        `model ${id} is used by sync ${used.id}; delete that sync permanently (DELETE /api/v1/syncs/${used.id}?permanent=true) first`,
        { sync_id: used.id },
      );
    }
    await c.var.db.delete(models).where(eq(models.id, id));
    await recordAudit(c, { action: "delete", resourceType: "model", resourceId: id, before: serializeModel(model) });
    return c.body(null, 204);
  });
}
