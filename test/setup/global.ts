import type { TestProject } from "vitest/node";
import { startWebhookReceiver } from "../servers/webhook-receiver";

declare module "vitest" {
  export interface ProvidedContext {
    webhookPort: number;
  }
}

/** Real HTTP servers on 127.0.0.1 for the tests (run in Node, outside workerd). */
export default async function setup(project: TestProject) {
  const receiver = await startWebhookReceiver();
  project.provide("webhookPort", receiver.port);
  return () => new Promise<void>((resolve) => receiver.server.close(() => resolve()));
}
