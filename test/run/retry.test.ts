import { describe, expect, it } from "vitest";
import { DEFAULT_WAREHOUSE_RETRY, transientWarehouseError, warehouseRetryDelayMs, warehouseRetryPolicy } from "../../src/run/retry";
import { extractPageRows } from "../../src/run/steps/extract";
import { WarehouseError } from "../../src/sources/errors";
import { toWarehouseError } from "../../src/sources/postgres/errors";
import { TcpSocketError } from "../../src/sources/postgres/tcp-websocket";

/** An error as the Postgres driver throws it for an ErrorResponse with this SQLSTATE. */
const serverError = (code: string, message = `error ${code}`) => Object.assign(new Error(message), { severity: "ERROR", code });

describe("warehouse retry policy", () => {
  it("retries the transient failures of the issue's list, each mapped by the Postgres source", () => {
    const transient = [
      ["connection refused", toWarehouseError(new TcpSocketError("connect_failed", "connection refused"), "connect")],
      ["connection reset", toWarehouseError(new TcpSocketError("socket_error", "connection reset by peer"), "query")],
      ["connection ended", toWarehouseError(new Error("Connection terminated unexpectedly"), "query")],
      ["connect timeout", new WarehouseError("unreachable", "could not connect within 10000 ms")],
      ["57P01 admin shutdown", toWarehouseError(serverError("57P01"), "query")],
      ["57P03 cannot connect now", toWarehouseError(serverError("57P03"), "connect")],
      ["53300 too many connections", toWarehouseError(serverError("53300"), "connect")],
      ["40001 serialization failure", toWarehouseError(serverError("40001"), "query")],
      ["40P01 deadlock", toWarehouseError(serverError("40P01"), "query")],
      ["08006 connection failure", toWarehouseError(serverError("08006"), "query")],
    ] as const;
    expect(toWarehouseError(serverError("57P01"), "query").code).toBe("connection_lost");
    expect(toWarehouseError(serverError("57P01"), "connect").code).toBe("unreachable");
    for (const [what, err] of transient) {
      expect(err.retryable, what).toBe(true);
      expect(transientWarehouseError(err), what).toBe(true);
    }
  });

  it("does not retry what a retry cannot fix", () => {
    const permanent = [
      ["syntax error", toWarehouseError(serverError("42601"), "query")],
      ["undefined table", toWarehouseError(serverError("42P01"), "query")],
      ["wrong password", toWarehouseError(serverError("28P01"), "connect")],
      ["no such database", toWarehouseError(serverError("3D000"), "connect")],
      ["permission denied", toWarehouseError(serverError("42501"), "query")],
      ["not postgres", toWarehouseError(new TcpSocketError("not_postgres", "HTTP/1.1 400"), "connect")],
      ["tls refused", toWarehouseError(new TcpSocketError("tls_refused", "no TLS"), "connect")],
      // The model ran for the whole statement timeout: it would most likely run as long again.
      ["statement timeout", toWarehouseError(serverError("57014"), "query")],
      ["not a warehouse error", new Error("R2 put failed")],
    ] as const;
    for (const [what, err] of permanent) {
      expect(transientWarehouseError(err), what).toBe(false);
      expect(warehouseRetryDelayMs(err, 0), what).toBeNull();
    }
  });

  it("waits 1 s, 4 s and 16 s (±25 % jitter), then gives up", () => {
    const err = new WarehouseError("connection_lost", "reset");
    const at = (random: number) => [0, 1, 2, 3].map((n) => warehouseRetryDelayMs(err, n, DEFAULT_WAREHOUSE_RETRY, () => random));
    expect(at(0.5)).toEqual([1000, 4000, 16000, null]);
    expect(at(0)).toEqual([750, 3000, 12000, null]);
    expect(at(1)).toEqual([1250, 5000, 20000, null]);
    expect(DEFAULT_WAREHOUSE_RETRY.retries).toBeGreaterThanOrEqual(3);
  });

  it("takes its base from WAREHOUSE_RETRY_BASE_MS, or the default when unusable", () => {
    expect(warehouseRetryPolicy({ WAREHOUSE_RETRY_BASE_MS: "100" })).toEqual({ retries: 3, baseMs: 100 });
    for (const raw of [undefined, "", "x", "-1", "1e9"])
      expect(warehouseRetryPolicy({ WAREHOUSE_RETRY_BASE_MS: raw })).toEqual(DEFAULT_WAREHOUSE_RETRY);
  });
});

describe("keyset page size", () => {
  it("takes EXTRACT_PAGE_ROWS, or 100,000 when unusable", () => {
    expect(extractPageRows({ EXTRACT_PAGE_ROWS: "1000" })).toBe(1000);
    for (const raw of [undefined, "", "0", "-5", "1.5", "abc", "20000000"])
      expect(extractPageRows({ EXTRACT_PAGE_ROWS: raw })).toBe(100_000);
  });
});
