import { runAsProcess } from "../cli/cli.js";
import { run } from "../cli/sync.js";

runAsProcess(run);
