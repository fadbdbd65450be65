import type { FieldsAnswer } from "./destination";

/**
 * Field descriptions kept per isolate for a few minutes, so saving a sync and sending its batches
 * do not ask the destination's describe endpoint every time (Salesforce counts each call against
 * the org's daily allocation). Keyed by destination and its last update, so a changed config
 * (another object or table) is described afresh. Only successful answers are kept; concurrent
 * callers for the same key share one request.
 */

/** How long a description is trusted: a field added at the destination shows up within this. */
const FIELDS_TTL_MS = 5 * 60_000;
// Bounds the memory an isolate spends on descriptions (the oldest entry goes first).
const MAX_ENTRIES = 200;

const described = new Map<string, { answer: FieldsAnswer; until: number }>();
const pending = new Map<string, Promise<FieldsAnswer>>();

/** The cached description of `key` (unless `fresh`), or `describe()`'s answer (cached when it succeeded). */
export function cachedFields(key: string, describe: () => Promise<FieldsAnswer>, fresh = false): Promise<FieldsAnswer> {
  const hit = described.get(key);
  if (hit && !fresh && Date.now() < hit.until) return Promise.resolve(hit.answer);
  const inFlight = pending.get(key);
  if (inFlight) return inFlight;
  const request = describe()
    .then((answer) => {
      if (answer.ok) {
        described.delete(key);
        described.set(key, { answer, until: Date.now() + FIELDS_TTL_MS });
        const oldest = described.keys().next().value;
        if (described.size > MAX_ENTRIES && oldest !== undefined) described.delete(oldest);
      }
      return answer;
    })
    .finally(() => pending.delete(key));
  pending.set(key, request);
  return request;
}
