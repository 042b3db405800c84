// `npm run build`: src/ → dist/ as plain JavaScript (one file per source, source maps), for `node` alone.
// esbuild only strips types (~0.1 s; tsc's emit takes ~20 s on this code): `npm run typecheck` checks them.
// With --if-stale (npm start and the operator commands) it builds only when dist/ is missing or older than a source.
import { readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

const SOURCES = "src";
const OUT = "dist";
const STAMP = join(OUT, ".built");
const INPUTS = ["package.json", "package-lock.json", "scripts/build.mjs"];

/** Every file and folder under `dir` (folders too: deleting a source changes its folder's mtime). */
function walk(dir, into = []) {
  into.push(dir);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, into);
    else into.push(path);
  }
  return into;
}

const mtime = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
};

const paths = walk(SOURCES);
const entryPoints = paths.filter((path) => path.endsWith(".ts") && !path.endsWith(".test.ts"));
const newestInput = Math.max(...[...paths, ...INPUTS].map(mtime));

if (process.argv.includes("--if-stale") && mtime(STAMP) >= newestInput) process.exit(0);

const started = performance.now();
// Built beside dist/ and swapped in, so that a process starting from dist/ meanwhile never sees half of it.
const staging = `${OUT}.${process.pid}`;
await build({
  entryPoints,
  outbase: SOURCES,
  outdir: staging,
  format: "esm",
  platform: "node",
  // package.json's engines: for "node20" esbuild drops the `with { type: "json" }` of a JSON import, which node needs.
  target: "node20.19",
  sourcemap: true,
  logLevel: "warning",
});
writeFileSync(join(staging, ".built"), `${new Date().toISOString()}\n`);
const old = `${OUT}.old.${process.pid}`;
try {
  renameSync(OUT, old);
} catch {
  // no dist/ yet
}
renameSync(staging, OUT);
rmSync(old, { recursive: true, force: true });
console.error(
  `clerk-provisioner: built ${entryPoints.length} files into ${OUT}/ in ${Math.round(performance.now() - started)} ms`,
);
