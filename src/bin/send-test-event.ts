import { runAsProcess } from "../cli/cli.js";
import { run } from "../cli/send-test-event.js";

runAsProcess(run);
