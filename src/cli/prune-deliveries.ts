/**
 * `npm run prune-deliveries -- --older-than-days N`: removes `clerk_deliveries` rows received more than N days ago
 * (N ≥ 30). The version rows (`clerk_user_versions`) keep ordering and tombstones correct without them; what is
 * lost is idempotency for a redelivery older than N days, which Svix never sends (it gives up after ~27 hours).
 */
import { pathToFileURL } from "node:url";
import { inArray, lt } from "drizzle-orm";
import { loadConfig } from "../config.js";
import type { Database } from "../db/client.js";
import { clerkDeliveries } from "../db/schema.js";
import type { Db } from "../db/types.js";
import { describeFailure, EXIT, formatCount, integerOption, openCliDatabase, parseCliArgs, usageError } from "./cli.js";

export const MIN_RETENTION_DAYS = 30;
const DAY_MS = 86_400_000;

const USAGE = `usage: npm run prune-deliveries -- --older-than-days N [--batch-size N]

Deletes the delivery records (clerk_deliveries) received more than N days ago, N at least ${MIN_RETENTION_DAYS}, in
batches (default 5000 rows a statement, each its own transaction). Users, workspaces and the version rows that keep
events in order and deleted users deleted are untouched. DATABASE_URL as for npm start.
Exit codes: 0 done · 1 stopped by an error (run again: it continues) · 2 bad usage or configuration.`;

/** Deletes, batch by batch, the deliveries received before `now - olderThanDays`; answers how many. */
export async function pruneDeliveries(
  db: Db,
  options: { olderThanDays: number; batchSize?: number; now?: Date },
): Promise<number> {
  if (!(options.olderThanDays >= MIN_RETENTION_DAYS)) {
    throw usageError(`--older-than-days must be at least ${MIN_RETENTION_DAYS}`);
  }
  const batchSize = options.batchSize ?? 5_000;
  const cutoff = new Date((options.now ?? new Date()).getTime() - options.olderThanDays * DAY_MS);
  let deleted = 0;
  for (;;) {
    const batch = db
      .select({ deliveryId: clerkDeliveries.deliveryId })
      .from(clerkDeliveries)
      .where(lt(clerkDeliveries.receivedAt, cutoff))
      .limit(batchSize);
    const rows = await db
      .delete(clerkDeliveries)
      .where(inArray(clerkDeliveries.deliveryId, batch))
      .returning({ deliveryId: clerkDeliveries.deliveryId });
    deleted += rows.length;
    if (rows.length < batchSize) return deleted;
  }
}

export interface RunDeps {
  /** The database to prune; the configured one (as `npm start` opens it) by default. */
  openDatabase?: () => Promise<Database>;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
}

/** The command: parses `argv`, prunes, prints a summary; answers the exit code (errors are printed, not thrown). */
export async function run(argv: string[], deps: RunDeps = {}): Promise<number> {
  const stdout = deps.stdout ?? ((text) => process.stdout.write(text));
  const stderr = deps.stderr ?? ((text) => process.stderr.write(text));
  try {
    const { values } = parseCliArgs({
      args: argv,
      options: {
        "older-than-days": { type: "string" },
        "batch-size": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    if (values.help) {
      stdout(`${USAGE}\n`);
      return EXIT.ok;
    }
    const olderThanDays = integerOption("older-than-days", values["older-than-days"], MIN_RETENTION_DAYS, 36_500);
    if (olderThanDays === undefined) throw usageError(`--older-than-days is required\n${USAGE}`);
    const batchSize = integerOption("batch-size", values["batch-size"], 1, 100_000);
    const database = await (
      deps.openDatabase ?? (() => openCliDatabase(loadConfig(process.env, { receivesWebhooks: false })))
    )();
    try {
      const deleted = await pruneDeliveries(database.db, { olderThanDays, ...(batchSize ? { batchSize } : {}) });
      stdout(`prune-deliveries: ${formatCount(deleted)} deliveries received over ${olderThanDays} days ago removed\n`);
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

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(process.argv.slice(2)).then((code) => process.exit(code));
}
