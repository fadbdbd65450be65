import { createRoute, z } from "@hono/zod-openapi";
import { recordAudit } from "../../api/audit";
import { and, eq, isNull, ne } from "drizzle-orm";
import { apiTokens } from "../../db/schema";
import { ApiError } from "../../api/errors";
import { DEFAULT_WORKSPACE_ID, forgetToken } from "../../api/middleware";
import { idParam, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { loadToken, serializeToken, TokenSchema } from "./schema";

const route = createRoute({
  operationId: "revokeToken",
  tags: ["tokens"],
  method: "delete",
  path: "/api/v1/tokens/{id}",
  request: { params: z.object({ id: idParam("tok") }) },
  responses: {
    200: jsonResponse(TokenSchema, "The revoked token; it answers 401 from now on. Revoking twice keeps the first time."),
    ...openApiErrorResponses,
  },
});

/** DELETE /api/v1/tokens/{id}: revokes; the row stays for the audit trail. */
export function registerRevokeToken(app: Router) {
  app.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    const { workspaceId } = c.var.principal;
    const row = await loadToken(c.var.db, workspaceId, id);
    if (row.revokedAt) return c.json(serializeToken(row), 200);

    // Revoking the last admin token would lock the workspace out of token management for good;
    // the default workspace keeps ADMIN_TOKEN as its way back in.
    const bootstrapped = workspaceId === DEFAULT_WORKSPACE_ID && Boolean(c.env.ADMIN_TOKEN);
    if (row.scope === "admin" && !bootstrapped) {
      const otherAdmin = await c.var.db.query.apiTokens.findFirst({
        where: and(eq(apiTokens.workspaceId, workspaceId), eq(apiTokens.scope, "admin"), isNull(apiTokens.revokedAt), ne(apiTokens.id, id)),
        columns: { id: true },
      });
      if (!otherAdmin) {
        throw new ApiError("conflict", `token ${id} is the workspace's last admin token; create another admin token first`);
      }
    }

    const now = new Date().toISOString();
    const [revoked] = await c.var.db
      .update(apiTokens)
      .set({ revokedAt: now, updatedAt: now })
      .where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt)))
      .returning();
    forgetToken(id);
    // A concurrent revoke won the race (and logged it); answer with its timestamp.
    if (!revoked) return c.json(serializeToken(await loadToken(c.var.db, workspaceId, id)), 200);
    const after = serializeToken(revoked);
    await recordAudit(c, { action: "revoke", resourceType: "token", resourceId: id, before: serializeToken(row), after });
    return c.json(after, 200);
  });
}
