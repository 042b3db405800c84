import { runAsProcess } from "../cli/cli.js";
import { run } from "../cli/replay.js";

runAsProcess(run);
