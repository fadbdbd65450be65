import { expect } from "vitest";
import type { Batch, Operation, SendOutcome } from "../../src/destinations/destination";
import { type DestinationConfig, type DestinationType, parseConfig } from "../../src/destinations/registry";

/** A batch with a fresh id (or the given one) around `operations`. */
export function batchOf(operations: Operation[], batchId = `bat_${crypto.randomUUID()}`): Batch {
  return { sync_id: "syn_test", run_id: "run_test", batch_id: batchId, operations };
}

/** A config parsed by its type's schema (defaults applied), as the routes hand it on; throws when invalid. */
export function parsedConfig<T extends DestinationType>(type: T, config: unknown): DestinationConfig<T> {
  const parsed = parseConfig(type, config);
  if (!parsed.ok) throw new Error(`invalid ${type} config: ${JSON.stringify(parsed.problems)}`);
  return parsed.value;
}

/** A unique name for a test's namespace on a fake server (or a table). */
export function uniqueName(prefix: string): string {
  return `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

/** POSTs JSON to a fake server's control endpoint and checks it took it. */
export async function control(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  expect(res.status, await res.clone().text()).toBe(200);
  await res.body?.cancel();
}

/** GETs a fake server's state as JSON. */
export async function stateOf<T>(url: string): Promise<T> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

/** Asserts per-row results and returns them keyed, printing the whole outcome when it is not `results`. */
export function rowsOf(outcome: SendOutcome): Map<string, { ok: boolean; error?: string; not_found?: true }> {
  expect(outcome.kind, JSON.stringify(outcome)).toBe("results");
  if (outcome.kind !== "results") return new Map();
  return new Map(
    outcome.results.map((r) => [
      r.key,
      r.ok ? { ok: true } : { ok: false, error: r.error, ...(r.not_found ? { not_found: true as const } : {}) },
    ]),
  );
}

/** Asserts an outcome's kind, printing it when it differs, and returns it narrowed. */
export function expectKind<K extends SendOutcome["kind"]>(outcome: SendOutcome, kind: K): Extract<SendOutcome, { kind: K }> {
  expect(outcome.kind, JSON.stringify(outcome)).toBe(kind);
  return outcome as Extract<SendOutcome, { kind: K }>;
}

/** A fetch that fails the test if the connector calls it (the request must be refused before). */
export const forbiddenFetch: typeof fetch = async (input) => {
  throw new Error(`fetch must not be called, was called for ${String(input instanceof Request ? input.url : input)}`);
};
