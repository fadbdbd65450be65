import type { JsonValue } from "../sources/source";
import { compileTemplate, type CompiledTemplate, TemplateError } from "./template";

/**
 * What a sync sends to one destination field: a model column, a constant, or a Liquid template of
 * the row's columns (src/sync/template.ts).
 */
export type FieldMapping = ColumnMapping | StaticMapping | TemplateMapping;
interface ColumnMapping {
  source: string;
  destination: string;
}
interface StaticMapping {
  static: JsonValue;
  destination: string;
}
interface TemplateMapping {
  template: string;
  destination: string;
}

/** Whether a null field is sent (clearing it at the destination) or left out (keeping what is there). */
export const NULL_VALUES = ["send", "skip"] as const;
export type NullValues = (typeof NULL_VALUES)[number];

/**
 * What an update carries: every mapped field, or only those whose values changed since the last
 * delivered state (plus the fields the destination finds the record by).
 */
export const SEND_FIELDS = ["all_fields", "changed_fields"] as const;
export type SendFields = (typeof SEND_FIELDS)[number];

export interface MappingProblem {
  path: string;
  message: string;
}

/**
 * The model columns a sync reads, in order: each mapped column (as often as it is mapped), then each
 * column a template reads that no mapping names. Only column mappings: the same list as before
 * static and template mappings existed, so existing snapshots keep their hashes.
 */
export function mappingColumns(mappings: readonly FieldMapping[]): string[] {
  const columns = mappings.flatMap((m) => ("source" in m ? [m.source] : []));
  for (const m of mappings) {
    if (!("template" in m)) continue;
    for (const name of compileTemplate(m.template).variables) if (!columns.includes(name)) columns.push(name);
  }
  return columns;
}

/**
 * Per mapping, the positions in {@link mappingColumns} of the columns its value depends on: a
 * column mapping's column, a template's columns, none for a constant.
 */
export function mappingColumnIndexes(mappings: readonly FieldMapping[]): number[][] {
  const columns = mappingColumns(mappings);
  let column = 0;
  return mappings.map((m) => {
    if ("source" in m) return [column++];
    if ("static" in m) return [];
    return compileTemplate(m.template).variables.map((v) => columns.indexOf(v));
  });
}

/**
 * What seeds a row's hash besides its values: a column mapping's destination field, a constant's or
 * template's definition too, so editing either sends every row again.
 */
export function mappingSeedParts(mappings: readonly FieldMapping[]): string[] {
  return mappings.map((m) => {
    if ("source" in m) return m.destination;
    return "static" in m ? `${m.destination}\0static\0${JSON.stringify(m.static)}` : `${m.destination}\0template\0${m.template}`;
  });
}

/**
 * A row's destination fields from its values (typed JSON, in {@link mappingColumns} order).
 * Templates are compiled once. Throws {@link TemplateError} when a template fails on a row.
 */
export function fieldMaker(
  mappings: readonly FieldMapping[],
  nullValues: NullValues = "send",
): (values: readonly JsonValue[]) => Record<string, JsonValue> {
  const columns = mappingColumns(mappings);
  const templates = new Map<number, CompiledTemplate>();
  mappings.forEach((m, i) => {
    if ("template" in m) templates.set(i, compileTemplate(m.template));
  });
  return (values) => {
    const out: Record<string, JsonValue> = {};
    let scope: Record<string, JsonValue> | undefined;
    let column = 0;
    mappings.forEach((m, i) => {
      let value: JsonValue;
      if ("source" in m) value = values[column++] ?? null;
      else if ("static" in m) value = m.static;
      else {
        scope ??= scopeOf(columns, values);
        value = (templates.get(i) as CompiledTemplate).render(scope);
      }
      if (value === null && nullValues === "skip") return;
      out[m.destination] = value;
    });
    return out;
  };
}

/** A row's values by column name (a column mapped twice has one value). */
function scopeOf(columns: readonly string[], values: readonly JsonValue[]): Record<string, JsonValue> {
  const scope: Record<string, JsonValue> = {};
  columns.forEach((c, k) => {
    if (!(c in scope)) scope[c] = values[k] ?? null;
  });
  return scope;
}

/**
 * Problems with a sync's field mappings against its model's columns: every source must be a column,
 * every template must compile and read only columns, every destination field unique. Returns an
 * empty list when the mappings are valid.
 */
export function checkFieldMappings(mappings: readonly FieldMapping[], columns: readonly string[]): MappingProblem[] {
  const known = new Set(columns);
  const seen = new Map<string, number>();
  const problems: MappingProblem[] = [];
  const list = `columns: ${columns.join(", ")}`;
  mappings.forEach((m, i) => {
    if ("source" in m && !known.has(m.source)) {
      problems.push({ path: `field_mappings.${i}.source`, message: `"${m.source}" is not a column of the model (${list})` });
    }
    if ("template" in m) {
      try {
        const missing = compileTemplate(m.template).variables.filter((v) => !known.has(v));
        if (missing.length > 0) {
          problems.push({
            path: `field_mappings.${i}.template`,
            message: `the template reads ${missing.map((v) => `"${v}"`).join(", ")}, not a column of the model (${list})`,
          });
        }
      } catch (err) {
        if (!(err instanceof TemplateError)) throw err;
        problems.push({ path: `field_mappings.${i}.template`, message: `invalid template: ${err.message}` });
      }
    }
    const first = seen.get(m.destination);
    if (first !== undefined) {
      problems.push({
        path: `field_mappings.${i}.destination`,
        message: `"${m.destination}" is already mapped by field_mappings.${first}`,
      });
    } else {
      seen.set(m.destination, i);
    }
  });
  return problems;
}
