// Copies Swagger UI's script and stylesheet from node_modules into the console's static assets
// (src/console/vendor/, git-ignored), so /docs works without a CDN (offline, strict CSP).
// Run by `npm install` / `npm ci` (postinstall); writes only what changed.
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const from = path.dirname(require.resolve("swagger-ui-dist/package.json"));
const to = path.join(import.meta.dirname, "..", "src", "console", "vendor", "swagger-ui-dist");
mkdirSync(to, { recursive: true });
for (const file of ["swagger-ui.css", "swagger-ui-bundle.js"]) {
  const source = path.join(from, file);
  const target = path.join(to, file);
  if (existsSync(target) && readFileSync(target).equals(readFileSync(source))) continue;
  copyFileSync(source, target);
}
