import type { ModelColumn } from "../db/schema";

// PLACEHOLDER: implemented by the warehouse helper (see task). Signatures are the contract.
export interface WarehouseOptions {
  statementTimeoutMs: number;
  allowPrivate: boolean;
}

export function warehouseOptions(env: Env): WarehouseOptions {
  return {
    statementTimeoutMs: Number(env.WAREHOUSE_STATEMENT_TIMEOUT_MS) || 300_000,
    allowPrivate: env.ALLOW_PRIVATE_DESTINATIONS === "true",
  };
}

export interface ConnectionTest {
  ok: boolean;
  latency_ms?: number;
  server_version?: string;
  error?: { code: string; message: string };
}

export async function testConnection(_connectionString: string, _opts: WarehouseOptions): Promise<ConnectionTest> {
  throw new Error("not implemented");
}

export async function describeQuery(_cs: string, _sql: string, _opts: WarehouseOptions): Promise<ModelColumn[]> {
  throw new Error("not implemented");
}
