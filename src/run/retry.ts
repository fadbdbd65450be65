import { WarehouseError } from "../sources/errors";

/**
 * When a run reads the warehouse again after a transient failure: `retries` times at most per run
 * (so `retries + 1` tries), waiting `baseMs × 4^(n-1)` before retry n, jittered to 75–125 % so the
 * runs of many syncs hit by one warehouse restart do not all come back at the same instant.
 */
export interface WarehouseRetryPolicy {
  retries: number;
  baseMs: number;
}

/** 3 retries after 1 s, 4 s and 16 s: rides out a warehouse restart or failover of about 20 s. */
export const DEFAULT_WAREHOUSE_RETRY: WarehouseRetryPolicy = { retries: 3, baseMs: 1000 };

/**
 * The policy of this deployment: `WAREHOUSE_RETRY_BASE_MS` (a Worker var) shortens or stretches the
 * waits (tests shorten them); a missing or unusable value takes the default.
 */
export function warehouseRetryPolicy(vars: { WAREHOUSE_RETRY_BASE_MS?: string }): WarehouseRetryPolicy {
  const raw = vars.WAREHOUSE_RETRY_BASE_MS;
  const base = raw === undefined || raw.trim() === "" ? Number.NaN : Number(raw);
  const baseMs = Number.isFinite(base) && base >= 0 && base <= 60_000 ? base : DEFAULT_WAREHOUSE_RETRY.baseMs;
  return { ...DEFAULT_WAREHOUSE_RETRY, baseMs };
}

/**
 * Whether trying the read again may succeed: the source marked the error `retryable` (connection
 * refused, reset or lost, admin shutdown, too many connections, serialization failure, deadlock,
 * connect timeout). A statement timeout is the exception: the model ran for the whole timeout and
 * would most likely run as long again, so a retry would only hold the warehouse longer.
 */
export function transientWarehouseError(err: unknown): err is WarehouseError {
  return err instanceof WarehouseError && err.retryable && err.code !== "timeout";
}

/**
 * Milliseconds to wait before retry `retriesSoFar + 1` after `err`, or null when the run must fail
 * instead (a permanent error, or the retries are spent). `random` is injectable for tests.
 */
export function warehouseRetryDelayMs(
  err: unknown,
  retriesSoFar: number,
  policy: WarehouseRetryPolicy = DEFAULT_WAREHOUSE_RETRY,
  random: () => number = Math.random,
): number | null {
  if (!transientWarehouseError(err) || retriesSoFar >= policy.retries) return null;
  const nominal = policy.baseMs * 4 ** retriesSoFar;
  return Math.round(nominal * (0.75 + random() * 0.5));
}
