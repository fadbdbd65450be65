import { bodyLimit } from "hono/body-limit";
import { swaggerUI } from "@hono/swagger-ui";
import { ApiError, handleError } from "./api/errors";
import { bearerAuth, idempotency, notFoundHandler, requestContext, requireScope } from "./api/middleware";
import { newRouter } from "./api/openapi";
import { registerSourceRoutes } from "./routes/sources";
import { registerModelRoutes } from "./routes/models";
import { registerDestinationRoutes } from "./routes/destinations";
import { registerTokenRoutes } from "./routes/tokens";
import { registerSyncRoutes } from "./routes/syncs";
import { registerHookRoutes } from "./routes/hooks";
import { registerAlertChannelRoutes } from "./routes/alert-channels";
import { registerAuditRoutes } from "./routes/audit";

/** Largest request body the API accepts. */
export const MAX_BODY_BYTES = 256 * 1024;

/** Builds the HTTP API: middleware, every /api/v1 route, the OpenAPI document and /docs. */
export function createApp() {
  const app = newRouter();
  app.use("*", requestContext());
  app.use(
    "/api/*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new ApiError("payload_too_large", `request body exceeds ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );
  // Exactly application/json: other JSON types (a JSON Patch, vendor +json) would be misread as the body.
  app.use("/api/*", async function jsonOnly(c, next) {
    const type = c.req.header("content-type");
    if (["POST", "PUT", "PATCH"].includes(c.req.method) && type && !/^application\/json\s*(;|$)/i.test(type)) {
      throw new ApiError("unsupported_media_type", `Content-Type must be application/json, not "${type}"`);
    }
    await next();
  });

  // Trigger webhooks authenticate with their own secret, not a Bearer token.
  registerHookRoutes(app);

  for (const path of [
    "/api/v1/sources",
    "/api/v1/models",
    "/api/v1/destinations",
    "/api/v1/syncs",
    "/api/v1/tokens",
    "/api/v1/alert-channels",
    "/api/v1/audit-events",
  ]) {
    // "/x/*" also matches "/x" itself.
    app.use(`${path}/*`, bearerAuth(), idempotency());
  }
  app.use("/api/v1/tokens/*", requireScope("admin"));
  // The audit log names every token and what it did: admin only, like token management.
  app.use("/api/v1/audit-events/*", requireScope("admin"));

  registerSourceRoutes(app);
  registerModelRoutes(app);
  registerDestinationRoutes(app);
  registerTokenRoutes(app);
  registerSyncRoutes(app);
  registerAlertChannelRoutes(app);
  registerAuditRoutes(app);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  app.doc31("/api/v1/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Edge reverse ETL API",
      version: "1.0.0",
      description: "Syncs warehouse models to business tools. Authenticate with `Authorization: Bearer <token>`.",
    },
    security: [{ bearer: [] }],
  });
  // Swagger UI from the console's own assets (scripts/vendor-docs.mjs), not a CDN: /docs works offline.
  app.get("/docs", swaggerUI({ url: "/api/v1/openapi.json", baseUrl: "/vendor", title: "Edge reverse ETL API" }));
  app.get("/", (c) => c.redirect("/docs"));

  app.notFound(notFoundHandler);
  app.onError(handleError);
  return app;
}
