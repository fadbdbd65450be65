import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { destinations } from "../../src/db/schema";
import { openDestination } from "../../src/destinations/open";
import {
  DESTINATION_TYPES,
  DESTINATIONS,
  type DestinationType,
  destinationOf,
  identityFields,
  parseCredentials,
  privateAddressProblems,
} from "../../src/destinations/registry";
import { api, expectError, expectStatus } from "../harness";
import { parsedConfig } from "./helpers";

/**
 * One valid body per registered type, with every URL it contacts public, and the same body with
 * every such URL private. Keyed by the registry's types, so a new type without samples fails to
 * typecheck here (the only place besides its own folder that must name it).
 */
const GOOGLE_SAMPLE_CREDENTIALS = { client_id: "cid", client_secret: "cs", refresh_token: "1//rt", developer_token: "dev" };

const SAMPLES: { [T in DestinationType]: { public: Settings; private: Settings } } = {
  webhook: {
    public: { config: { url: "https://hooks.example.com/in" }, credentials: { signing_secret: "0123456789abcdef" } },
    private: { config: { url: "http://169.254.169.254/latest" }, credentials: null },
  },
  postgres: {
    public: { config: { table: "t", key_column: "id" }, credentials: { connection_string: "postgres://u:p@db.example.com/x" } },
    private: { config: { table: "t", key_column: "id" }, credentials: { connection_string: "postgres://u:p@10.0.0.5/x" } },
  },
  salesforce: {
    public: {
      config: { instance_url: "https://acme.my.salesforce.com", object: "Contact", external_id_field: "External_Id__c" },
      credentials: { access_token: "00Dtoken" },
    },
    private: {
      config: { instance_url: "http://127.0.0.1:9/org", object: "Contact", external_id_field: "External_Id__c" },
      credentials: { access_token: "00Dtoken" },
    },
  },
  hubspot: {
    public: { config: { object_type: "contacts", id_property: "email" }, credentials: { access_token: "pat-x" } },
    private: {
      config: { object_type: "contacts", id_property: "email", api_base: "http://localhost:9/p" },
      credentials: { access_token: "pat-x" },
    },
  },
  braze: {
    public: { config: { rest_endpoint: "https://rest.iad-01.braze.com" }, credentials: { api_key: "braze-key" } },
    private: { config: { rest_endpoint: "http://10.0.0.7/braze" }, credentials: { api_key: "braze-key" } },
  },
  customerio: {
    public: { config: { region: "eu" }, credentials: { site_id: "site", api_key: "key" } },
    private: { config: { api_base: "http://127.0.0.1:9/cio" }, credentials: { site_id: "site", api_key: "key" } },
  },
  klaviyo: {
    public: { config: { list_id: "Y6nRLr" }, credentials: { api_key: "pk_x" } },
    private: { config: { api_base: "http://127.0.0.1:9/k" }, credentials: { api_key: "pk_x" } },
  },
  intercom: {
    public: { config: { region: "eu" }, credentials: { access_token: "dG9rOjE=" } },
    private: { config: { api_base: "http://10.0.0.7/i" }, credentials: { access_token: "dG9rOjE=" } },
  },
  http: {
    public: {
      config: {
        url: "https://api.example.com/users/{{ key | url_encode }}",
        overrides: { delete: { method: "DELETE", url: "https://api.example.com/u/{{ key }}" } },
      },
      credentials: { bearer_token: "tok" },
    },
    private: {
      config: { url: "http://10.0.0.7/users/{{ key }}", overrides: { delete: { url: "http://[::1]:8080/u/{{ key }}" } } },
      credentials: null,
    },
  },
  google_ads: {
    public: { config: { customer_id: "123-456-7890", user_list_id: "42" }, credentials: GOOGLE_SAMPLE_CREDENTIALS },
    private: {
      config: { customer_id: "1234567890", user_list_id: "42", api_base: "http://127.0.0.1:9/g", token_url: "http://127.0.0.1:9/t" },
      credentials: GOOGLE_SAMPLE_CREDENTIALS,
    },
  },
  meta_audiences: {
    public: { config: { audience_id: "2385" }, credentials: { access_token: "EAAB" } },
    private: { config: { audience_id: "2385", api_base: "http://10.1.2.3/graph" }, credentials: { access_token: "EAAB" } },
  },
  files: {
    public: {
      config: { target: "s3", endpoint: "https://s3.eu-west-1.amazonaws.com", bucket: "partner-drop", region: "eu-west-1" },
      credentials: { access_key_id: "AKIAEXAMPLE", secret_access_key: "secret" },
    },
    private: {
      config: { target: "s3", endpoint: "http://10.0.0.5:9000", bucket: "partner-drop" },
      credentials: { access_key_id: "AKIAEXAMPLE", secret_access_key: "secret" },
    },
  },
};

interface Settings {
  config: Record<string, unknown>;
  credentials: Record<string, unknown> | null;
}

/** The private-address problems of a sample, its settings parsed as the routes hand them on. */
function problemsOf<T extends DestinationType>(type: T, settings: Settings) {
  const credentials = parseCredentials(type, settings.credentials);
  if (!credentials.ok) throw new Error(`invalid ${type} credentials: ${JSON.stringify(credentials.problems)}`);
  const config = parsedConfig(type, settings.config);
  return { problems: privateAddressProblems(type, config, credentials.value), hosts: destinationOf(type).hosts(config, credentials.value) };
}

