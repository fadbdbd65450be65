import type { DestinationField, SyncShape } from "../destinations/destination";

/**
 * What a sync's mappings get wrong against the fields its destination describes (Salesforce
 * describe, HubSpot properties, a Postgres table's columns), checked when the sync is saved.
 */

// Modes that create records: a record cannot be created without its required fields. An
// update-only sync never creates, so it may leave them out.
const CREATING_MODES: readonly string[] = ["upsert", "mirror", "append"];

/** A problem with its dotted path in the sync body. */
interface FieldProblem {
  path: string;
  message: string;
}

/**
 * Each mapping to a field the destination does not describe (`field_mappings.N.destination`;
 * not for a destination `open` to fields it does not list), and
 * for modes that create records, the required fields no mapping fills (`field_mappings`).
 * Identifier fields are left to the type: Salesforce's external id and the Postgres key column
 * are filled from each row's key, HubSpot's `id_property` is checked by its `validateSync`.
 */
export function describedFieldProblems(fields: readonly DestinationField[], sync: SyncShape, open = false): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const names = new Set(fields.map((f) => f.name));
  for (const [i, mapping] of sync.mappings.entries()) {
    // A destination open to custom fields takes any other name.
    if (open || names.has(mapping.destination)) continue;
    const folded = mapping.destination.toLowerCase();
    const near = fields.find((f) => f.name.toLowerCase() === folded);
    problems.push({
      path: `field_mappings.${i}.destination`,
      message: near
        ? `"${mapping.destination}" is not a field of the destination; did you mean "${near.name}"?`
        : `"${mapping.destination}" is not a writable field of the destination (GET /api/v1/destinations/{id}/fields lists them)`,
    });
  }
  if (CREATING_MODES.includes(sync.mode)) {
    const mapped = new Set(sync.mappings.map((m) => m.destination));
    const missing = fields.filter((f) => f.required && !f.identifier && !mapped.has(f.name)).map((f) => f.name);
    if (missing.length > 0) {
      problems.push({
        path: "field_mappings",
        message: `required destination field${missing.length > 1 ? "s" : ""} ${missing.join(", ")} must be mapped: ${sync.mode} mode creates records, which the destination refuses without ${missing.length > 1 ? "them" : "it"}`,
      });
    }
  }
  return problems;
}
