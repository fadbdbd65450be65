import { postgres } from "./postgres";
import type { Source, SourcePlugin, WarehouseOptions } from "./source";

/**
 * Every source type. The API's type enum, request bodies and OpenAPI entries
 * (src/routes/sources/schema.ts) and the stored type (src/db/schema/sources.ts) derive from this
 * list: a new source type is its folder plus one line here.
 */
export const SOURCES = [postgres] as const;

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

/** A source from its stored type and decrypted secret (see {@link SourcePlugin.seal}). */
export function openSource(type: SourceType, secret: string, opts: WarehouseOptions): Source {
  const plugin = sourcePlugin(type);
  return plugin.open(plugin.unseal(secret), opts);
}
