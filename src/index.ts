import { createApp } from "./app";
import { handleDeliveries } from "./delivery/queue";

export { SyncObject } from "../durable-objects/sync-object";
export { DestinationLimiter } from "../durable-objects/destination-limiter";

const app = createApp();

export default {
  fetch: app.fetch,
  queue: handleDeliveries,
} satisfies ExportedHandler<Env, unknown>;
