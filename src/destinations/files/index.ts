import type { Destination } from "../destination";
import { filesConnector } from "./connector";
import { FilesConfig, FilesCredentials } from "./schema";

/**
 * Files destination: a run's rows as CSV, NDJSON or Parquet files, with a manifest, in an R2
 * bucket bound to the Worker or in S3-compatible storage. Credentials only for S3.
 */
export const files: Destination<"files", FilesConfig, FilesCredentials> = {
  type: "files",
  config: FilesConfig,
  credentials: FilesCredentials,
  modes: ["upsert", "mirror", "append"],
  credentialsRequired: false,
  hosts: (config) => (config.target === "s3" && config.endpoint ? [{ path: "config.endpoint", url: config.endpoint }] : []),
  plansEveryRow: (config) => config.contents === "full",
  connector: filesConnector,
};
