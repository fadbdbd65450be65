import { z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import type { Database } from "../../db/client";
import { sources } from "../../db/schema";
import { notFound } from "../../api/errors";
import { Name } from "../../api/openapi";
import { SOURCE_TYPES, SOURCES } from "../../sources/registry";

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

type NonEmpty<T> = [T, ...T[]];

/** The body that creates a source of one type: a name, the type, and the type's settings. */
function createBody(plugin: (typeof SOURCES)[number]) {
  // With one type, `type` is an enum: a bad body then reports every field, not just `type`.
  const type = SOURCES.length === 1 ? z.enum(SOURCE_TYPES) : z.literal(plugin.type);
  return z.strictObject({ name: Name, type, ...plugin.config.shape, ...plugin.credentials.shape });
}

/** The body that updates a source of one type: any of its name and settings. */
function updateBody(plugin: (typeof SOURCES)[number]) {
  return z.strictObject({ name: Name.optional(), ...plugin.config.partial().shape, ...plugin.credentials.partial().shape });
}

/** One of each type's create body, told apart by `type` (see {@link SOURCES}). */
const [firstCreate, ...moreCreate] = SOURCES.map(createBody) as NonEmpty<ReturnType<typeof createBody>>;
export const CreateSourceBody = (
  moreCreate.length === 0 ? firstCreate : z.discriminatedUnion("type", [firstCreate, ...moreCreate])
).openapi("CreateSource");

/** One of each type's update body; the route checks it against the source's own type. */
const [firstUpdate, ...moreUpdate] = SOURCES.map(updateBody) as NonEmpty<ReturnType<typeof updateBody>>;
export const UpdateSourceBody = (moreUpdate.length === 0 ? firstUpdate : z.union([firstUpdate, ...moreUpdate])).openapi("UpdateSource");

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
