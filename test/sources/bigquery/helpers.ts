/**
 * The fake BigQuery (test/servers/bigquery.ts) for the BigQuery source tests: each test works in a
 * project of its own (its namespace there), whose key file the fake hands out.
 */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import type { WarehouseError } from "../../../src/sources/errors";
import { openSource } from "../../../src/sources/registry";
import type { Source, WarehouseOptions } from "../../../src/sources/source";
import { uniqueName } from "../../harness/run";

export const BIGQUERY_URL = env.BIGQUERY_URL;

export const OPTS: WarehouseOptions = { statementTimeoutMs: 10_000, allowPrivate: true };

/** A request the fake saw. */
export interface SeenRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  body?: Record<string, unknown>;
}

/** What the fake saw of a project: JWT grants (decoded), API requests, cancelled jobs. */
export interface ProjectState {
  grants: { header: Record<string, unknown>; claims: Record<string, unknown> }[];
  requests: SeenRequest[];
  cancelled: string[];
}

/** A fresh project on the fake and its service account key file (`rogue`: signed by a key the fake does not know). */
export async function newProject(rogue = false): Promise<{ project: string; keyFile: string }> {
  const project = uniqueName("bq");
  const res = await fetch(`${BIGQUERY_URL}/_fake/${project}/key${rogue ? "?rogue=1" : ""}`);
  expect(res.status).toBe(200);
  return { project, keyFile: await res.text() };
}

/** Sets the project's faults, page size or pending polls (test/servers/bigquery.ts ProjectConfig). */
export async function configure(project: string, config: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${BIGQUERY_URL}/_fake/${project}/config`, { method: "POST", body: JSON.stringify(config) });
  expect(res.status).toBe(200);
  await res.body?.cancel();
}

export async function projectState(project: string): Promise<ProjectState> {
  const res = await fetch(`${BIGQUERY_URL}/_fake/${project}/state`);
  expect(res.status).toBe(200);
  return (await res.json()) as ProjectState;
}

/** The source's settings as the API takes them. */
export function bigquerySource(project: string, keyFile: string) {
  return {
    config: { project_id: project, location: "US", endpoint: BIGQUERY_URL },
    credentials: { service_account_json: keyFile },
  };
}

export function openBigquery(project: string, keyFile: string, opts: WarehouseOptions = OPTS): Source {
  const s = bigquerySource(project, keyFile);
  return openSource("bigquery", JSON.stringify({ ...s.config, ...s.credentials }), opts);
}

/** Every line a model extracts, decoded as UTF-8. */
export async function extractLines(source: Source, sql: string): Promise<string[]> {
  const lines: string[] = [];
  const decoder = new TextDecoder();
  await source.extract(sql, { columns: (fields) => fields.map((f) => f.name), line: (bytes) => void lines.push(decoder.decode(bytes)) });
  return lines;
}

/** The WarehouseError a promise rejects with (fails the test if it resolves). */
export async function warehouseError(promise: Promise<unknown>): Promise<WarehouseError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "expected a WarehouseError").toMatchObject({ name: "WarehouseError" });
  return err as WarehouseError;
}
