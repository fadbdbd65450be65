import { createRoute } from "@hono/zod-openapi";
import { recordAudit } from "../../api/audit";
import { models } from "../../db/schema";
import { jsonBody, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { newId } from "../../lib/ids";
import { CreateModelBody, ModelSchema, serializeModel, sourceErrorResponse } from "./schema";
import { learnColumns, openModelSource } from "./warehouse";

const route = createRoute({
  operationId: "createModel",
  tags: ["models"],
  method: "post",
  path: "/api/v1/models",
  request: { body: jsonBody(CreateModelBody) },
  responses: {
    201: jsonResponse(ModelSchema, "The model, with the columns its SQL returns."),
    ...openApiErrorResponses,
    ...sourceErrorResponse,
  },
});

/** POST /api/v1/models: learns the query's columns on the warehouse before saving. */
export function registerCreateModel(app: Router) {
  app.openapi(route, async (c) => {
    const body = c.req.valid("json");
    const { workspaceId } = c.var.principal;
    const source = await openModelSource(c.var.db, c.env, workspaceId, body.source_id);
    const columns = await learnColumns(source, body.source_id, body.sql, body.primary_key);
    const now = new Date().toISOString();
    const [row] = await c.var.db
      .insert(models)
      .values({
        id: newId("model"),
        workspaceId,
        sourceId: body.source_id,
        name: body.name,
        sql: body.sql,
        primaryKey: body.primary_key,
        columns,
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    if (!row) throw new Error("insert returned no row");
    const model = serializeModel(row);
    await recordAudit(c, { action: "create", resourceType: "model", resourceId: row.id, after: model });
    return c.json(model, 201);
  });
}
