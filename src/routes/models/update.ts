import { mappingColumns } from "../../sync/mapping";
import { createRoute, z } from "@hono/zod-openapi";
import { recordAudit } from "../../api/audit";
import { eq } from "drizzle-orm";
import type { Database } from "../../db/client";
import { models, syncs } from "../../db/schema";
import { ApiError } from "../../api/errors";
import { idParam, jsonBody, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { loadModel, ModelSchema, serializeModel, sourceErrorResponse, UpdateModelBody } from "./schema";
import { learnColumns, openModelSource } from "./warehouse";

const route = createRoute({
  operationId: "updateModel",
  tags: ["models"],
  method: "put",
  path: "/api/v1/models/{id}",
  request: { params: z.object({ id: idParam("mod") }), body: jsonBody(UpdateModelBody) },
  responses: {
    200: jsonResponse(ModelSchema, "The updated model; its columns are learned again when the query changes."),
    ...openApiErrorResponses,
    ...sourceErrorResponse,
  },
});

/** PUT /api/v1/models/{id}: a changed query is described again and must still fit the model's syncs. */
export function registerUpdateModel(app: Router) {
  app.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const { workspaceId } = c.var.principal;
    const current = await loadModel(c.var.db, workspaceId, id);
    const sourceId = body.source_id ?? current.sourceId;
    const sql = body.sql ?? current.sql;
    const primaryKey = body.primary_key ?? current.primaryKey;
    const queryChanged = sourceId !== current.sourceId || sql !== current.sql || primaryKey !== current.primaryKey;

    let columns = current.columns;
    if (queryChanged) {
      const source = await openModelSource(c.var.db, c.env, workspaceId, sourceId);
      columns = await learnColumns(source, sourceId, sql, primaryKey);
      await assertSyncsStillFit(
        c.var.db,
        id,
        current.primaryKey,
        primaryKey,
        columns.map((col) => col.name),
      );
    }

    const [row] = await c.var.db
      .update(models)
      .set({ name: body.name ?? current.name, sourceId, sql, primaryKey, columns, updatedAt: new Date().toISOString() })
      .where(eq(models.id, id))
      .returning();
    if (!row) throw new Error("update returned no row");
    const after = serializeModel(row);
    await recordAudit(c, { action: "update", resourceType: "model", resourceId: id, before: serializeModel(current), after });
    return c.json(after, 200);
  });
}

/**
 * Syncs snapshot rows by primary key and map columns by name: a new key would make every row look
 * new (and a mirror sync delete them all), and a vanished column would break the mappings.
 */
async function assertSyncsStillFit(db: Database, modelId: string, oldKey: string, newKey: string, columns: string[]): Promise<void> {
  const users = await db.query.syncs.findMany({
    where: eq(syncs.modelId, modelId),
    columns: { id: true, fieldMappings: true },
  });
  const first = users[0];
  if (first && oldKey !== newKey) {
    throw new ApiError("conflict", `primary_key cannot change while sync ${first.id} uses model ${modelId}`, {
      sync_id: first.id,
    });
  }
  for (const sync of users) {
    const missing = mappingColumns(sync.fieldMappings).filter((column) => !columns.includes(column));
    if (missing.length > 0) {
      throw new ApiError("conflict", `sync ${sync.id} maps column(s) ${missing.join(", ")}, which the new query no longer returns`, {
        sync_id: sync.id,
        missing_columns: missing,
      });
    }
  }
}
