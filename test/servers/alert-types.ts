/**
 * Shapes of the alert fakes (alert-receiver.ts, slack.ts, pagerduty.ts), shared by the servers
 * (Node) and the tests that drive them (workerd): no Node imports here.
 */

/** A canned answer for the next request(s). */
export interface CannedAnswer {
  status: number;
  /** Response body as text (Slack answers plain strings such as `invalid_payload`). */
  body?: string;
  retry_after?: string;
  /** How many requests get it; default 1. */
  times?: number;
}

/** One request a fake received, and what it answered. */
export interface ReceivedRequest {
  /** Arrival time, the server's clock (epoch ms). */
  at: number;
  path: string;
  /** Request headers, lower-cased names. */
  headers: Record<string, string>;
  /** The exact body received, as text (signatures are checked over it). */
  raw: string;
  status: number;
  /** The answer's body. */
  answer: string;
}

/** `GET /_state/{name}`: every request of the namespace, in order. */
export interface FakeState {
  requests: ReceivedRequest[];
}

/** `GET /_state/{routing_key}` of the PagerDuty fake: its requests and the alerts by dedup_key. */
export interface PagerDutyState extends FakeState {
  alerts: Record<string, { status: "triggered" | "resolved"; summary: string; severity: string; events: number }>;
}
