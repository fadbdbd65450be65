import { createRoute } from "@hono/zod-openapi";
import { recordAudit } from "../../api/audit";
import { apiTokens } from "../../db/schema";
import { jsonBody, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { randomSecret, sha256Hex } from "../../lib/crypto";
import { newId } from "../../lib/ids";
import { CreatedTokenSchema, CreateTokenBody, serializeToken } from "./schema";

/** Characters of the token kept in clear for display: "retl_" and 7 of the secret. */
const PREFIX_LENGTH = 12;

const route = createRoute({
  operationId: "createToken",
  tags: ["tokens"],
  method: "post",
  path: "/api/v1/tokens",
  request: { body: jsonBody(CreateTokenBody) },
  responses: {
    201: jsonResponse(CreatedTokenSchema, "The token, with its secret shown this once."),
    ...openApiErrorResponses,
  },
});

/** POST /api/v1/tokens: the only response that carries the secret. */
export function registerCreateToken(app: Router) {
  app.openapi(route, async (c) => {
    const body = c.req.valid("json");
    // 32 random bytes: unguessable, and a plain SHA-256 suffices (no slow hash needed for high-entropy secrets).
    const token = `retl_${randomSecret(32)}`;
    const now = new Date().toISOString();
    const [row] = await c.var.db
      .insert(apiTokens)
      .values({
        id: newId("token"),
        workspaceId: c.var.principal.workspaceId,
        name: body.name,
        scope: body.scope,
        tokenHash: await sha256Hex(token),
        prefix: token.slice(0, PREFIX_LENGTH),
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    if (!row) throw new Error("insert returned no row");
    const created = serializeToken(row);
    // The plaintext token is in the answer only, never in the log.
    await recordAudit(c, { action: "create", resourceType: "token", resourceId: row.id, after: created });
    return c.json({ ...created, token }, 201);
  });
}
