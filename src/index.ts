import { createApp } from "./api/app";
import { handleDeliveries } from "./delivery/queue";
import type { DeliveryMessage } from "./delivery/queue";

export { SyncObject } from "../durable-objects/sync-object";

const app = createApp();

export default {
  fetch: app.fetch,
  queue: handleDeliveries,
} satisfies ExportedHandler<Env, DeliveryMessage>;
