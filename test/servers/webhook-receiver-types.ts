/** Shapes of the webhook receiver's answers (webhook-receiver.ts) for tests inside workerd: no Node imports here. */

/** An endpoint's counters, as `GET /state/{endpoint}` returns them. */
export interface ReceiverStats {
  faults_served: Record<string, number>;
  replays: number;
  /** Same Idempotency-Key with a different body: a sender reusing a key for other data. */
  idempotency_conflicts: number;
  record_rejections: number;
  batch_rejections: number;
  /** `create` applied to a key the receiver already held. */
  duplicate_creates: number;
  /** `update` applied to a key the receiver did not hold. */
  updates_of_missing: number;
  /** `delete` applied to a key the receiver did not hold. */
  deletes_of_missing: number;
}
