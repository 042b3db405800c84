// Runs before `npm start` and `npm test`: on a fresh clone (or after package-lock.json changed) it installs the
// locked dependencies, so the quick start needs no manual step. Uses only Node's standard library.
import { execSync } from "node:child_process";
import { statSync } from "node:fs";

const mtime = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
};

if (mtime("node_modules/.package-lock.json") < mtime("package-lock.json")) {
  console.error("clerk-provisioner: installing dependencies (npm ci)…");
  execSync("npm ci --no-audit --no-fund", { stdio: "inherit" });
}
