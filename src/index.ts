import { createApp } from "./app";
import { handleDeliveries } from "./delivery/queue";
import { purgeRunLogs, retentionDays } from "./run-log/store";

export { SyncObject } from "../durable-objects/sync-object";
export { DestinationLimiter } from "../durable-objects/destination-limiter";

const app = createApp();

export default {
  fetch: app.fetch,
  queue: handleDeliveries,
  // Cron Triggers (wrangler.toml [triggers]): the run debugger's retention sweep.
  scheduled: async (controller, env) => {
    await purgeRunLogs(env.SNAPSHOTS, controller.scheduledTime, retentionDays(env));
  },
} satisfies ExportedHandler<Env, unknown>;
