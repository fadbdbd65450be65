import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Operation } from "../../src/destinations/destination";
import { DeliveryMessageSchema, MAX_INLINE_BYTES } from "../../src/delivery/message";
import { deliveryMessage, gunzipped } from "../../src/delivery/producer";

const envelope = { sync_id: "syn_size", run_id: "run_size", destination_id: "dst_size", workspace_id: "wsp_default" };

/** `count` operations shaped like the full-load bench's rows (5 columns). */
function operations(count: number, value: (i: number) => string = (i) => `Customer ${i}`): Operation[] {
  return Array.from({ length: count }, (_, i) => ({
    op: "create",
    key: String(i),
    fields: { email: `user${i}@example.com`, name: value(i), plan: i % 3 ? "pro" : "free", score: i % 1000 },
  }));
}

describe("delivery message size", () => {
  it("a batch too big as JSON but not compressed travels compressed in the message, with nothing put to R2", async () => {
    const ops = operations(1000);
    expect(JSON.stringify(ops).length, "the batch does not fit as plain JSON").toBeGreaterThan(MAX_INLINE_BYTES);
    const key = "test/size/compressed";
    const body = await deliveryMessage(env.SNAPSHOTS, envelope, "b1", ops, key);
    expect(body.operations).toBeUndefined();
    expect(body.operations_key).toBeUndefined();
    expect(body.operations_gzip?.length).toBeLessThanOrEqual(MAX_INLINE_BYTES);
    expect(DeliveryMessageSchema.safeParse(body).success).toBe(true);
    expect(JSON.parse(await gunzipped(body.operations_gzip ?? ""))).toEqual(ops);
    expect(await env.SNAPSHOTS.head(key)).toBeNull();
  });

  it("a small batch stays plain JSON; one too big even compressed is spilled to R2", async () => {
    const small = await deliveryMessage(env.SNAPSHOTS, envelope, "b2", operations(10), "test/size/small");
    expect(small.operations).toHaveLength(10);

    // Random values do not compress: 1,000 rows of 200 random hex characters.
    const random = (i: number) => [...crypto.getRandomValues(new Uint8Array(100))].map((b) => b.toString(16).padStart(2, "0")).join("") + i;
    const ops = operations(1000, random);
    const key = "test/size/spilled";
    const spilled = await deliveryMessage(env.SNAPSHOTS, envelope, "b3", ops, key);
    expect(spilled).toMatchObject({ operations_key: key });
    expect(spilled.operations_gzip).toBeUndefined();
    expect(await (await env.SNAPSHOTS.get(key))?.json()).toEqual(ops);
  });
});
