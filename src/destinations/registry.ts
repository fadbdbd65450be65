import type { z } from "@hono/zod-openapi";
import { maskCredentials } from "../lib/secrets";
import type { Destination, SyncShape } from "./destination";
import { braze } from "./braze";
import { customerio } from "./customerio";
import { isPrivateHost } from "./fields";
import { http } from "./http";
import { files } from "./files";
import { hubspot } from "./hubspot";
import { intercom } from "./intercom";
import { klaviyo } from "./klaviyo";
import { googleAds } from "./google_ads";
import { metaAudiences } from "./meta_audiences";
import { postgres } from "./postgres";
import { salesforce } from "./salesforce";
import { webhook } from "./webhook";

/**
 * Every destination type. A new type is its folder plus one entry here: the API's type enum and
 * request bodies (routes/destinations/schema.ts), the stored type (db/schema/destinations.ts), the
 * private-address refusal and openDestination() all come from this list.
 */
export const DESTINATIONS = [
  webhook,
  postgres,
  salesforce,
  hubspot,
  braze,
  customerio,
  klaviyo,
  intercom,
  http,
  googleAds,
  metaAudiences,
  files,
] as const;

type AnyDestination = (typeof DESTINATIONS)[number];
/** A destination type's name, e.g. "webhook". */
export type DestinationType = AnyDestination["type"];
/** The type names, in registry order (the API enum). */
export const DESTINATION_TYPES: readonly DestinationType[] = DESTINATIONS.map((d) => d.type);

type PluginOf<T extends DestinationType> = Extract<AnyDestination, { type: T }>;
/** Parsed config of a destination type, defaults applied: what its connector receives. */
export type DestinationConfig<T extends DestinationType> = z.output<PluginOf<T>["config"]>;
/** Parsed credentials of a destination type, after decryption: what its connector receives. */
export type DestinationCredentials<T extends DestinationType> = z.output<PluginOf<T>["credentials"]>;

// Indexed by type, so a generic `T` keeps config, credentials and connector together (TS #47109).
type DestinationsByType = { [T in DestinationType]: Destination<T, DestinationConfig<T>, DestinationCredentials<T>> };
// The cast only re-keys the list above; each entry's own type is checked where it is declared.
const BY_TYPE = Object.fromEntries(DESTINATIONS.map((d) => [d.type, d])) as DestinationsByType;

/** The plug-in of a destination type. */
export function destinationOf<T extends DestinationType>(type: T): DestinationsByType[T] {
  return BY_TYPE[type];
}

/**
 * What a run plans with, read from a destination's stored config without its credentials: the
 * batch limit, the default rate limit and whether every row is planned. Stored configs were
 * validated when saved, so one that no longer parses is an error, not a default.
 */
export function destinationLimits<T extends DestinationType>(type: T) {
  const plugin = destinationOf(type);
  const { connector } = plugin;
  const parsed = (storedConfig: unknown) => {
    const result = parseConfig(type, storedConfig);
    if (!result.ok)
      throw new Error(
        `the stored ${type} destination config is invalid: ${result.problems.map((p) => `${p.path} ${p.message}`).join("; ")}`,
      );
    return result.value;
  };
  return {
    defaultRateLimit: connector.defaultRateLimit,
    maxBatchSize: (storedConfig: unknown): number => connector.maxBatchSize(parsed(storedConfig)),
    /** Whether runs must plan every valid row (the plug-in's `plansEveryRow`). */
    plansEveryRow: (storedConfig: unknown): boolean => plugin.plansEveryRow?.(parsed(storedConfig)) ?? false,
  };
}

/** A bad field, with its dotted path from the request body (e.g. "config.url"). */
export interface SettingsProblem {
  path: string;
  message: string;
}

