/**
 * Module import cycles, checked by `npm run lint` (cycles between folders: scripts/check-folder-cycles.mjs).
 * A cycle through a type-only import is allowed: it is erased at build (the D1 schema types its
 * `type` columns with the plug-in registries' unions).
 */
const runtime = { dependencyTypesNot: ["type-only"], viaOnly: { dependencyTypesNot: ["type-only"] } };

module.exports = {
  forbidden: [
    {
      name: "no-module-cycles",
      severity: "error",
      from: {},
      to: { circular: true, ...runtime },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    parser: "swc",
    tsConfig: { fileName: "tsconfig.json" },
    exclude: { path: "^(node_modules|src/console/vendor)" },
  },
};
