import { z } from "@hono/zod-openapi";
import { httpUrl, rateLimit, secret } from "../fields";
import { TEMPLATE_VARIABLES, templateProblem } from "./path";

/** The file formats a files destination writes. */
const FILE_FORMATS = ["csv", "ndjson", "parquet"] as const;
export type FileFormat = (typeof FILE_FORMATS)[number];

/** The Worker's own bucket: exports there always live under `exports/{sync_id}/` (README "Destination files"). */
export const OWN_BUCKET = "SNAPSHOTS";

/** Largest file the destination writes: a file is assembled in memory (a Worker has 128 MB). */
const MAX_FILE_SIZE_MB = 64;

/** Files: a run's rows written as CSV, NDJSON or Parquet files to R2 or S3-compatible storage. */
export const FilesConfig = z
  .strictObject({
    target: z.enum(["r2", "s3"]).default("r2").openapi({
      description:
        "Where files go: `r2`, a bucket bound to this Worker (its own by default); `s3`, any S3-compatible storage (AWS S3, R2's S3 API, MinIO…) with endpoint, bucket and credentials.",
    }),
    r2_binding: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, { message: "must be a Worker binding name, e.g. EXPORTS" })
      .default(OWN_BUCKET)
      .openapi({
        description: `R2 only: the binding name of the bucket (wrangler.toml [[r2_buckets]]). ${OWN_BUCKET}, the Worker's own bucket, keeps exports under exports/{sync_id}/.`,
        example: "EXPORTS",
      }),
    endpoint: httpUrl
      .optional()
      .openapi({ description: "S3 only: the service endpoint, without the bucket.", example: "https://s3.eu-west-1.amazonaws.com" }),
    bucket: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
        message: "must be an S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)",
      })
      .optional()
      .openapi({ description: "S3 only: the bucket name (addressed path-style: endpoint/bucket/key).", example: "partner-drop" }),
    region: z
      .string()
      .regex(/^[a-z0-9-]{1,32}$/, { message: "must be a region name such as us-east-1 or auto" })
      .default("us-east-1")
      .openapi({ description: "S3 only: the signing region (R2's S3 API uses `auto`)." }),
    path: z
      .string()
      .max(512)
      .default("{{ sync_id }}/{{ date }}/")
      .superRefine((p, ctx) => {
        const problem = templateProblem(p);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      })
      .openapi({
        description: `Folder of each run's files, a template of ${TEMPLATE_VARIABLES.map((v) => `{{ ${v} }}`).join(", ")} (dates from the run's start, UTC). Files are named {run_id}-00001.{format}, with {run_id}.manifest.json beside them.`,
        example: "crm/{{ sync_id }}/{{ yyyy }}/{{ mm }}/{{ dd }}/",
      }),
    format: z
      .enum(FILE_FORMATS)
      .default("csv")
      .openapi({ description: "csv (RFC 4180, with a header), ndjson (one JSON object per line) or parquet." }),
    contents: z.enum(["changes", "full"]).default("changes").openapi({
      description:
        "`changes`: the run's operations, with an `_op` column (create, update, upsert, delete). `full`: every row of the model, each run (deleted keys are left out).",
    }),
    file_size_mb: z
      .number()
      .int()
      .min(1)
      .max(MAX_FILE_SIZE_MB)
      .default(32)
      .openapi({ description: `A run's rows go to one file, split into files of about this size (1-${MAX_FILE_SIZE_MB} MB) when larger.` }),
    batch_size: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(1000)
      .openapi({ description: "Rows per delivery batch (staged part), 1-10000." }),
    rate_limit: rateLimit,
  })
  .superRefine((c, ctx) => {
    if (c.target !== "s3") return;
    if (!c.endpoint) ctx.addIssue({ code: "custom", path: ["endpoint"], message: "an s3 target needs its endpoint" });
    if (!c.bucket) ctx.addIssue({ code: "custom", path: ["bucket"], message: "an s3 target needs its bucket" });
  })
  .openapi("FilesConfig");
export type FilesConfig = z.output<typeof FilesConfig>;

/** S3 access keys (an R2 target needs none: the Worker's binding is its access). */
export const FilesCredentials = z
  .strictObject({
    access_key_id: z.string().min(1).max(256).optional().openapi({ description: "S3 only: the access key id." }),
    secret_access_key: secret().optional().openapi({ description: "S3 only: the secret access key; never returned." }),
  })
  .openapi("FilesCredentials");
export type FilesCredentials = z.output<typeof FilesCredentials>;