describe("destination registry", () => {
  it("derives the type enum from the plug-ins, one distinct type each", () => {
    expect(DESTINATION_TYPES).toEqual(DESTINATIONS.map((d) => d.type));
    expect(new Set(DESTINATION_TYPES).size).toBe(DESTINATIONS.length);
    for (const type of DESTINATION_TYPES) expect(destinationOf(type).type).toBe(type);
  });

  it("refuses an unknown type with a 400 naming `type`, and accepts each registered type's body", async () => {
    expectError(
      await api.post("/api/v1/destinations", { body: { name: "x", type: "mailchimp", config: {} } }),
      400,
      "validation_failed",
      "type",
    );
    for (const type of DESTINATION_TYPES) {
      const { config, credentials } = SAMPLES[type].public;
      const res = await api.post("/api/v1/destinations", { body: { name: `registry ${type}`, type, config, credentials } });
      expectStatus(res, 201);
      expect(res.body.type).toBe(type);
    }
  });

  it("shows every registered type in the OpenAPI document: the enum and one create body each", async () => {
    const doc = await api.get("/api/v1/openapi.json", { token: null });
    expectStatus(doc, 200);
    const schemas = doc.body.components.schemas;
    expect(schemas.Destination?.properties?.type?.enum).toEqual([...DESTINATION_TYPES]);
    const branches = schemas.CreateDestination?.oneOf ?? schemas.CreateDestination?.anyOf ?? [];
    const types = branches.map((b) => b.properties?.type?.const ?? b.properties?.type?.enum?.[0]);
    expect(types).toEqual([...DESTINATION_TYPES]);
  });

  it("feeds each type's hosts() into the private-address refusal", () => {
    for (const type of DESTINATION_TYPES) {
      const publicOnes = problemsOf(type, SAMPLES[type].public);
      expect(publicOnes.hosts.length, `${type} lists the hosts it contacts`).toBeGreaterThan(0);
      expect(publicOnes.problems, type).toEqual([]);
      const privateOnes = problemsOf(type, SAMPLES[type].private);
      expect(privateOnes.problems.length, type).toBeGreaterThan(0);
      // Every refusal names a path hosts() gave, so the error points at the field to fix.
      for (const problem of privateOnes.problems)
        expect(
          privateOnes.hosts.map((h) => h.path),
          type,
        ).toContain(problem.path);
    }
  });
});

describe("openDestination", () => {
  const db = () => createDb(env.DB);

  async function create(type: DestinationType): Promise<string> {
    const { config, credentials } = SAMPLES[type].public;
    const res = await api.post("/api/v1/destinations", {
      body: { name: `open ${type}`, type, config: { ...config, rate_limit: { concurrency: 2 } }, credentials },
    });
    expectStatus(res, 201);
    return res.body.id;
  }

  it("opens each type with its parsed settings: the batch limit, and its own rate limit over the connector's default", async () => {
    for (const type of DESTINATION_TYPES) {
      const id = await create(type);
      const opened = await openDestination(db(), env, "wsp_default", id);
      expect(opened.ok, JSON.stringify(opened)).toBe(true);
      if (!opened.ok) continue;
      const { connector } = destinationOf(type);
      expect(opened.destination.type).toBe(type);
      expect(opened.destination.rateLimit).toEqual({ requestsPerSecond: connector.defaultRateLimit.requestsPerSecond, concurrency: 2 });
      expect(opened.destination.maxBatchSize).toBeGreaterThan(0);
    }
  });

  it("says not_found for another workspace's or a missing destination", async () => {
    const id = await create("webhook");
    expect(await openDestination(db(), env, "wsp_other", id)).toMatchObject({ ok: false, reason: "not_found" });
    expect(await openDestination(db(), env, "wsp_default", "dst_missing")).toMatchObject({ ok: false, reason: "not_found" });
  });

  it("says unreadable when the credentials do not decrypt (a ciphertext moved from another row)", async () => {
    const [a, b] = [await create("hubspot"), await create("hubspot")];
    const source = await db().query.destinations.findFirst({ where: eq(destinations.id, a) });
    await db().update(destinations).set({ credentialsCiphertext: source?.credentialsCiphertext }).where(eq(destinations.id, b));
    expect(await openDestination(db(), env, "wsp_default", b)).toEqual({
      ok: false,
      reason: "unreadable",
      error: "the stored credentials cannot be decrypted; set them again",
    });
  });
});

describe("identity fields (sent with every update of a changed_fields sync)", () => {
  const mappings = [
    { source: "id", destination: "ExtId" },
    { source: "email", destination: "email" },
    { source: "name", destination: "Name" },
  ];
  const sync = { mappings, mode: "upsert" as const, primaryKey: "id" };

  it("are the field the key is mapped to plus what the plug-in finds records by", () => {
    expect(identityFields("webhook", SAMPLES.webhook.public.config, sync)).toEqual(["ExtId"]);
    expect(identityFields("hubspot", SAMPLES.hubspot.public.config, sync)).toEqual(["ExtId", "email"]);
    expect(identityFields("salesforce", SAMPLES.salesforce.public.config, sync)).toEqual(["ExtId", "External_Id__c"]);
    // Once each, and none when the key is not mapped and the type has no hook.
    expect(identityFields("hubspot", { ...SAMPLES.hubspot.public.config, id_property: "extid" }, { ...sync, primaryKey: "email" })).toEqual(
      ["email", "extid"],
    );
    expect(identityFields("webhook", SAMPLES.webhook.public.config, { ...sync, primaryKey: "nope" })).toEqual([]);
  });
});
