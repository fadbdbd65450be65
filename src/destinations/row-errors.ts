import { truncate } from "../lib/http";
import type { Operation, RowResult } from "./destination";

/** A row of a request: its place in the batch and its operation. */
interface Placed {
  index: number;
  op: Operation;
}

/** An error a vendor answered, tied to the request entry at `at` (undefined when it names none). */
export interface PositionedError {
  at: number | undefined;
  message: string;
}

/**
 * Per-row results from errors a vendor ties to the positions of a request's entries (Braze's
 * `index`, Customer.io's `batch_index`): a row with errors fails with them joined, the others
 * succeed; an error tied to no entry fails every row without its own, since nothing says which it hit.
 */
export function resultsByPosition(items: readonly Placed[], errors: readonly PositionedError[], results: Map<number, RowResult>): void {
  const failed = new Map<number, string>();
  let untied: string | undefined;
  for (const { at, message } of errors) {
    if (at !== undefined && Number.isInteger(at) && at >= 0 && at < items.length)
      failed.set(at, failed.has(at) ? `${failed.get(at)}; ${message}` : message);
    else untied ??= message;
  }
  for (const [i, { index, op }] of items.entries()) {
    const error = failed.get(i) ?? untied;
    results.set(index, error === undefined ? { key: op.key, ok: true } : { key: op.key, ok: false, error: truncate(error, 1000) });
  }
}
