import { Hono } from "hono";
import product from "../../../src/index";

export { SyncObject, DestinationLimiter } from "../../../src/index";

/**
 * The API load scenario's Worker (test/long/node/api-load.stress.ts): the product's own default
 * export, unchanged, plus a bare Hono app under /__bare/ as the baseline. Both run in the same
 * workerd process and isolate, so the ratio of their figures is what the product's middleware,
 * D1 queries and Durable Object calls cost per request on this machine. The product itself gets
 * no benchmark route.
 */
const bare = new Hono<{ Bindings: Env }>();
bare.get("/__bare/hello", (c) => c.json({ ok: true }));
// The floor of any route that reads D1: a bare route making one D1 round trip (SELECT 1) in a
// D1 session, as the product's requests do.
bare.get("/__bare/d1", async (c) => {
  const session = c.env.DB.withSession("first-unconstrained");
  const [row] = await session.prepare("SELECT 1 AS one").raw();
  return c.json({ ok: row?.[0] === 1 });
});

export default {
  fetch(request, env, ctx) {
    // One string test decides the route; both sides pay for it alike.
    if (request.url.includes("/__bare/")) return bare.fetch(request, env, ctx);
    return product.fetch(request, env, ctx);
  },
  queue: product.queue,
} satisfies ExportedHandler<Env, unknown>;
