/** One model column sent to one destination field. */
export interface FieldMapping {
  source: string;
  destination: string;
}

export interface MappingProblem {
  path: string;
  message: string;
}

/**
 * Problems with a sync's field mappings against its model's columns: every source must be a column,
 * every destination field unique. Returns an empty list when the mappings are valid.
 */
export function checkFieldMappings(mappings: readonly FieldMapping[], columns: readonly string[]): MappingProblem[] {
  const known = new Set(columns);
  const seen = new Map<string, number>();
  const problems: MappingProblem[] = [];
  mappings.forEach((m, i) => {
    if (!known.has(m.source)) {
      problems.push({
        path: `field_mappings.${i}.source`,
        message: `"${m.source}" is not a column of the model (columns: ${columns.join(", ")})`,
      });
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
