import { describe, expect, it } from "vitest";
import { api } from "../harness";

describe("OpenAPI", () => {
  it("serves a 3.1 document generated from the route schemas, without a token", async () => {
    const res = await api.get("/api/v1/openapi.json", { token: null });
    expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBe(200);
    expect(res.body.openapi).toBe("3.1.0");
    const paths = Object.keys(res.body.paths);
    for (const p of [
      "/api/v1/syncs",
      "/api/v1/syncs/{id}",
      "/api/v1/syncs/{id}/trigger",
      "/api/v1/syncs/{id}/pause",
      "/api/v1/syncs/{id}/resume",
      "/api/v1/syncs/{id}/restore",
      "/api/v1/syncs/{id}/runs",
      "/api/v1/syncs/{id}/runs/{run_id}",
      "/api/v1/syncs/{id}/runs/{run_id}/errors",
      "/api/v1/sources",
      "/api/v1/hooks/syncs/{id}/{secret}",
    ]) {
      expect(paths).toContain(p);
    }
    expect(res.body.components.schemas.CreateSync?.required).toEqual(
      expect.arrayContaining(["name", "model_id", "destination_id", "mode", "schedule", "field_mappings"]),
    );
  });

  it("serves a browsable reference at /docs and JSON 404s elsewhere", async () => {
    const docs = await api.get("/docs", { token: null });
    expect(docs.status).toBe(200);
    expect(String(docs.body)).toContain("/api/v1/openapi.json");
    // Swagger UI comes from our own static assets, never a CDN (the reference must work offline).
    expect(String(docs.body)).toContain('src="/vendor/swagger-ui-dist/swagger-ui-bundle.js"');
    expect(String(docs.body)).not.toMatch(/https?:\/\//);
    const missing = await api.get("/api/v1/nothing-here");
    expect(missing.status).toBe(404);
    expect(missing.error?.code).toBe("not_found");
  });
});
