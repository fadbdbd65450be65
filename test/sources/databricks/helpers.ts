/** The fake Databricks workspace (test/servers/databricks.ts) for the Databricks source tests. */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import type { WarehouseError } from "../../../src/sources/errors";
import { openSource } from "../../../src/sources/registry";
import type { Source, WarehouseOptions } from "../../../src/sources/source";
import { uniqueName } from "../../harness/run";

export const opts: WarehouseOptions = { statementTimeoutMs: 10_000, allowPrivate: true };

/** A fresh workspace on the fake, with `config` (see WorkspaceConfig there); returns its host URL. */
export async function workspace(config: Record<string, unknown> = {}): Promise<string> {
  const host = `${env.DATABRICKS_URL}/t/${uniqueName("dbx")}`;
  await configure(host, config);
  return host;
}

/** Replaces the workspace's config (unspecified fields go back to their defaults). */
export async function configure(host: string, config: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${host}/_config`, { method: "POST", body: JSON.stringify(config) });
  expect(res.status, await res.clone().text()).toBe(200);
  await res.body?.cancel();
}

/** What the workspace saw. */
export interface WorkspaceState {
  requests: { method: string; path: string; status: number }[];
  statements: { id: string; sql: string; state: string }[];
  token_grants: number;
  downloads: { chunk: number; status: number; authorization: boolean }[];
}

export async function workspaceState(host: string): Promise<WorkspaceState> {
  const res = await fetch(`${host}/_state`);
  expect(res.status).toBe(200);
  return (await res.json()) as WorkspaceState;
}

/** Settings with a personal access token (the fake accepts `dapi-test-token`). */
export const patSettings = (host: string, token = "dapi-test-token") => ({
  host,
  warehouse_id: "wh-test",
  catalog: "main",
  schema: "public",
  token,
});

/** Settings of a service principal (OAuth M2M; the fake's is `retl-sp` / `sp-secret`). */
export const oauthSettings = (host: string, secret = "sp-secret") => ({
  host,
  warehouse_id: "wh-test",
  catalog: "main",
  schema: "public",
  client_id: "retl-sp",
  client_secret: secret,
});

export const open = (settings: Record<string, unknown>, o: WarehouseOptions = opts): Source =>
  openSource("databricks", JSON.stringify(settings), o);

/** Every line a model extracts, decoded. */
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
