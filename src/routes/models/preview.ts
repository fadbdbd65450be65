import { createRoute, z } from "@hono/zod-openapi";
import { idParam, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { WarehouseError } from "../../sources/errors";
import { loadModel, ModelColumnSchema, sourceErrorResponse } from "./schema";
import { openModelSource, warehouseApiError } from "./warehouse";

const PreviewBody = z
  .strictObject({
    limit: z.number().int().min(1).max(100).default(10).openapi({ description: "Rows to return, 1-100." }),
  })
  .openapi("PreviewModel");

const Preview = z
  .object({
    columns: z.array(ModelColumnSchema),
    rows: z.array(z.record(z.string(), z.unknown())),
  })
  .openapi("ModelPreview");

const route = createRoute({
  operationId: "previewModel",
  tags: ["models"],
  method: "post",
  path: "/api/v1/models/{id}/preview",
  request: {
    params: z.object({ id: idParam("mod") }),
    body: { required: false, content: { "application/json": { schema: PreviewBody } } },
  },
  responses: {
    200: jsonResponse(Preview, "The first rows of the model's query, run read-only on the warehouse."),
    ...openApiErrorResponses,
    ...sourceErrorResponse,
  },
});

const DEFAULT_LIMIT = 10;

/** POST /api/v1/models/{id}/preview: the first rows, read-only. */
export function registerPreviewModel(app: Router) {
  app.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    // Without a body the validator hands over {}, so the default is applied here too.
    const limit = c.req.valid("json").limit ?? DEFAULT_LIMIT;
    const model = await loadModel(c.var.db, c.var.principal.workspaceId, id);
    const source = await openModelSource(c.var.db, c.env, c.var.principal.workspaceId, model.sourceId);
    try {
      const { columns, rows } = await source.preview(model.sql, limit);
      return c.json({ columns, rows }, 200);
    } catch (err) {
      // The stored query failing now (a dropped table) is the source's state, not a bad request field.
      if (err instanceof WarehouseError) throw warehouseApiError(err, model.sourceId, false);
      throw err;
    }
  });
}
