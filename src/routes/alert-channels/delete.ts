import { recordAudit } from "../../api/audit";
import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { idParam, openApiErrorResponses, type Router } from "../../api/openapi";
import { alertChannels } from "../../db/schema";
import { assertUnused, loadChannel, serializeChannel } from "./schema";

const route = createRoute({
  operationId: "deleteAlertChannel",
  tags: ["alerts"],
  method: "delete",
  path: "/api/v1/alert-channels/{id}",
  request: { params: z.object({ id: idParam("chn") }) },
  responses: { 204: { description: "Deleted." }, ...openApiErrorResponses },
});

/** DELETE /api/v1/alert-channels/{id}: refused (409) while a sync names it in its alerts. */
export function registerDeleteAlertChannel(app: Router) {
  app.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    const { workspaceId } = c.var.principal;
    const before = serializeChannel(await loadChannel(c.var.db, workspaceId, id));
    await assertUnused(c.var.db, workspaceId, id);
    await c.var.db.delete(alertChannels).where(eq(alertChannels.id, id));
    await recordAudit(c, { action: "delete", resourceType: "alert_channel", resourceId: id, before });
    return c.body(null, 204);
  });
}
