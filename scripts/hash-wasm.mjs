// Compiles src/engine/xxhash.wat to the committed src/engine/xxhash.wasm with wabt's wat2wasm (the
// pinned devDependency, so the bytes are reproducible), or with --check only compares them
// (`npm run lint` does, so the committed module never drifts from its source):
//   node scripts/hash-wasm.mjs          # rewrite xxhash.wasm
//   node scripts/hash-wasm.mjs --check  # exit 1 if xxhash.wasm is not what xxhash.wat compiles to
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const source = join(root, "src/engine/xxhash.wat");
const target = join(root, "src/engine/xxhash.wasm");

const scratch = mkdtempSync(join(tmpdir(), "hash-wasm-"));
try {
  const out = join(scratch, "xxhash.wasm");
  const r = spawnSync("npx", ["--no-install", "wat2wasm", source, "-o", out], { stdio: "inherit" });
  if (r.status !== 0) throw new Error(`wat2wasm failed (exit ${r.status})`);
  const built = readFileSync(out);
  if (process.argv.includes("--check")) {
    if (!built.equals(readFileSync(target))) {
      console.error("src/engine/xxhash.wasm does not match src/engine/xxhash.wat: run node scripts/hash-wasm.mjs");
      process.exit(1);
    }
    console.log("src/engine/xxhash.wasm matches its source");
  } else {
    writeFileSync(target, built);
    console.log(`wrote src/engine/xxhash.wasm (${built.length} bytes)`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
