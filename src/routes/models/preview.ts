import { createRoute, z } from "@hono/zod-openapi";
import { idParam, jsonBody, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { validationError } from "../../api/errors";
import { WarehouseError } from "../../sources/errors";
import type { JsonValue } from "../../sources/source";
import { checkFieldMappings, type FieldMapping, fieldMaker, mappingColumns } from "../../sync/mapping";
import { TemplateError } from "../../sync/template";
import { FieldMappings } from "../syncs/schema";
import { loadModel, ModelColumnSchema, SourceId, Sql, sourceErrorResponse } from "./schema";
import { openModelSource, warehouseApiError } from "./warehouse";

const Limit = z.number().int().min(1).max(100).default(10).openapi({ description: "Rows to return, 1-100." });

const PreviewBody = z
  .strictObject({
    limit: Limit,
    field_mappings: FieldMappings.optional().openapi({
      description: "Also map each row through these field mappings (columns, constants, templates), as a sync would send it.",
    }),
  })
  .openapi("PreviewModel");

/** One previewed row as a sync with the given mappings would send it, or why its mapping failed. */
const MappedRow = z.union([z.object({ fields: z.record(z.string(), z.unknown()) }), z.object({ error: z.string() })]).openapi("MappedRow");

/** A query not saved yet: what the console's model form previews before the model exists. */
const PreviewQueryBody = z.strictObject({ source_id: SourceId, sql: Sql, limit: Limit }).openapi("PreviewQuery");

const Preview = z
  .object({
    columns: z.array(ModelColumnSchema),
    rows: z.array(z.record(z.string(), z.unknown())),
    mapped: z.array(MappedRow).optional().openapi({ description: "With `field_mappings`: each row's destination fields, in row order." }),
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

const queryRoute = createRoute({
  operationId: "previewQuery",
  tags: ["models"],
  method: "post",
  path: "/api/v1/models/preview",
  request: { body: jsonBody(PreviewQueryBody) },
  responses: {
    200: jsonResponse(Preview, "The first rows of the query and its columns, run read-only on the source; nothing is saved."),
    ...openApiErrorResponses,
    ...sourceErrorResponse,
  },
});

const DEFAULT_LIMIT = 10;

/** Preview rows through the mappings, with the run's own field maker (a template failing on a row is that row's error). */
function mapRows(mappings: FieldMapping[], rows: Record<string, JsonValue>[]): z.infer<typeof MappedRow>[] {
  const columns = mappingColumns(mappings);
  const make = fieldMaker(mappings);
  return rows.map((row) => {
    try {
      return { fields: make(columns.map((name) => row[name] ?? null)) };
    } catch (err) {
      if (err instanceof TemplateError) return { error: err.message };
      throw err;
    }
  });
}

/** POST /api/v1/models/preview (a draft query) and /api/v1/models/{id}/preview (a saved model): the first rows, read-only. */
export function registerPreviewModel(app: Router) {
  app.openapi(queryRoute, async (c) => {
    const { source_id, sql, limit } = c.req.valid("json");
    const source = await openModelSource(c.var.db, c.env, c.var.principal.workspaceId, source_id);
    try {
      const { columns, rows } = await source.preview(sql, limit);
      return c.json({ columns, rows }, 200);
    } catch (err) {
      // The query is this request's: its own problems name `sql`.
      if (err instanceof WarehouseError) throw warehouseApiError(err, source_id, true);
      throw err;
    }
  });

  app.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    // Without a body the validator hands over {}, so the default is applied here too.
    const limit = c.req.valid("json").limit ?? DEFAULT_LIMIT;
    const mappings = c.req.valid("json").field_mappings;
    const model = await loadModel(c.var.db, c.var.principal.workspaceId, id);
    if (mappings) {
      const problems = checkFieldMappings(
        mappings,
        model.columns.map((col) => col.name),
      );
      if (problems.length > 0) throw validationError(problems);
    }
    const source = await openModelSource(c.var.db, c.env, c.var.principal.workspaceId, model.sourceId);
    try {
      const { columns, rows } = await source.preview(model.sql, limit);
      return c.json({ columns, rows, ...(mappings ? { mapped: mapRows(mappings, rows) } : {}) }, 200);
    } catch (err) {
      // The stored query failing now (a dropped table) is the source's state, not a bad request field.
      if (err instanceof WarehouseError) throw warehouseApiError(err, model.sourceId, false);
      throw err;
    }
  });
}
