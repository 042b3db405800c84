import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** Tests that run `npm start` or the operator commands use dist/: built once here, not by files racing each other. */
export function setup() {
  execFileSync(process.execPath, ["scripts/build.mjs", "--if-stale"], {
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    stdio: "inherit",
  });
}
