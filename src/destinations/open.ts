import { and, eq } from "drizzle-orm";
import type { Database } from "../db/client";
import { destinations } from "../db/schema";
import { messageOf, type RateSignal, standardRateSignal } from "../lib/http";
import { decryptSecret } from "../lib/secrets";
import type { Batch, ConnectionTest, FieldsAnswer, FinishedRun, RateLimit, SendOutcome } from "./destination";
import { cachedFields } from "./field-cache";
import { type DestinationType, destinationOf, parseConfig } from "./registry";

/**
 * A destination ready to use: its stored config parsed by its type's schema, its credentials
 * decrypted and parsed (and kept inside: nothing outside reads them), its connector bound to both.
 */
export interface OpenedDestination {
  id: string;
  type: DestinationType;
  /** The destination's own rate limit, or the connector's default for each part it leaves out. */
  rateLimit: RateLimit;
  /** Most operations one send may carry. */
  maxBatchSize: number;
  /** Asks the destination whether it accepts the credentials (and the object or table exists). */
  test(): Promise<ConnectionTest>;
  /**
   * Sends one batch; the outcome is classified, errors are answers. `onSignal` hears what each
   * response said about the rate limit (the vendor's headers, read by its connector);
   * `onResponse` each response's status and body (the run log keeps the last one).
   */
  send(batch: Batch, onSignal?: (signal: RateSignal) => void, onResponse?: (status: number, body: string) => void): Promise<SendOutcome>;
  /** The connector's end-of-run hook ({@link Connector.finishRun}); `{ok: true}` for types without one. */
  finishRun(run: FinishedRun): Promise<ConnectionTest>;
  /**
   * The destination object's fields as its API describes them, cached a few minutes per isolate
   * (field-cache.ts) unless `fresh`; never throws. Absent when the type cannot describe its fields (a webhook).
   */
  fields?: (fresh?: boolean) => Promise<FieldsAnswer>;
  /** Delivery casts mapped values to the described types, unless the destination does it itself. */
  castsValues: boolean;
}

/**
 * The opened destination, or why it could not be opened: `not_found` (no such destination in the
 * workspace) or `unreadable` (its credentials do not decrypt, or its stored settings no longer parse).
 */
type OpenResult = { ok: true; destination: OpenedDestination } | { ok: false; reason: "not_found" | "unreadable"; error: string };

/** What opening needs from the Worker env: its settings, and its R2 bindings for the files destination. */
export type OpenEnv = Env;

/**
 * Loads destination `id` of the workspace, decrypts and parses its credentials and config with its
 * type's schemas, and returns its connector bound to them. The one place credentials are read.
 */
export async function openDestination(db: Database, env: OpenEnv, workspaceId: string, id: string): Promise<OpenResult> {
  const row = await db.query.destinations.findFirst({
    where: and(eq(destinations.id, id), eq(destinations.workspaceId, workspaceId)),
  });
  if (!row) return { ok: false, reason: "not_found", error: `destination ${id} does not exist` };
  let plaintext: string | null = null;
  if (row.credentialsCiphertext) {
    try {
      // The destination id is the additional data: a ciphertext copied to another row does not decrypt.
      plaintext = await decryptSecret(env.ENCRYPTION_KEY, row.credentialsCiphertext, row.id);
    } catch {
      return { ok: false, reason: "unreadable", error: "the stored credentials cannot be decrypted; set them again" };
    }
  }
  return bind(row.type, row.id, row.updatedAt, row.config, plaintext, {
    allowPrivate: env.ALLOW_PRIVATE_DESTINATIONS === "true",
    // Unbound, workerd's fetch throws "Illegal invocation" when called as a method of another object.
    fetch: globalThis.fetch.bind(globalThis),
    bucket: (binding) => r2BindingOf(env, binding),
  });
}

/** The env's binding `name` when it is an R2 bucket (never another kind of binding). */
function r2BindingOf(env: OpenEnv, name: string): R2Bucket | undefined {
  const value: unknown = Object.hasOwn(env, name) ? (env as unknown as Record<string, unknown>)[name] : undefined;
  const isBucket =
    typeof value === "object" &&
    value !== null &&
    ["put", "get", "list", "delete", "createMultipartUpload"].every((m) => typeof (value as Record<string, unknown>)[m] === "function");
  return isBucket ? (value as R2Bucket) : undefined;
}

function bind<T extends DestinationType>(
  type: T,
  id: string,
  updatedAt: string,
  storedConfig: unknown,
  credentialsJson: string | null,
  io: { allowPrivate: boolean; fetch: typeof fetch; bucket: (binding: string) => R2Bucket | undefined },
): OpenResult {
  const plugin = destinationOf(type);
  const config = parseConfig(type, storedConfig);
  if (!config.ok) return unreadable(`the stored config is invalid (${config.problems[0]?.path}); set it again`);
  if (credentialsJson === null && plugin.credentialsRequired) {
    return unreadable(`a ${type} destination needs credentials; set them`);
  }
  let stored: unknown;
  try {
    // Types that work without credentials (webhook) get their schema's empty value.
    stored = credentialsJson === null ? {} : JSON.parse(credentialsJson);
  } catch {
    return unreadable("the stored credentials are not JSON; set them again");
  }
  const credentials = plugin.credentials.safeParse(stored);
  if (!credentials.success) return unreadable("the stored credentials are invalid; set them again");

  const { connector } = plugin;
  const ctx = { config: config.value, credentials: credentials.data, ...io };
  const own = config.value.rate_limit;
  const destination: OpenedDestination = {
    id,
    type,
    rateLimit: {
      requestsPerSecond: own?.requests_per_second ?? connector.defaultRateLimit.requestsPerSecond,
      concurrency: own?.concurrency ?? connector.defaultRateLimit.concurrency,
    },
    maxBatchSize: connector.maxBatchSize(config.value),
    castsValues: connector.castsValues === true,
    test: () => connector.test(ctx),
    send: (batch, onSignal, onResponse) => {
      if (!onSignal && !onResponse) return connector.send(ctx, batch);
      const observe = (status: number, headers: Headers, body: string) => {
        onSignal?.(connector.rateSignal ? connector.rateSignal(status, headers) : standardRateSignal(status, headers));
        onResponse?.(status, body);
      };
      return connector.send({ ...ctx, observe }, batch);
    },
    finishRun: (run) => (connector.finishRun ? connector.finishRun(ctx, run) : Promise.resolve({ ok: true })),
  };
  const { fields } = connector;
  // Keyed by the destination's last update: a changed config (another object, table) is described afresh.
  if (fields) {
    // Connectors answer refusals themselves; anything thrown is still an answer, never a 500.
    destination.fields = (fresh) =>
      cachedFields(`${id}@${updatedAt}`, () => fields(ctx), fresh).catch((err: unknown) => ({
        ok: false,
        error: `describing the fields failed: ${messageOf(err)}`,
      }));
  }
  return { ok: true, destination };
}

function unreadable(error: string): OpenResult {
  return { ok: false, reason: "unreadable", error };
}
