import xxhash from "xxhash-wasm";
import { expect, it } from "vitest";
it("loads", async () => {
  const h = await xxhash();
  expect(h.h64ToString("a")).toBe("d24ec4f1a98c6e5b");
  let err = "none";
  try { await WebAssembly.instantiate(new Uint8Array([0,97,115,109,1,0,0,0])); } catch (e) { err = String(e); }
  console.log("instantiate from bytes:", err);
  console.log(String(xxhash).slice(0, 200));
});
