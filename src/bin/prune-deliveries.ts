import { runAsProcess } from "../cli/cli.js";
import { run } from "../cli/prune-deliveries.js";

runAsProcess((argv, io) =>
  run(argv, {
    env: io.env,
    signal: io.signal,
    stdout: (text) => io.stdout.write(text),
    stderr: (text) => io.stderr.write(text),
  }),
);
