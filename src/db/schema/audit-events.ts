import { index, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { workspaces } from "./workspaces";

/** One field's value before and after a change, secrets masked; `secret_changed` when a masked secret was replaced. */
export interface AuditChange {
  before: unknown;
  after: unknown;
  secret_changed?: true;
}

/**
 * The audit log: every create, update, delete and lifecycle action on a resource, by whom (token
 * id and name; the bootstrap ADMIN_TOKEN has no id), with the changed fields as the API shows them
 * (secrets masked). Written by src/api/audit.ts, read by GET /api/v1/audit-events.
 */
export const auditEvents = sqliteTable(
  "audit_events",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    actorTokenId: text("actor_token_id"),
    actorName: text("actor_name").notNull(),
    action: text("action").notNull(),
    resourceType: text("resource_type").notNull(),
    resourceId: text("resource_id").notNull(),
    changes: text("changes", { mode: "json" }).$type<Record<string, AuditChange>>().notNull(),
    requestId: text("request_id").notNull(),
    createdAt: text("created_at").notNull(),
  },
  (t) => [
    index("audit_events_workspace_idx").on(t.workspaceId, t.id),
    index("audit_events_resource_idx").on(t.workspaceId, t.resourceId, t.id),
  ],
);
