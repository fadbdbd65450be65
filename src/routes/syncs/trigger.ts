import { createRoute, z } from "@hono/zod-openapi";
import { recordAudit } from "../../api/audit";
import { idParam, jsonResponse, openApiErrorResponses, type Router } from "../../api/openapi";
import { ApiError } from "../../api/errors";
import { loadSync, syncObject } from "./schema";
import { serializeTriggeredRun, TriggerResponse } from "./run-schema";

const TriggerBody = z
  .strictObject({
    full_resync: z.boolean().optional().openapi({ description: "Ignore the previous snapshot and send every row again." }),
    allow_mass_delete: z
      .boolean()
      .optional()
      .openapi({ description: "Confirm a mirror run that would delete more than the sync's threshold." }),
    dry_run: z
      .boolean()
      .optional()
      .openapi({
        description:
          "Preview: read the model and compute the change plan (progress.planned_creates, planned_updates, planned_upserts, planned_deletes; " +
          "mass_delete_blocked = 1 when the guard would stop it), send nothing and keep the last snapshot. Refused (409) while a run is in flight or queued.",
      }),
  })
  .openapi("TriggerRun");

const route = createRoute({
  operationId: "triggerSync",
  tags: ["syncs"],
  method: "post",
  path: "/api/v1/syncs/{id}/trigger",
  description:
    "Starts a run. With a run in flight, one follow-up run is queued and further triggers return that same queued run, " +
    "with `in_flight` naming the run in flight, its phase and age. " +
    "A dry run (`dry_run: true`) computes the change plan without sending anything.",
  request: {
    params: z.object({ id: idParam("syn") }),
    body: { required: false, content: { "application/json": { schema: TriggerBody } } },
  },
  responses: { 202: jsonResponse(TriggerResponse, "The run that will carry out this trigger."), ...openApiErrorResponses },
});

export function registerTriggerSync(app: Router) {
  app.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    await loadSync(c.var.db, c.var.principal.workspaceId, id);
    const options = c.req.valid("json") ?? {};
    const result = await syncObject(c.env, id).trigger("manual", options);
    if (!result.ok && result.busy)
      throw new ApiError(
        "conflict",
        "a dry run starts only when the sync has no run in flight or queued; try again when it is idle",
        result.in_flight ? { in_flight: result.in_flight } : undefined,
      );
    if (!result.ok)
      throw new ApiError("conflict", `cannot run a sync whose status is "${result.status}"; restore it first`, { status: result.status });
    await recordAudit(c, { action: "trigger", resourceType: "sync", resourceId: id, after: { run_id: result.run.id, options } });
    return c.json(serializeTriggeredRun(result.run, result.in_flight), 202);
  });
}
