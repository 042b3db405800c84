/**
 * `npm run sync -- [options]`: back-fills and reconciles users from the Clerk Backend API (README § npm run sync).
 */

import { setMaxListeners } from "node:events";
import { createClerkDirectory, MAX_PAGE_SIZE } from "../clerk/backend-api.js";
import { createRequestBudget, defaultRequestsPerWindow } from "../clerk/request-budget.js";
import { type Config, loadConfig } from "../config.js";
import { type KindName, type ReconcileResult, reconcile } from "../sync/sync.js";
import {
  type CommandIo,
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
import { createProgress, formatDuration, type Progress, type ProgressMode, retryAfterCapNote } from "./progress.js";
import { incomplete, printHuman, summarize } from "./sync-summary.js";

const DEFAULT_CONCURRENCY = 16;
const MAX_CONCURRENCY = 64;

const USAGE = `usage: npm run sync -- [options]

Makes the database match Clerk: every Clerk user, then every organization, every organization membership, then
every Clerk Billing subscription item provisioned (created, or updated when Clerk's copy is newer) by the webhook's
rules; what was deleted is never brought back. Resumes an interrupted run where it stopped.

  --dry-run           report what would be created, updated (and pruned); change nothing
  --incremental       users newest-updated first, only down to what the last incremental run saw (the first
                      one reads them all; organizations and memberships, which Clerk cannot order by update,
                      are listed whole); a page at a time; not with --prune
  --prune             then remove users, organizations and memberships Clerk no longer has (only after complete
                      listings; each one confirmed with Clerk; tombstoned like its .deleted event)
  --max-prune N       refuse to prune more than N of any kind (default: 10 % of those stored, at least 10); over
                      the limit for one kind, nothing of any kind is pruned
  --restart           start from the first page even if an unfinished run could be resumed
  --json              print the summary as one JSON object on stdout
  --progress MODE     bar | lines | none (default: bar on a terminal, else a line every 2 s), on stderr
  --page-size N       users per request, 1–${MAX_PAGE_SIZE} (default ${MAX_PAGE_SIZE}, the API's largest page)
  --max-retries N     retries of one Clerk request after a 429, 5xx or network error (default 8)
  --concurrency N     pages in flight, 1–${MAX_CONCURRENCY} (default ${DEFAULT_CONCURRENCY}); pages are applied in order
  --rate N            Clerk requests per 10 s at most (a page is two), 1–10000 (default: 900 for an sk_live_ key,
                      90 for sk_test_: 90 % of Clerk's limit for production and development instances)

Needs CLERK_SECRET_KEY (and CLERK_API_URL for a non-default API); DATABASE_URL as for npm start.
Exit codes: 0 done · 1 stopped by an error (run again to resume) · 2 bad usage or configuration
· 3 Clerk refused the key · 4 done, but some rows failed or a listing may have missed some
· 5 prune refused (--max-prune) · 130 interrupted.`;

/** One progress line per kind listed: `sync` (users), `sync organizations`, `sync memberships`; notes on the current. */
function progressPerKind(label: string, mode: ProgressMode, stderr: CommandIo["stderr"]) {
  let current = createProgress(label, mode, stderr);
  const byKind = new Map<KindName, Progress>([["users", current]]);
  return {
    of(kind: KindName): Progress {
      let found = byKind.get(kind);
      if (!found) {
        current.end();
        found = createProgress(`${label} ${kind}`, mode, stderr);
        byKind.set(kind, found);
      }
      current = found;
      return found;
    },
    note: (message: string) => current.note(message),
    end: () => current.end(),
  };
}

/** The command line, checked: what `--help` asks for, or the run's options. */
function syncOptions(argv: string[]) {
  const { values } = parseCliArgs({
    args: argv,
    options: {
      "dry-run": { type: "boolean", default: false },
      incremental: { type: "boolean", default: false },
      prune: { type: "boolean", default: false },
      "max-prune": { type: "string" },
      restart: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      progress: { type: "string" },
      "page-size": { type: "string" },
      "max-retries": { type: "string" },
      concurrency: { type: "string" },
      rate: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const maxPrune = integerOption("max-prune", values["max-prune"], 0, Number.MAX_SAFE_INTEGER);
  if (maxPrune !== undefined && !values.prune) throw usageError("--max-prune only goes with --prune");
  if (values.incremental && values.prune) {
    throw usageError("--prune needs complete listings: run it without --incremental");
  }
  return {
    help: values.help,
    dryRun: values["dry-run"],
    incremental: values.incremental,
    prune: values.prune,
    maxPrune,
    restart: values.restart,
    json: values.json,
    progress: values.progress,
    pageSize: integerOption("page-size", values["page-size"], 1, MAX_PAGE_SIZE) ?? MAX_PAGE_SIZE,
    maxRetries: integerOption("max-retries", values["max-retries"], 0, 100),
    concurrency: integerOption("concurrency", values.concurrency, 1, MAX_CONCURRENCY) ?? DEFAULT_CONCURRENCY,
    rate: integerOption("rate", values.rate, 1, 10_000),
  };
}

type SyncOptions = ReturnType<typeof syncOptions>;

/** Clerk's listings for the run: its rate budget and retries, each retry noted on the progress line. */
function clerkFor(config: Config, options: SyncOptions, signal: AbortSignal, progress: { note(text: string): void }) {
  const secretKey = requireSecretKey(config);
  const budget = createRequestBudget(options.rate ?? defaultRequestsPerWindow(secretKey));
  // Each page in flight listens to the signal while it waits for the budget and for its request: up to twice the
  // concurrency at once, each removed when done (Node warns past 10 by default).
  setMaxListeners(2 * options.concurrency + 10, signal);
  const directory = createClerkDirectory({
    secretKey,
    apiUrl: config.clerk.apiUrl,
    maxRetries: options.maxRetries,
    signal,
    budget,
    onRetry: (notice) => {
      const { status, delayMs, attempt } = notice;
      progress.note(
        status === 429
          ? `Clerk rate limit (429): waiting ${formatDuration(delayMs / 1000)}${retryAfterCapNote(notice) || " as Retry-After asks"}`
          : `Clerk ${status === undefined ? "did not answer" : `answered ${status}`}: retry ${attempt} in ${formatDuration(delayMs / 1000)}`,
      );
    },
  });
  return { directory, budget };
}

function exitCode(result: ReconcileResult, summary: ReturnType<typeof summarize>): number {
  if (result.status === "interrupted") return EXIT.interrupted;
  if (Object.values(result.kinds).some((kind) => kind.prune?.refused)) return EXIT.pruneRefused;
  return incomplete(summary) ? EXIT.incomplete : EXIT.ok;
}

export const run = command("sync", async (argv, io) => {
  const options = syncOptions(argv);
  if (options.help) {
    io.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const progressMode = progressOption(options.progress, io.stderr);
  const config = loadConfig(io.env, { receivesWebhooks: false });
  const progress = progressPerKind(options.dryRun ? "sync (dry run)" : "sync", progressMode, io.stderr);
  const { signal } = io;
  const { directory, budget } = clerkFor(config, options, signal, progress);
  onInterrupt(signal, (name) =>
    progress.note(`${name}: stopping after the page being applied (again to exit at once)`),
  );
  const database = await openCliDatabase(config);
  try {
    const result = await reconcile(
      { db: database.db, directory },
      {
        kinds: ["users", "organizations", "memberships", "permissions", "roles", "invitations", "subscriptionItems"],
        dryRun: options.dryRun,
        incremental: options.incremental,
        prune: options.prune,
        maxPrune: options.maxPrune,
        restart: options.restart,
        pageSize: options.pageSize,
        concurrency: options.concurrency,
        signal,
        onProgress: ({ kind, position, total, inFlight }) =>
          progress.of(kind).update(position, total, `${inFlight} in flight · ${formatCount(budget.recent())} req/10s`),
        onNotice: (message) => progress.note(message),
      },
    );
    progress.end();
    const summary = summarize(result, options.dryRun);
    if (options.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
    else printHuman(summary, io.stdout);
    return exitCode(result, summary);
  } finally {
    progress.end();
    await database.close().catch(() => {});
  }
});
