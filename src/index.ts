import { createApp } from "./app";
import { handleAlerts } from "./alerts/queue";
import { scanAlerts } from "./alerts/scan";
import { handleDeliveries } from "./delivery/queue";
import { purgeRunLogs, retentionDays } from "./run-log/store";

export { SyncObject } from "../durable-objects/sync-object";
export { DestinationLimiter } from "../durable-objects/destination-limiter";

const app = createApp();

export default {
  fetch: app.fetch,
  queue: (batch, env) => (batch.queue === "alerts" ? handleAlerts(batch, env) : handleDeliveries(batch, env)),
  // Cron Triggers (wrangler.toml [triggers]): every minute, late and slow syncs found in D1 (a broken
  // object cannot report itself); at minute 17 of each hour, also the run debugger's retention sweep.
  scheduled: async (controller, env) => {
    await scanAlerts(env, controller.scheduledTime);
    if (controller.cron === "17 * * * *") await purgeRunLogs(env.SNAPSHOTS, controller.scheduledTime, retentionDays(env));
  },
} satisfies ExportedHandler<Env, unknown>;
