import { z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import type { Database } from "../../db/client";
import { models } from "../../db/schema";
import { notFound } from "../../api/errors";
import { ErrorSchema, Name } from "../../api/openapi";

/** One column of a model's query. */
export const ModelColumnSchema = z
  .object({
    name: z.string(),
    type: z.string().openapi({ description: 'Postgres type name, e.g. "int8", "text", "timestamptz".' }),
  })
  .openapi("ModelColumn");

/** A model as the API returns it. */
export const ModelSchema = z
  .object({
    id: z.string().openapi({ example: "mod_01jd2x3y4z5a6b7c8d9e0f1g2h" }),
    name: z.string(),
    source_id: z.string(),
    sql: z.string(),
    primary_key: z.string(),
    columns: z.array(ModelColumnSchema).openapi({ description: "Learned from the warehouse when the SQL was saved." }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Model");

export const Sql = z
  .string()
  .trim()
  .min(1)
  .max(100_000)
  .openapi({ description: "One read-only SELECT; it runs in a read-only transaction.", example: "SELECT id, email FROM customers" });
const PrimaryKey = z.string().min(1).max(255).openapi({ description: "The column that identifies a row.", example: "id" });
export const SourceId = z.string().max(64).openapi({ example: "src_01jd2x3y4z5a6b7c8d9e0f1g2h" });

/** POST body; unknown fields are refused. */
export const CreateModelBody = z
  .strictObject({ name: Name, source_id: SourceId, sql: Sql, primary_key: PrimaryKey })
  .openapi("CreateModel");

/** PUT body: any subset of the create fields. */
export const UpdateModelBody = z
  .strictObject({ name: Name.optional(), source_id: SourceId.optional(), sql: Sql.optional(), primary_key: PrimaryKey.optional() })
  .openapi("UpdateModel");

/** A row of the models table. */
export type ModelRow = typeof models.$inferSelect;

/** The API shape of a model row. */
export function serializeModel(row: ModelRow): z.infer<typeof ModelSchema> {
  return {
    id: row.id,
    name: row.name,
    source_id: row.sourceId,
    sql: row.sql,
    primary_key: row.primaryKey,
    columns: row.columns,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}

/** The model `id` of the workspace, or a 404. */
export async function loadModel(db: Database, workspaceId: string, id: string): Promise<ModelRow> {
  const row = await db.query.models.findFirst({ where: and(eq(models.id, id), eq(models.workspaceId, workspaceId)) });
  if (!row) throw notFound("model", id);
  return row;
}

/** 422 for operations that reach the warehouse. */
export const sourceErrorResponse = {
  422: {
    description: "The source's warehouse could not be reached, refused the login or timed out (`source_error`).",
    content: { "application/json": { schema: ErrorSchema } },
  },
} as const;
