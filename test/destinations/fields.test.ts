import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConnectorContext, DestinationField, FieldsAnswer } from "../../src/destinations/destination";
import type { HubspotConnectorConfig } from "../../src/destinations/hubspot/connector";
import { hubspotFields } from "../../src/destinations/hubspot/fields";
import { postgresFields } from "../../src/destinations/postgres/fields";
import type { DestinationConfig, DestinationCredentials } from "../../src/destinations/registry";
import type { SalesforceConnectorConfig } from "../../src/destinations/salesforce/connector";
import { salesforceFields } from "../../src/destinations/salesforce/fields";
import { closePostgres, connectPostgres } from "../../src/sources/postgres/connection";
import { control, stateOf, uniqueName } from "./helpers";

/** The described fields by name, failing the test (with the answer) when the description failed. */
function byName(answer: FieldsAnswer): Map<string, DestinationField> {
  expect(answer.ok, JSON.stringify(answer)).toBe(true);
  return new Map(answer.ok ? answer.fields.map((f) => [f.name, f]) : []);
}

describe("Salesforce fields (sObject describe)", () => {
  function setup(credentials: DestinationCredentials<"salesforce"> = { access_token: "sf-test-token" }) {
    const org = `${env.SALESFORCE_URL}/t/${uniqueName("org")}`;
    const ctx: ConnectorContext<SalesforceConnectorConfig, DestinationCredentials<"salesforce">> = {
      config: {
        instance_url: org,
        object: "Contact",
        external_id_field: "External_Id__c",
        api_version: "v60.0",
        batch_size: 200,
        timeout_ms: 5_000,
      },
      credentials,
      allowPrivate: true,
      fetch,
    };
    return { ctx, org, configure: (body: unknown) => control(`${org}/_config`, body) };
  }

  it("lists the writable fields with their types; required = createable, not nillable, not defaulted; the external id is the identifier", async () => {
    const { ctx, configure } = setup();
    await configure({ required_fields: ["LastName"], extra_fields: [{ name: "Renewal__c", type: "datetime" }] });
    const fields = byName((await salesforceFields(ctx)) ?? { ok: false, error: "no fields hook" });
    expect(fields.get("LastName")).toMatchObject({ type: "string", required: true });
    expect(fields.get("Email")).toMatchObject({ type: "string", required: false });
    expect(fields.get("Score__c")).toMatchObject({ type: "number", required: false });
    expect(fields.get("NumberOfEmployees")?.type).toBe("integer");
    expect(fields.get("Birthdate")?.type).toBe("date");
    expect(fields.get("Renewal__c")?.type).toBe("datetime");
    // Not nillable but defaulted on create: not required.
    expect(fields.get("HasOptedOutOfEmail")).toMatchObject({ type: "boolean", required: false });
    expect(fields.get("External_Id__c")).toMatchObject({ identifier: true });
    // Neither createable nor updateable (Id, CreatedDate), or compound (an address): not fields a sync can map.
    for (const name of ["Id", "CreatedDate", "MailingAddress"]) expect(fields.has(name), name).toBe(false);
  });

  it("an unknown sObject, or a refused token, is an answer with Salesforce's reason; a 401 is classified", async () => {
    const { ctx } = setup();
    const unknown = await salesforceFields({ ...ctx, config: { ...ctx.config, object: "Nope__c" } });
    expect(unknown).toMatchObject({ ok: false, error: expect.stringMatching(/sObject Nope__c not found/) });
    const refused = await salesforceFields(setup({ access_token: "wrong" }).ctx);
    expect(refused).toMatchObject({ ok: false, failure: { kind: "auth_failed" } });
  });
});

