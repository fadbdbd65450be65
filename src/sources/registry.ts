import { blockedHostReason } from "../lib/ssrf";
import { bigquery } from "./bigquery";
import { WarehouseError } from "./errors";
import { clickhouse } from "./clickhouse";
import { databricks } from "./databricks";
import { mysql } from "./mysql";
import { postgres } from "./postgres";
import { redshift } from "./redshift";
import { snowflake } from "./snowflake";
import type { Source, SourcePlugin, WarehouseOptions } from "./source";

/**
 * Every source type. The API's type enum, request bodies and OpenAPI entries
 * (src/routes/sources/schema.ts) and the stored type (src/db/schema/sources.ts) derive from this
 * list: a new source type is its folder plus one line here.
 */
export const SOURCES = [postgres, redshift, clickhouse, mysql, bigquery, databricks, snowflake] as const;

/** A source type, as the API takes it and D1 stores it. */
export type SourceType = (typeof SOURCES)[number]["type"];

/** Every source type, for `z.enum`. */
export const SOURCE_TYPES = SOURCES.map((s) => s.type) as [SourceType, ...SourceType[]];

/** The plug-in of a source type. */
export function sourcePlugin(type: SourceType): SourcePlugin {
  const plugin: SourcePlugin | undefined = SOURCES.find((s) => s.type === type);
  if (!plugin) throw new Error(`unknown source type ${type}`);
  return plugin;
}

/**
 * A source from its stored type and decrypted secret (see {@link SourcePlugin.seal}). Unless
 * `opts.allowPrivate`, every host the plug-in names goes through the SSRF guard first; a refused
 * one makes a source whose calls fail with `host_not_allowed` (its test reports it).
 */
export function openSource(type: SourceType, secret: string, opts: WarehouseOptions): Source {
  const plugin = sourcePlugin(type);
  const settings = plugin.unseal(secret);
  const refused = opts.allowPrivate ? undefined : refusedHost(plugin, settings);
  return refused ? failingSource(refused) : plugin.open(settings, opts);
}

/** Why the plug-in may not contact one of its hosts (src/lib/ssrf.ts), or `undefined`. */
function refusedHost(plugin: SourcePlugin, settings: ReturnType<SourcePlugin["unseal"]>): WarehouseError | undefined {
  let hosts: string[];
  try {
    hosts = plugin.hosts(settings);
  } catch (err) {
    if (err instanceof WarehouseError) return err;
    throw err;
  }
  for (const host of hosts) {
    const reason = blockedHostReason(host);
    if (reason) return new WarehouseError("host_not_allowed", `${reason}; private and local hosts are not allowed`);
  }
  return undefined;
}

/** A source that cannot be used: every call fails with `error`, and its test reports it. */
function failingSource(error: WarehouseError): Source {
  const fail = () => Promise.reject(error);
  return {
    test: async () => ({ ok: false, error: { code: error.code, message: error.message } }),
    describe: fail,
    preview: fail,
    estimateRows: fail,
    extract: fail,
  };
}
