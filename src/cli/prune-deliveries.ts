/**
 * `npm run prune-deliveries -- --older-than-days N [--batch-size N]`: the command line of the retention verb
 * (src/retention/prune-deliveries.ts).
 */
import { loadConfig } from "../config.js";
import type { Database } from "../db/client.js";
import { MIN_RETENTION_DAYS, pruneDeliveries } from "../retention/prune-deliveries.js";
import { describeFailure, EXIT, formatCount, integerOption, openCliDatabase, parseCliArgs, usageError } from "./cli.js";

const USAGE = `usage: npm run prune-deliveries -- --older-than-days N [--batch-size N]

Deletes the delivery records (clerk_deliveries) received more than N days ago, N at least ${MIN_RETENTION_DAYS}, in
batches (default 5000 rows a statement, each its own transaction), oldest first. Users, workspaces and the version
rows that keep events in order and deleted users deleted are untouched. DATABASE_URL as for npm start.
Exit codes: 0 done · 1 stopped by an error (run again: it continues) · 2 bad usage or configuration
· 130 interrupted (run again: it continues).`;

export interface RunDeps {
  /** The database to prune; the configured one (as `npm start` opens it) by default. */
  openDatabase?: () => Promise<Database>;
  env?: Record<string, string | undefined>;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  /** Aborted by Ctrl-C or SIGTERM: stops after the batch being removed. */
  signal?: AbortSignal;
}

/** The command line, checked: what `--help` asks for, or the options. */
function pruneOptions(argv: string[]) {
  const { values } = parseCliArgs({
    args: argv,
    options: {
      "older-than-days": { type: "string" },
      "batch-size": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return { help: true } as const;
  const olderThanDays = integerOption("older-than-days", values["older-than-days"], MIN_RETENTION_DAYS, 36_500);
  if (olderThanDays === undefined) throw usageError(`--older-than-days is required\n${USAGE}`);
  return { help: false, olderThanDays, batchSize: integerOption("batch-size", values["batch-size"], 1, 100_000) };
}

/** The command: parses `argv`, prunes, prints a summary; answers the exit code (errors are printed, not thrown). */
export async function run(argv: string[], deps: RunDeps = {}): Promise<number> {
  const stdout = deps.stdout ?? ((text) => process.stdout.write(text));
  const stderr = deps.stderr ?? ((text) => process.stderr.write(text));
  try {
    const options = pruneOptions(argv);
    if (options.help) {
      stdout(`${USAGE}\n`);
      return EXIT.ok;
    }
    const { olderThanDays, batchSize } = options;
    const config = () => loadConfig(deps.env ?? process.env, { receivesWebhooks: false });
    const database = await (deps.openDatabase ?? (() => openCliDatabase(config())))();
    try {
      const removed = await pruneDeliveries(database.db, { olderThanDays, batchSize, signal: deps.signal });
      stdout(`prune-deliveries: ${formatCount(removed)} deliveries received over ${olderThanDays} days ago removed\n`);
      return EXIT.ok;
    } finally {
      await database.close();
    }
  } catch (error) {
    const { code, message } = describeFailure(error);
    stderr(`prune-deliveries: ${message}\n`);
    return code;
  }
}
