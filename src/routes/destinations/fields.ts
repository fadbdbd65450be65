import { createRoute, z } from "@hono/zod-openapi";
import { ApiError, notFound } from "../../api/errors";
import { ErrorSchema, idParam, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { FIELD_TYPES } from "../../destinations/destination";
import { openDestination } from "../../destinations/open";
import { log } from "../../lib/log";

/** One field of the destination's object, as its API describes it. */
const DestinationFieldSchema = z
  .object({
    name: z.string().openapi({ example: "LastName", description: "What a field mapping's `destination` names." }),
    label: z.string().optional().openapi({ example: "Last Name" }),
    type: z.enum(FIELD_TYPES).openapi({ description: "The type mapped values are cast to before they are sent." }),
    required: z.boolean().openapi({ description: "A record cannot be created without it: syncs that create records must map it." }),
    identifier: z.boolean().optional().openapi({ description: "The field records are matched by (external id, id property, key column)." }),
  })
  .openapi("DestinationField");

const route = createRoute({
  operationId: "listDestinationFields",
  tags: ["destinations"],
  method: "get",
  path: "/api/v1/destinations/{id}/fields",
  request: { params: z.object({ id: idParam("dst") }) },
  responses: {
    200: jsonResponse(z.object({ data: z.array(DestinationFieldSchema) }), "The writable fields of the destination's object or table."),
    ...openApiErrorResponses,
    422: {
      description:
        "The destination could not describe its fields: it refused the credentials, the object or table does not exist, or it could not be reached (`destination_error`).",
      content: { "application/json": { schema: ErrorSchema } },
    },
  },
});

/**
 * GET /api/v1/destinations/{id}/fields: the destination's own description (Salesforce describe,
 * HubSpot properties, the Postgres table's columns), cached a few minutes. 409 for a type that
 * cannot describe its fields (a webhook), 422 when the destination refused or could not be reached.
 */
export function registerDestinationFields(app: Router) {
  app.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    const opened = await openDestination(c.var.db, c.env, c.var.principal.workspaceId, id);
    if (!opened.ok && opened.reason === "not_found") throw notFound("destination", id);
    if (!opened.ok) throw new ApiError("destination_error", opened.error, { destination_id: id });
    const { destination } = opened;
    if (!destination.fields) {
      throw new ApiError("conflict", `a ${destination.type} destination does not describe its fields; map any field name`, {
        destination_id: id,
        type: destination.type,
      });
    }
    const answer = await destination.fields();
    log("destination_described", { destination_id: id, type: destination.type, ok: answer.ok });
    if (!answer.ok) throw new ApiError("destination_error", `destination ${id}: ${answer.error}`, { destination_id: id });
    return c.json({ data: answer.fields }, 200);
  });
}
