import { createRoute } from "@hono/zod-openapi";
import { sources } from "../../db/schema";
import { jsonBody, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { newId } from "../../lib/ids";
import { encryptSecret, maskConnectionString } from "../../lib/secrets";
import { CreateSourceBody, serializeSource, SourceSchema } from "./schema";

const route = createRoute({
  operationId: "createSource",
  tags: ["sources"],
  method: "post",
  path: "/api/v1/sources",
  request: { body: jsonBody(CreateSourceBody) },
  responses: { 201: jsonResponse(SourceSchema, "The source, its password masked."), ...openApiErrorResponses },
});

export function registerCreateSource(app: Router) {
  app.openapi(route, async (c) => {
    const body = c.req.valid("json");
    const id = newId("source");
    const now = new Date().toISOString();
    const [row] = await c.var.db
      .insert(sources)
      .values({
        id,
        workspaceId: c.var.principal.workspaceId,
        name: body.name,
        type: body.type,
        connectionCiphertext: await encryptSecret(c.env.ENCRYPTION_KEY, body.connection_string, id),
        connectionMasked: maskConnectionString(body.connection_string),
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    if (!row) throw new Error("insert returned no row");
    return c.json(serializeSource(row), 201);
  });
}
