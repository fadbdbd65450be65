import { createRoute, z } from "@hono/zod-openapi";
import { recordAudit } from "../../api/audit";
import { eq } from "drizzle-orm";
import { models, sources } from "../../db/schema";
import { ApiError } from "../../api/errors";
import { idParam, openApiErrorResponses, type Router } from "../../api/openapi";
import { loadSource, serializeSource } from "./schema";

const route = createRoute({
  operationId: "deleteSource",
  tags: ["sources"],
  method: "delete",
  path: "/api/v1/sources/{id}",
  request: { params: z.object({ id: idParam("src") }) },
  responses: { 204: { description: "Deleted." }, ...openApiErrorResponses },
});

export function registerDeleteSource(app: Router) {
  app.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    const source = await loadSource(c.var.db, c.var.principal.workspaceId, id);
    const used = await c.var.db.query.models.findFirst({ where: eq(models.sourceId, id), columns: { id: true } });
    if (used) {
      throw new ApiError("conflict", `source ${id} is used by model ${used.id}; delete its models first`, {
        model_id: used.id,
      });
    }
    await c.var.db.delete(sources).where(eq(sources.id, id));
    await recordAudit(c, { action: "delete", resourceType: "source", resourceId: id, before: serializeSource(source) });
    return c.body(null, 204);
  });
}
