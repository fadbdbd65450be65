import { createRoute, z } from "@hono/zod-openapi";
import { and, desc, eq, lt } from "drizzle-orm";
import { auditEvents } from "../../db/schema";
import { jsonResponse, ListQuery, listOf, openApiErrorResponses, page, type Router } from "../../api/openapi";

export const AuditEventSchema = z
  .object({
    id: z.string(),
    actor: z.object({
      token_id: z.string().nullable().openapi({ description: "null for the bootstrap ADMIN_TOKEN and for trigger webhooks." }),
      name: z.string(),
    }),
    action: z.string().openapi({
      description: "create, update, delete, pause, resume, archive, restore, trigger, cancel, revoke, rotate_trigger_secret.",
    }),
    resource: z.object({ type: z.string(), id: z.string() }),
    changes: z
      .record(z.string(), z.object({ before: z.unknown(), after: z.unknown(), secret_changed: z.literal(true).optional() }))
      .openapi({ description: "Each changed field before and after, as the API shows it: secrets masked." }),
    request_id: z.string(),
    created_at: z.string(),
  })
  .openapi("AuditEvent");

const route = createRoute({
  operationId: "listAuditEvents",
  tags: ["audit"],
  method: "get",
  path: "/api/v1/audit-events",
  description: "The workspace's audit log, newest first. Needs an admin token: it names every token and what it did.",
  request: {
    query: ListQuery.extend({
      resource_id: z.string().min(1).max(64).optional().openapi({ description: "Only events of this resource (a sync, run, token…)." }),
    }),
  },
  responses: { 200: jsonResponse(listOf(AuditEventSchema, "AuditEventList"), "Audit events, newest first."), ...openApiErrorResponses },
});

/** `GET /api/v1/audit-events` (admin scope, enforced in app.ts). */
export function registerAuditRoutes(app: Router) {
  app.openapi(route, async (c) => {
    const q = c.req.valid("query");
    const rows = await c.var.db
      .select()
      .from(auditEvents)
      .where(
        and(
          eq(auditEvents.workspaceId, c.var.principal.workspaceId),
          q.resource_id ? eq(auditEvents.resourceId, q.resource_id) : undefined,
          q.cursor ? lt(auditEvents.id, q.cursor) : undefined,
        ),
      )
      .orderBy(desc(auditEvents.id))
      .limit(q.limit + 1);
    const { items, nextCursor } = page(rows, q.limit);
    return c.json(
      {
        data: items.map((r) => ({
          id: r.id,
          actor: { token_id: r.actorTokenId, name: r.actorName },
          action: r.action,
          resource: { type: r.resourceType, id: r.resourceId },
          changes: r.changes,
          request_id: r.requestId,
          created_at: r.createdAt,
        })),
        next_cursor: nextCursor,
      },
      200,
    );
  });
}
