import { isRecord, parseJson } from "../../lib/http";
import type { ConnectorContext, DestinationField, FieldsAnswer, FieldType } from "../destination";
import { checkConfig, errorText, failure, type SalesforceConnectorConfig, Session } from "./connector";
import type { SalesforceCredentials } from "./schema";

/**
 * Field types of the sObject describe ("DescribeSObjectResult" fields, SOAP `fieldType`:
 * https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_describesobjects_describesobjectresult.htm)
 * as the value types we cast to. Everything not listed (string, picklist, email, phone, url,
 * reference, id, textarea, time, …) takes text.
 */
const SALESFORCE_TYPES: Record<string, FieldType> = {
  int: "integer",
  long: "integer",
  double: "number",
  currency: "number",
  percent: "number",
  boolean: "boolean",
  date: "date",
  datetime: "datetime",
};
// Compound fields (an address, a geolocation) are written through their parts, never whole.
const COMPOUND_TYPES = new Set(["address", "location"]);

/**
 * The sObject's writable fields, from `GET /sobjects/{object}/describe`: those the API may create
 * or update. Required: createable, not nillable and not defaulted on create (what Salesforce
 * answers `REQUIRED_FIELD_MISSING` for). The identifier is the external id field the upsert
 * matches on, which the connector fills from each row's key.
 */
export async function salesforceFields(ctx: ConnectorContext<SalesforceConnectorConfig, SalesforceCredentials>): Promise<FieldsAnswer> {
  const invalid = checkConfig(ctx);
  if (invalid) return { ok: false, error: invalid };
  const { object, external_id_field: ext } = ctx.config;
  const res = await new Session(ctx).call("GET", `/sobjects/${object}/describe`);
  if (res.outcome) return { ok: false, error: res.outcome.error, failure: res.outcome };
  if (res.response.status === 404) return { ok: false, error: `sObject ${object} not found: ${errorText(res.response)}` };
  if (res.response.status !== 200) {
    const outcome = failure(res.response);
    return { ok: false, error: outcome.error, failure: outcome };
  }
  const body = parseJson(res.response.text);
  if (!isRecord(body) || !Array.isArray(body.fields)) return { ok: false, error: `unexpected describe response for ${object}` };
  const fields: DestinationField[] = [];
  for (const f of body.fields.filter(isRecord)) {
    if (typeof f.name !== "string" || typeof f.type !== "string" || COMPOUND_TYPES.has(f.type)) continue;
    if (f.createable !== true && f.updateable !== true) continue;
    const identifier = f.name.toLowerCase() === ext.toLowerCase();
    fields.push({
      name: f.name,
      ...(typeof f.label === "string" ? { label: f.label } : {}),
      type: SALESFORCE_TYPES[f.type] ?? "string",
      required: f.createable === true && f.nillable === false && f.defaultedOnCreate !== true,
      ...(identifier ? { identifier } : {}),
    });
  }
  return { ok: true, fields };
}
