import { describe, expect, it } from "vitest";
import { TokenCache } from "../../src/lib/token-cache";

describe("TokenCache", () => {
  it("grants once per key while the token is fresh, and concurrent callers share the grant", async () => {
    const cache = new TokenCache();
    let grants = 0;
    const grant = async () => ({ token: `t${++grants}`, expiresInSeconds: 3600 });
    expect(await Promise.all([cache.get("a", grant), cache.get("a", grant), cache.get("a", grant)])).toEqual(["t1", "t1", "t1"]);
    expect(await cache.get("a", grant)).toBe("t1");
    expect(await cache.get("b", grant)).toBe("t2");
    expect(grants).toBe(2);
  });

  it("asks again for a token at the end of its life, after a refusal (drop) and after a failed grant", async () => {
    const cache = new TokenCache();
    let grants = 0;
    const shortLived = async () => ({ token: `t${++grants}`, expiresInSeconds: 0 });
    expect(await cache.get("a", shortLived)).toBe("t1");
    expect(await cache.get("a", shortLived)).toBe("t2");

    const longLived = async () => ({ token: `t${++grants}`, expiresInSeconds: 3600 });
    expect(await cache.get("b", longLived)).toBe("t3");
    cache.drop("b", "some older token");
    expect(await cache.get("b", longLived)).toBe("t3");
    cache.drop("b", "t3");
    expect(await cache.get("b", longLived)).toBe("t4");

    await expect(cache.get("c", () => Promise.reject(new Error("refused")))).rejects.toThrow("refused");
    expect(await cache.get("c", longLived)).toBe("t5");
  });
});
