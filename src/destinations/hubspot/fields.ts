import { isRecord, parseJson } from "../../lib/http";
import type { ConnectorContext, DestinationField, FieldsAnswer, FieldType } from "../destination";
import { call, checkConfig, errorText, failure, type HubspotConnectorConfig } from "./connector";
import type { HubspotCredentials } from "./schema";

/**
 * Property types ("Read all properties", `type`:
 * https://developers.hubspot.com/docs/api-reference/legacy/crm/properties/get-properties; the
 * types are listed in https://developers.hubspot.com/docs/api-reference/latest/crm/properties/guide)
 * as the value types we cast to; enumerations, phone numbers and the rest take text.
 */
const HUBSPOT_TYPES: Record<string, FieldType> = {
  number: "number",
  bool: "boolean",
  date: "date",
  datetime: "datetime",
};

/**
 * The object's writable properties, from `GET /crm/v3/properties/{objectType}`: archived,
 * calculated and read-only-value properties (`modificationMetadata.readOnlyValue`) are left out,
 * since a batch upsert refuses them. HubSpot's properties carry no required flag for its standard
 * objects, so none is required here; `id_property` (and any property with unique values) is an
 * identifier, and the sync must map `id_property` (index.ts `validateSync`).
 */
export async function hubspotFields(ctx: ConnectorContext<HubspotConnectorConfig, HubspotCredentials>): Promise<FieldsAnswer> {
  const invalid = checkConfig(ctx.config);
  if (invalid) return { ok: false, error: invalid };
  const { object_type: type, id_property: idProperty } = ctx.config;
  const { response, outcome } = await call(ctx, "GET", `/crm/v3/properties/${type}`);
  if (outcome) return { ok: false, error: outcome.error, failure: outcome };
  if (response.status === 404) return { ok: false, error: `HubSpot has no object type ${type}: ${errorText(response)}` };
  if (response.status !== 200) {
    const refused = failure(response);
    return { ok: false, error: refused.error, failure: refused };
  }
  const body = parseJson(response.text);
  if (!isRecord(body) || !Array.isArray(body.results)) return { ok: false, error: `unexpected properties response for ${type}` };
  const fields: DestinationField[] = [];
  for (const p of body.results.filter(isRecord)) {
    if (typeof p.name !== "string" || typeof p.type !== "string") continue;
    const readOnly = isRecord(p.modificationMetadata) && p.modificationMetadata.readOnlyValue === true;
    if (p.archived === true || p.calculated === true || readOnly) continue;
    const identifier = p.name === idProperty || p.hasUniqueValue === true;
    fields.push({
      name: p.name,
      ...(typeof p.label === "string" ? { label: p.label } : {}),
      type: HUBSPOT_TYPES[p.type] ?? "string",
      required: false,
      ...(identifier ? { identifier } : {}),
    });
  }
  return { ok: true, fields };
}
