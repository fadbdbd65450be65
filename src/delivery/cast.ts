import type { Operation } from "../destinations/destination";
import type { OpenedDestination } from "../destinations/open";
import type { FailureOutcome } from "../lib/http";
import { log } from "../lib/log";
import { castFields } from "../sync/cast";
import type { BatchRowResult } from "./message";

/** A batch's operations after casting: those to send, the rows that failed, or why not to send now. */
export interface CastBatch {
  send: Operation[];
  failed: BatchRowResult[];
  /** The description failed in a way that is the batch's answer (a 429, a spent quota, refused credentials). */
  outcome?: FailureOutcome;
}

/**
 * Casts each operation's mapped values to the types of the destination's fields (described once
 * and cached, src/destinations/field-cache.ts), just before the batch is sent, inside its rate
 * slot: the describe call counts against the destination like a send. A row whose value cannot be
 * cast fails alone, with the field and value named; the others are sent. Types that cast values
 * themselves (Postgres, exactly) or cannot describe their fields get the values as they are, and
 * so does every type whose description fails for a reason that is not the batch's to wait on (an
 * unknown object, a bad answer): the destination then judges the values itself, as it did before.
 */
export async function castBatch(
  destination: OpenedDestination,
  operations: Operation[],
  context: Record<string, unknown>,
): Promise<CastBatch> {
  const asIs: CastBatch = { send: operations, failed: [] };
  if (!destination.fields || destination.castsValues || operations.every((o) => o.op === "delete")) return asIs;
  const answer = await destination.fields();
  if (!answer.ok) {
    if (answer.failure && answer.failure.kind !== "rejected") return { ...asIs, outcome: answer.failure };
    log("batch_sent_uncast", { ...context, error: answer.error }, "warn");
    return asIs;
  }
  const described = new Map(answer.fields.map((f) => [f.name, f]));
  const result: CastBatch = { send: [], failed: [] };
  for (const op of operations) {
    if (op.op === "delete") {
      result.send.push(op);
      continue;
    }
    const cast = castFields(op.fields, described);
    if (cast.ok) result.send.push({ ...op, fields: cast.fields });
    else result.failed.push({ key: op.key, op: op.op, ok: false, error: cast.error });
  }
  return result;
}
