import { z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import type { Database } from "../../db/client";
import { sources, SOURCE_TYPES } from "../../db/schema";
import { notFound } from "../../api/errors";
import { Name } from "../../api/openapi";

export const ConnectionString = z
  .string()
  .max(4096)
  .refine((s) => /^postgres(ql)?:\/\/[^/\s]+/.test(s) && URL.canParse(s), {
    message: "must be a postgres:// or postgresql:// URL, e.g. postgres://user:password@host:5432/db",
  });

export const SourceSchema = z
  .object({
    id: z.string().openapi({ example: "src_01jd2x3y4z5a6b7c8d9e0f1g2h" }),
    name: z.string(),
    type: z.enum(SOURCE_TYPES),
    connection_string: z.string().openapi({ description: "Masked: the password is never returned." }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Source");

export const CreateSourceBody = z
  .strictObject({
    name: Name,
    type: z.enum(SOURCE_TYPES),
    connection_string: ConnectionString,
  })
  .openapi("CreateSource");

export const UpdateSourceBody = z
  .strictObject({ name: Name.optional(), connection_string: ConnectionString.optional() })
  .openapi("UpdateSource");

export type SourceRow = typeof sources.$inferSelect;

export function serializeSource(row: SourceRow): z.infer<typeof SourceSchema> {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    connection_string: row.connectionMasked,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}

/** The source `id` of the workspace, or a 404. */
export async function loadSource(db: Database, workspaceId: string, id: string): Promise<SourceRow> {
  const row = await db.query.sources.findFirst({ where: and(eq(sources.id, id), eq(sources.workspaceId, workspaceId)) });
  if (!row) throw notFound("source", id);
  return row;
}