describe("HubSpot fields (read all properties)", () => {
  function setup(config: Partial<HubspotConnectorConfig> = {}) {
    const portal = `${env.HUBSPOT_URL}/t/${uniqueName("portal")}`;
    const ctx: ConnectorContext<HubspotConnectorConfig, DestinationCredentials<"hubspot">> = {
      config: { object_type: "contacts", id_property: "external_id", batch_size: 100, api_base: portal, timeout_ms: 5_000, ...config },
      credentials: { access_token: "hubspot-test-token" },
      allowPrivate: true,
      fetch,
    };
    return { ctx, portal, configure: (body: unknown) => control(`${portal}/_config`, body) };
  }

  it("maps property types, leaves read-only values out, and marks id_property and unique properties as identifiers", async () => {
    const { ctx, portal, configure } = setup();
    await configure({
      extra_properties: [
        { name: "renewal_at", type: "datetime" },
        { name: "score_calc", type: "number", readOnlyValue: true },
      ],
    });
    const fields = byName((await hubspotFields(ctx)) ?? { ok: false, error: "no fields hook" });
    expect(fields.get("amount")).toMatchObject({ type: "number", required: false });
    expect(fields.get("subscribed")?.type).toBe("boolean");
    expect(fields.get("closedate")?.type).toBe("date");
    expect(fields.get("renewal_at")?.type).toBe("datetime");
    expect(fields.get("lifecyclestage")?.type).toBe("string");
    expect(fields.get("external_id")).toMatchObject({ identifier: true });
    expect(fields.get("firstname")?.identifier).toBeUndefined();
    for (const name of ["hs_object_id", "createdate", "score_calc"]) expect(fields.has(name), name).toBe(false);
    const { requests } = await stateOf<{ requests: { method: string; path: string }[] }>(`${portal}/_state`);
    expect(requests.map((r) => `${r.method} ${r.path}`)).toContain("GET /crm/v3/properties/contacts");
  });

  it("a refused token is classified like a send's failure", async () => {
    const { ctx } = setup();
    const answer = await hubspotFields({ ...ctx, credentials: { access_token: "wrong" } });
    expect(answer).toMatchObject({ ok: false, failure: { kind: "auth_failed" } });
  });
});

describe("Postgres fields (information_schema.columns)", () => {
  const table = uniqueName("describe_pg");
  async function sql(text: string): Promise<void> {
    const client = await connectPostgres(env.TEST_WAREHOUSE_URL, { statementTimeoutMs: 10_000, allowPrivate: true });
    try {
      await client.query(text);
    } finally {
      await closePostgres(client);
    }
  }
  const ctx = (
    config: Partial<DestinationConfig<"postgres">> = {},
  ): ConnectorContext<DestinationConfig<"postgres">, DestinationCredentials<"postgres">> => ({
    config: { schema: "public", table, key_column: "id", batch_size: 500, ...config },
    credentials: { connection_string: env.TEST_WAREHOUSE_URL },
    allowPrivate: true,
    fetch,
  });

  beforeAll(() =>
    sql(`CREATE TABLE ${table} (
      id bigint PRIMARY KEY, name text NOT NULL, status text NOT NULL DEFAULT 'new', amount numeric(10,2), active boolean,
      born date, signed_up timestamptz, tags text[], meta jsonb, serial_no int GENERATED BY DEFAULT AS IDENTITY,
      total numeric GENERATED ALWAYS AS (amount * 2) STORED)`),
  );
  afterAll(() => sql(`DROP TABLE IF EXISTS ${table}`));

  it("NOT NULL without a default is required; types follow the columns; the key column is the identifier", async () => {
    const fields = byName((await postgresFields(ctx())) ?? { ok: false, error: "no fields hook" });
    expect([...fields.keys()]).toEqual(["id", "name", "status", "amount", "active", "born", "signed_up", "tags", "meta", "serial_no"]);
    expect(fields.get("id")).toEqual({ name: "id", type: "integer", required: true, identifier: true });
    expect(fields.get("name")).toEqual({ name: "name", type: "string", required: true });
    expect(fields.get("status")?.required).toBe(false);
    expect(fields.get("serial_no")).toEqual({ name: "serial_no", type: "integer", required: false });
    expect(fields.get("amount")?.type).toBe("number");
    expect(fields.get("active")?.type).toBe("boolean");
    expect(fields.get("born")?.type).toBe("date");
    expect(fields.get("signed_up")?.type).toBe("datetime");
    expect(fields.get("tags")?.type).toBe("json");
    expect(fields.get("meta")?.type).toBe("json");
  });

  it("a missing table is an answer, not an exception", async () => {
    expect(await postgresFields(ctx({ table: "describe_no_such_table" }))).toMatchObject({
      ok: false,
      error: expect.stringMatching(/does not exist/),
    });
  });
});
