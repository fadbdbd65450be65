import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { sources } from "../../db/schema";
import { idParam, jsonBody, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { encryptSecret, maskConnectionString } from "../../lib/secrets";
import { loadSource, serializeSource, SourceSchema, UpdateSourceBody } from "./schema";

const route = createRoute({
  operationId: "updateSource",
  tags: ["sources"],
  method: "put",
  path: "/api/v1/sources/{id}",
  request: { params: z.object({ id: idParam("src") }), body: jsonBody(UpdateSourceBody) },
  responses: { 200: jsonResponse(SourceSchema, "The updated source."), ...openApiErrorResponses },
});

export function registerUpdateSource(app: Router) {
  app.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    await loadSource(c.var.db, c.var.principal.workspaceId, id);
    const [row] = await c.var.db
      .update(sources)
      .set({
        ...(body.name === undefined ? {} : { name: body.name }),
        ...(body.connection_string === undefined
          ? {}
          : {
              connectionCiphertext: await encryptSecret(c.env.ENCRYPTION_KEY, body.connection_string, id),
              connectionMasked: maskConnectionString(body.connection_string),
            }),
        updatedAt: new Date().toISOString(),
      })
      .where(eq(sources.id, id))
      .returning();
    if (!row) throw new Error("update returned no row");
    return c.json(serializeSource(row), 200);
  });
}
