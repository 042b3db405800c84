/**
 * `npm run replay -- [--id SVIX_ID] [options]`: re-runs skipped and failed deliveries (README § npm run replay).
 */
import { createClerkDirectory } from "../clerk/backend-api.js";
import { loadConfig } from "../config.js";
import { type ReplayResult, replayDeliveries } from "../replay/replay.js";
import {
  command,
  EXIT,
  formatCount,
  integerOption,
  onInterrupt,
  openCliDatabase,
  parseCliArgs,
  progressOption,
  requireSecretKey,
  usageError,
} from "./cli.js";
import { createProgress, retryAfterCapNote } from "./progress.js";

const USAGE = `usage: npm run replay -- [--id SVIX_ID] [options]

Re-runs the deliveries recorded as skipped or failed in clerk_deliveries (a user without a usable e-mail; from
npm run sync, an e-mail held by another user or an unreadable payload), after the cause was fixed. Each is replayed
with its user's current state from the Clerk Backend API, by the webhook's rules; the delivery row gets the new
outcome and replayed_at.

  --id SVIX_ID        only this delivery (as recorded: msg_…, sync:…, jit:…)
  --dry-run           report what a replay would do; change nothing
  --json              print the summary as one JSON object on stdout
  --progress MODE     bar | lines | none (default: bar on a terminal, else lines), on stderr
  --max-retries N     retries of one Clerk request after a 429, 5xx or network error (default 8)

Needs CLERK_SECRET_KEY (and CLERK_API_URL for a non-default API); DATABASE_URL as for npm start.
Exit codes: 0 every delivery replayed is now provisioned or stale (or there was none) · 1 stopped by an error
· 2 bad usage or configuration, or --id names no replayable delivery · 3 Clerk refused the key
· 4 some deliveries are still skipped or failed (see the summary) · 130 interrupted.`;

/** Outcomes that need no further replay: `duplicate`, another replay took the delivery meanwhile. */
const FINAL = new Set(["provisioned", "stale", "duplicate"]);

/** The command line, checked: what `--help` asks for, or the run's options. */
function replayOptions(argv: string[]) {
  const { values } = parseCliArgs({
    args: argv,
    options: {
      id: { type: "string" },
      "dry-run": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      progress: { type: "string" },
      "max-retries": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.id !== undefined && values.id.trim() === "") throw usageError("--id needs a delivery id");
  return {
    help: values.help,
    id: values.id,
    dryRun: values["dry-run"],
    json: values.json,
    progress: values.progress,
    maxRetries: integerOption("max-retries", values["max-retries"], 0, 100),
  };
}

export const run = command("replay", async (argv, io) => {
  const options = replayOptions(argv);
  if (options.help) {
    io.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const progressMode = progressOption(options.progress, io.stderr);
  const config = loadConfig(io.env, { receivesWebhooks: false });
  const secretKey = requireSecretKey(config);

  const progress = createProgress(options.dryRun ? "replay (dry run)" : "replay", progressMode, io.stderr);
  const { signal } = io;
  onInterrupt(signal, (name) => progress.note(`${name}: stopping after the current batch`));
  const directory = createClerkDirectory({
    secretKey,
    apiUrl: config.clerk.apiUrl,
    maxRetries: options.maxRetries,
    signal,
    onRetry: (notice) =>
      progress.note(
        `Clerk ${notice.status === undefined ? "did not answer" : `answered ${notice.status}`}: retry ${notice.attempt} in ${Math.round(notice.delayMs / 100) / 10}s${retryAfterCapNote(notice)}`,
      ),
  });
  const database = await openCliDatabase(config);
  try {
    const result = await replayDeliveries(
      { db: database.db, directory },
      { id: options.id, dryRun: options.dryRun, signal, onProgress: ({ done, total }) => progress.update(done, total) },
    );
    progress.end();
    const open = Object.entries(result.counts)
      .filter(([outcome]) => !FINAL.has(outcome))
      .reduce((sum, [, n]) => sum + n, 0);
    io.stdout.write(
      options.json
        ? `${JSON.stringify({ dryRun: options.dryRun, ...result })}\n`
        : `${summaryLines(result, options.dryRun, open).join("\n")}\n`,
    );
    if (result.status === "interrupted") return EXIT.interrupted;
    return open > 0 ? EXIT.incomplete : EXIT.ok;
  } finally {
    progress.end();
    await database.close().catch(() => {});
  }
});

/** The summary for a terminal: the counts, the first 50 deliveries, and what to do next. */
function summaryLines(result: ReplayResult, dryRun: boolean, open: number): string[] {
  const lines: string[] = [];
  if (result.selected === 0) lines.push("replay: no skipped or failed deliveries to replay");
  else {
    lines.push(
      `replay ${dryRun ? "(dry run, nothing was changed)" : result.status}: ${formatCount(result.selected)} ${result.selected === 1 ? "delivery" : "deliveries"}`,
    );
    for (const [outcome, n] of Object.entries(result.counts).sort(([, a], [, b]) => b - a)) {
      lines.push(`  ${(dryRun ? `would be ${outcome}` : outcome).padEnd(34)}${formatCount(n).padStart(8)}`);
    }
    for (const d of result.deliveries.slice(0, 50))
      lines.push(`  ${d.deliveryId} (${d.userId}): ${d.before} → ${d.after}`);
    if (result.deliveries.length > 50)
      lines.push(`  … ${formatCount(result.selected - 50)} more (--json lists up to 1,000)`);
    if (open > 0 && !dryRun) {
      lines.push(`${formatCount(open)} still not provisioned: fix the cause shown (in Clerk or here) and run again`);
    }
  }
  if (result.status === "interrupted") lines.push("interrupted: run `npm run replay` again for the rest");
  return lines;
}