/** The outcome of validating a settings part: the parsed value (defaults applied) or each bad field. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; problems: SettingsProblem[] };

function problemsOf(prefix: string, error: z.ZodError): SettingsProblem[] {
  return error.issues.map((i) => ({ path: [prefix, ...i.path.map(String)].join("."), message: i.message }));
}

/** Validates `config` against its type's schema, applying defaults. */
export function parseConfig<T extends DestinationType>(type: T, config: unknown): Parsed<DestinationConfig<T>> {
  const result = destinationOf(type).config.safeParse(config);
  return result.success ? { ok: true, value: result.data } : { ok: false, problems: problemsOf("config", result.error) };
}

/** Validates `credentials` against its type's schema; absent (`null`) is a problem only where credentials are required. */
export function parseCredentials<T extends DestinationType>(type: T, credentials: unknown): Parsed<DestinationCredentials<T> | null> {
  const plugin = destinationOf(type);
  if (credentials === undefined || credentials === null) {
    return plugin.credentialsRequired
      ? { ok: false, problems: [{ path: "credentials", message: `a ${type} destination needs credentials` }] }
      : { ok: true, value: null };
  }
  const result = plugin.credentials.safeParse(credentials);
  return result.success ? { ok: true, value: result.data } : { ok: false, problems: problemsOf("credentials", result.error) };
}

/**
 * Credentials as safe-to-return masked values. Nested maps (webhook secret headers) are flattened
 * to dotted paths, e.g. `{"headers.X-Api-Key": "****"}`, in the same notation as error details.
 */
export function maskDestinationCredentials(credentials: Record<string, unknown>): Record<string, string> {
  const flat: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(credentials)) {
    if (value === undefined) continue;
    if (value !== null && typeof value === "object") {
      for (const [inner, v] of Object.entries(value)) flat[`${key}.${inner}`] = v;
    } else {
      flat[key] = value;
    }
  }
  return maskCredentials(flat);
}

/**
 * The hosts a destination would contact (its type's `hosts()`) that are private, loopback or
 * link-local, as problems to refuse at save time unless ALLOW_PRIVATE_DESTINATIONS. The connector
 * re-checks the resolved address at send time; this only catches literal hosts early.
 */
export function privateAddressProblems<T extends DestinationType>(
  type: T,
  config: DestinationConfig<T>,
  credentials: DestinationCredentials<T> | null,
): SettingsProblem[] {
  const problems: SettingsProblem[] = [];
  for (const { path, url, refusal } of destinationOf(type).hosts(config, credentials)) {
    if (URL.canParse(url) && isPrivateHost(new URL(url).hostname)) {
      problems.push({ path, message: refusal ?? "points at a private, loopback or link-local address, which destinations may not use" });
    }
  }
  return problems;
}

/**
 * What a destination's type finds wrong with a sync that would write to it (its `validateSync`
 * hook, e.g. HubSpot's `id_property` must be mapped), as problems with paths from the sync body.
 * A stored config that no longer parses is left to the destination's own checks.
 */
export function syncProblems<T extends DestinationType>(type: T, storedConfig: unknown, sync: SyncShape): SettingsProblem[] {
  const plugin = destinationOf(type);
  if (!plugin.modes.includes(sync.mode)) {
    return [{ path: "mode", message: `a ${type} destination supports the modes ${plugin.modes.join(", ")}, not ${sync.mode}` }];
  }
  const parsed = parseConfig(type, storedConfig);
  if (!parsed.ok || !plugin.validateSync) return [];
  return plugin.validateSync(parsed.value, sync);
}

/**
 * Destination fields an update of a sync that sends changed fields carries even when unchanged:
 * the field the primary key is mapped to, and the plug-in's {@link Destination.identityFields}.
 */
export function identityFields<T extends DestinationType>(type: T, storedConfig: unknown, sync: SyncShape): string[] {
  const plugin = destinationOf(type);
  const fields = sync.mappings.filter((m) => m.source === sync.primaryKey).map((m) => m.destination);
  const parsed = parseConfig(type, storedConfig);
  if (parsed.ok && plugin.identityFields) fields.push(...plugin.identityFields(parsed.value, sync));
  return [...new Set(fields)];
}
