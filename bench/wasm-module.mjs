// esbuild plugin for the benches' Node bundles of the engine: `import m from "./x.wasm"` gives a
// compiled WebAssembly.Module, as wrangler's CompiledWasm rule does in workerd (src/engine/hash.ts).
import { readFile } from "node:fs/promises";

export const compiledWasm = {
  name: "compiled-wasm",
  setup(build) {
    build.onLoad({ filter: /\.wasm$/ }, async (args) => {
      const base64 = (await readFile(args.path)).toString("base64");
      return { contents: `export default new WebAssembly.Module(Buffer.from(${JSON.stringify(base64)}, "base64"));`, loader: "js" };
    });
  },
};
