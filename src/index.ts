import { createApp } from "./app";
import { handleAlerts } from "./alerts/queue";
import { scanAlerts } from "./alerts/scan";
import { handleDeliveries } from "./delivery/queue";

export { SyncObject } from "../durable-objects/sync-object";
export { DestinationLimiter } from "../durable-objects/destination-limiter";

const app = createApp();

export default {
  fetch: app.fetch,
  queue: (batch, env) => (batch.queue === "alerts" ? handleAlerts(batch, env) : handleDeliveries(batch, env)),
  // The Cron Trigger of wrangler.toml: late and slow syncs, found in D1 (a broken object cannot report itself).
  scheduled: async (controller, env) => {
    await scanAlerts(env, controller.scheduledTime);
  },
} satisfies ExportedHandler<Env, unknown>;
