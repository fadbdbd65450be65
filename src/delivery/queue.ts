/** PLACEHOLDER until delivery lands. */
export interface DeliveryMessage {
  batch_id: string;
}
export async function handleDeliveries(batch: MessageBatch<DeliveryMessage>, _env: Env): Promise<void> {
  batch.ackAll();
}
