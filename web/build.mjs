// Bundles the widget and the agent console into one minified file each
// (web/dist/), then prints their raw and gzipped sizes. Run `npm run build`
// (which first regenerates the clients from ../proto with buf).
import { build } from "esbuild";
import { readFileSync, mkdirSync } from "node:fs";
import { gzipSync } from "node:zlib";

mkdirSync("dist", { recursive: true });
const common = {
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  legalComments: "none",
  logLevel: "warning",
};
await build({ ...common, entryPoints: ["widget/src/main.ts"], outfile: "dist/widget.js" });
await build({ ...common, entryPoints: ["console/src/main.ts"], outfile: "dist/console.js" });
for (const f of ["dist/widget.js", "dist/console.js"]) {
  const raw = readFileSync(f);
  const gz = gzipSync(raw, { level: 9 });
  console.log(`${f}: ${(raw.length / 1024).toFixed(1)} kB, ${(gz.length / 1024).toFixed(1)} kB gzipped`);
}
