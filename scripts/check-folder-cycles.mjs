// The parts of the architecture (src/<part>/…, durable-objects) import each other in one
// direction only: runtime imports count; `import type` is erased at build, so the D1 schema may
// type its columns with the plug-in registries' unions. A part's subfolders belong to it.
// dependency-cruiser parses the imports; its own `scope: "folder"` rule also counts type-only
// imports, which is why the folder graph is built here. Run by `npm run lint`.
import { cruise } from "dependency-cruiser";

const roots = ["src", "durable-objects"];
const result = await cruise(roots, {
  parser: "swc",
  tsConfig: { fileName: "tsconfig.json" },
  doNotFollow: { path: "node_modules" },
  exclude: { path: "^(node_modules|src/console/vendor)" },
});

/** The part a file belongs to: `src/run/steps/diff.ts` → `src/run`; files directly in src/ are `src`. */
const partOf = (file) => {
  const [root, second, third] = file.split("/");
  return root === "src" && third !== undefined ? `${root}/${second}` : root;
};

/** part → parts it imports at runtime, with one example edge each. */
const graph = new Map();
for (const mod of result.output.modules) {
  const from = partOf(mod.source);
  for (const dep of mod.dependencies) {
    if (dep.coreModule || dep.couldNotResolve || dep.dependencyTypes.includes("type-only")) continue;
    if (!roots.some((r) => dep.resolved.startsWith(`${r}/`))) continue;
    const to = partOf(dep.resolved);
    if (to === from) continue;
    if (!graph.has(from)) graph.set(from, new Map());
    if (!graph.get(from).has(to)) graph.get(from).set(to, `${mod.source} → ${dep.resolved}`);
  }
}

// Depth-first search; each back edge closes a cycle.
const cycles = [];
const state = new Map(); // folder → "open" | "done"
const path = [];
const visit = (folder) => {
  state.set(folder, "open");
  path.push(folder);
  for (const [next] of graph.get(folder) ?? []) {
    if (state.get(next) === "open") cycles.push([...path.slice(path.indexOf(next)), next]);
    else if (!state.has(next)) visit(next);
  }
  path.pop();
  state.set(folder, "done");
};
for (const folder of [...graph.keys()].sort()) if (!state.has(folder)) visit(folder);

for (const cycle of cycles) {
  console.error(`import cycle between parts: ${cycle.join(" → ")}`);
  for (let i = 0; i + 1 < cycle.length; i++) console.error(`  ${graph.get(cycle[i]).get(cycle[i + 1])}`);
}
if (cycles.length > 0) process.exit(1);
console.log(`no import cycles between the ${graph.size} parts`);
