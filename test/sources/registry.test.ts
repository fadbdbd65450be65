import { describe, expect, it } from "vitest";
import { WarehouseError } from "../../src/sources/errors";
import { openSource, SOURCE_TYPES, SOURCES, sourcePlugin } from "../../src/sources/registry";
import type { WarehouseOptions } from "../../src/sources/source";
import { api, expectError, WAREHOUSE_URL } from "../harness";

const opts: WarehouseOptions = { statementTimeoutMs: 10_000, allowPrivate: true };

/** The WarehouseError a promise rejects with (fails the test if it resolves or throws anything else). */
async function warehouseError(promise: Promise<unknown>): Promise<WarehouseError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "expected a WarehouseError").toBeInstanceOf(WarehouseError);
  return err as WarehouseError;
}

describe("source registry", () => {
  it("derives the API's type enum, request bodies and OpenAPI entries from the plug-in list", async () => {
    expect(SOURCE_TYPES).toEqual(SOURCES.map((s) => s.type));
    const doc = await api.get("/api/v1/openapi.json", { token: null });
    expect(doc.status).toBe(200);
    const schemas = doc.body.components.schemas;
    expect(schemas.Source?.properties?.type?.enum).toEqual(SOURCE_TYPES);
    // One create body per plug-in, told apart by `type`.
    type BodySchema = { properties?: Record<string, { enum?: string[]; const?: string; properties?: Record<string, unknown> }> };
    const create = schemas.CreateSource as BodySchema & { oneOf?: BodySchema[] };
    const variants = create.oneOf ?? [create];
    const typeOf = (v: BodySchema) => v.properties?.type?.enum ?? [v.properties?.type?.const];
    expect(variants.flatMap(typeOf)).toEqual(SOURCE_TYPES);
    // Each plug-in's settings fields are request fields: at the top level, or under config and credentials.
    for (const plugin of SOURCES) {
      const variant = variants.find((v) => typeOf(v).includes(plugin.type));
      const props = variant?.properties ?? {};
      const fields = [
        ...Object.keys(props),
        ...Object.keys(props.config?.properties ?? {}),
        ...Object.keys(props.credentials?.properties ?? {}),
      ];
      for (const field of [...Object.keys(plugin.config.shape), ...Object.keys(plugin.credentials.shape)]) {
        expect(fields).toContain(field);
      }
    }
  });

  it("refuses a type no plug-in has, naming type and the known types", async () => {
    const res = await api.post("/api/v1/sources", { body: { name: "x", type: "not_a_source", connection_string: WAREHOUSE_URL } });
    const error = expectError(res, 400, "validation_failed", "type");
    for (const type of SOURCE_TYPES) expect(JSON.stringify(error.details)).toContain(type);
  });

  it("seals settings for storage with a masked copy, and opens a source from the stored secret", async () => {
    const plugin = sourcePlugin("postgres");
    const settings = { connection_string: "postgres://etl:hunter2@db.example.com:5432/analytics?sslmode=require" };
    const { secret, masked } = plugin.seal(settings);
    expect(masked).not.toContain("hunter2");
    expect(plugin.unseal(secret)).toEqual(settings);
    expect(plugin.hosts(settings)).toEqual(["db.example.com"]);

    const source = openSource("postgres", WAREHOUSE_URL, opts);
    expect((await source.test()).ok).toBe(true);
    expect(await source.describe("SELECT 1::int4 AS id, 'a'::text AS name")).toEqual([
      { name: "id", type: "int4" },
      { name: "name", type: "text" },
    ]);
    expect(plugin.jsonValue(23, "7")).toBe(7);
  });

  it("puts every host a plug-in names through the SSRF guard unless private hosts are allowed", async () => {
    const local = openSource("postgres", WAREHOUSE_URL, { ...opts, allowPrivate: false });
    const tested = await local.test();
    expect([tested.ok, tested.error?.code]).toEqual([false, "host_not_allowed"]);
    const refused = await warehouseError(local.describe("SELECT 1"));
    expect([refused.code, refused.kind]).toEqual(["host_not_allowed", "auth"]);
    const unparsable = await openSource("postgres", "mysql://db.example.com/x", { ...opts, allowPrivate: false }).test();
    expect(unparsable.error?.code).toBe("invalid_connection_string");
  });

  it("classifies failures: retry, fix the source (auth) or fix the model (user)", async () => {
    const source = openSource("postgres", WAREHOUSE_URL, opts);
    const bad = await warehouseError(source.describe("SELECT FROM WHERE"));
    expect([bad.code, bad.kind]).toEqual(["query_failed", "user"]);
    const writes = await warehouseError(source.describe("DELETE FROM anything"));
    expect([writes.code, writes.kind]).toEqual(["read_only", "user"]);

    const wrongPassword = new URL(WAREHOUSE_URL);
    wrongPassword.username = "no_such_role_here";
    wrongPassword.password = "wrong";
    const refused = await warehouseError(openSource("postgres", wrongPassword.toString(), opts).estimateRows("SELECT 1"));
    expect([refused.code, refused.kind]).toEqual(["auth_failed", "auth"]);

    const closed = await warehouseError(openSource("postgres", "postgres://u:p@127.0.0.1:1/db", opts).describe("SELECT 1"));
    expect([closed.code, closed.kind]).toEqual(["unreachable", "retryable"]);
  });
});
