/** Folder-level architecture rules, checked by `npm run lint`. */
module.exports = {
  forbidden: [
    {
      name: "no-folder-cycles",
      comment: "Folders import each other in one direction only; shared pieces live in src/lib.",
      severity: "error",
      scope: "folder",
      from: {},
      to: { circular: true },
    },
    {
      name: "no-module-cycles",
      severity: "error",
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    parser: "swc",
    tsConfig: { fileName: "tsconfig.json" },
    exclude: { path: "^(node_modules|src/console/vendor)" },
  },
};
