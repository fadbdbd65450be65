import { describe, expect, it } from "vitest";
import { OperationsSchema } from "../../src/delivery/message";

/** The consumer's check of operations it reads back (compressed inline or spilled to R2): what it refuses. */
describe("OperationsSchema", () => {
  const valid = { op: "upsert", key: "7", fields: { email: "a@example.com", score: 3, tags: ["x"], nested: { a: null } } };

  it("accepts operations as the run writes them, fields kept as they are", () => {
    const parsed = OperationsSchema.safeParse([valid, { op: "delete", key: "8", fields: {} }]);
    expect(parsed.success).toBe(true);
    expect(parsed.data?.[0]).toEqual(valid);
  });

  it.each([
    ["fields as an array", { ...valid, fields: ["a"] }],
    ["fields null", { ...valid, fields: null }],
    ["fields a string", { ...valid, fields: "{}" }],
    ["fields missing", { op: "upsert", key: "7" }],
    ["an unknown op", { ...valid, op: "merge" }],
    ["a numeric key", { ...valid, key: 7 }],
  ])("refuses %s, saying why", (_, operation) => {
    const parsed = OperationsSchema.safeParse([valid, operation]);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path[0]).toBe(1);
    expect(parsed.error?.issues[0]?.message).toBeTruthy();
  });
});
