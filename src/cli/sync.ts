/**
 * `npm run sync -- [options]`: back-fills and reconciles users from the Clerk Backend API (README § npm run sync).
 */
import { createClerkDirectory, MAX_PAGE_SIZE } from "../clerk/backend-api.js";
import { createRequestBudget, defaultRequestsPerWindow } from "../clerk/request-budget.js";
import { loadConfig } from "../config.js";
import { type Counts, type ReconcileResult, reconcileUsers } from "../provisioning/reconcile-users.js";
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
import { createProgress, formatDuration } from "./progress.js";

const DEFAULT_CONCURRENCY = 16;
const MAX_CONCURRENCY = 64;

const USAGE = `usage: npm run sync -- [options]

Makes the database match Clerk: every Clerk user provisioned (created, or updated when Clerk's copy is newer) by the
webhook's rules; deleted users are never brought back. Resumes an interrupted run where it stopped.

  --dry-run           report what would be created, updated (and pruned); change nothing
  --prune             then remove users Clerk no longer has (only after a complete listing; each one confirmed
                      with Clerk; tombstoned like a user.deleted)
  --max-prune N       refuse to prune more than N users (default: 10 % of the users stored, at least 10)
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
· 3 Clerk refused the key · 4 done, but some users failed · 5 prune refused (--max-prune) · 130 interrupted.`;

function byPrefix(counts: Counts, prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, n] of Object.entries(counts))
    if (key.startsWith(prefix) && n !== 0) out[key.slice(prefix.length)] = n;
  return out;
}
const total = (parts: Record<string, number>) => Object.values(parts).reduce((a, b) => a + b, 0);

function summarize(result: ReconcileResult, dryRun: boolean) {
  const skipped = byPrefix(result.counts, "skipped:");
  const failed = byPrefix(result.counts, "failed:");
  return {
    status: result.status,
    dryRun,
    runId: result.runId ?? null,
    resumedAt: result.resumedAt ?? null,
    listed: result.listed,
    total: result.total,
    created: result.counts.created ?? 0,
    updated: result.counts.updated ?? 0,
    unchanged: result.counts.unchanged ?? 0,
    skipped,
    failed,
    pruned: result.counts.pruned ?? 0,
    prune: result.prune
      ? {
          candidates: result.prune.candidates,
          gone: result.prune.gone,
          refused: result.prune.refused ?? null,
          ids: result.prune.ids.slice(0, 1_000),
        }
      : null,
    failures: result.failures.slice(0, 100),
    timings: {
      totalMs: Math.round(result.timings.totalMs),
      databaseMs: Math.round(result.timings.databaseMs),
      clerkWaitMs: Math.round(result.timings.clerkWaitMs),
    },
  };
}

function printHuman(summary: ReturnType<typeof summarize>, stdout: CommandIo["stdout"]) {
  const out: string[] = [];
  const seconds = summary.timings.totalMs / 1000;
  const verb = summary.dryRun ? "dry run" : `sync ${summary.status}`;
  const run =
    summary.runId === null
      ? ""
      : ` (run ${summary.runId}${summary.resumedAt === null ? "" : `, resumed at user ${formatCount(summary.resumedAt)}`})`;
  out.push(
    `${verb}${run}: ${formatCount(summary.listed)} of ${formatCount(summary.total)} Clerk users listed in ${formatDuration(seconds)}${seconds > 0 ? ` (${formatCount(summary.listed / seconds)}/s)` : ""}${summary.dryRun ? "; nothing was changed" : ""}`,
  );
  const would = summary.dryRun ? "would be " : "";
  const line = (label: string, n: number, detail?: Record<string, number>) => {
    const parts = detail ? Object.entries(detail).map(([reason, count]) => `${reason} ${formatCount(count)}`) : [];
    out.push(`  ${label.padEnd(22)}${formatCount(n).padStart(10)}${parts.length > 0 ? `   ${parts.join(" · ")}` : ""}`);
  };
  line(`${would}created`, summary.created);
  line(`${would}updated`, summary.updated);
  line("unchanged", summary.unchanged);
  line("skipped", total(summary.skipped), summary.skipped);
  if (summary.prune) line(`${would}pruned`, summary.dryRun ? summary.prune.ids.length : summary.pruned);
  line(summary.dryRun ? "would fail" : "failed", total(summary.failed), summary.failed);
  if (summary.failures.length > 0) {
    out.push(
      `failed users: ${summary.failures
        .slice(0, 20)
        .map((f) => `${f.userId} (${f.reason})`)
        .join(", ")}${summary.failures.length > 20 ? ", …" : ""}`,
    );
  }
  if (summary.prune?.refused) {
    out.push(
      `prune refused: ${formatCount(summary.prune.gone)}+ stored users are not in Clerk, more than the limit of ${formatCount(summary.prune.refused.limit)}; nothing was removed. If CLERK_SECRET_KEY is the right instance, run again with --max-prune ${summary.prune.gone}.`,
    );
  } else if (summary.dryRun && summary.prune && summary.prune.ids.length > 0) {
    out.push(`would prune: ${summary.prune.ids.slice(0, 20).join(", ")}${summary.prune.ids.length > 20 ? ", …" : ""}`);
  }
  if (summary.status === "interrupted") out.push("interrupted: run `npm run sync` again to continue where it stopped");
  if (!summary.dryRun && total(summary.failed) + total(summary.skipped) > 0) {
    out.push("skipped and failed users are recorded in clerk_deliveries: `npm run replay` retries them once fixed");
  }
  stdout.write(`${out.join("\n")}\n`);
}

export const run = command("sync", async (argv, io) => {
  const { values } = parseCliArgs({
    args: argv,
    options: {
      "dry-run": { type: "boolean", default: false },
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
  if (values.help) {
    io.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const progressMode = progressOption(values.progress, io.stderr);
  const pageSize = integerOption("page-size", values["page-size"], 1, MAX_PAGE_SIZE) ?? MAX_PAGE_SIZE;
  const maxPrune = integerOption("max-prune", values["max-prune"], 0, Number.MAX_SAFE_INTEGER);
  const maxRetries = integerOption("max-retries", values["max-retries"], 0, 100);
  const concurrency = integerOption("concurrency", values.concurrency, 1, MAX_CONCURRENCY) ?? DEFAULT_CONCURRENCY;
  const rate = integerOption("rate", values.rate, 1, 10_000);
  if (maxPrune !== undefined && !values.prune) throw usageError("--max-prune only goes with --prune");
  const config = loadConfig(io.env);
  const secretKey = requireSecretKey(config);
  const budget = createRequestBudget(rate ?? defaultRequestsPerWindow(secretKey));

  const progress = createProgress(values["dry-run"] ? "sync (dry run)" : "sync", progressMode, io.stderr);
  const { signal } = io;
  onInterrupt(signal, (name) =>
    progress.note(`${name}: stopping after the page being applied (again to exit at once)`),
  );
  const directory = createClerkDirectory({
    secretKey,
    apiUrl: config.clerk.apiUrl,
    maxRetries,
    signal,
    budget,
    onRetry: ({ status, delayMs, attempt }) =>
      progress.note(
        status === 429
          ? `Clerk rate limit (429): waiting ${formatDuration(delayMs / 1000)} as Retry-After asks`
          : `Clerk ${status === undefined ? "did not answer" : `answered ${status}`}: retry ${attempt} in ${formatDuration(delayMs / 1000)}`,
      ),
  });
  const database = await openCliDatabase(config);
  try {
    const result = await reconcileUsers(
      { db: database.db, directory },
      {
        dryRun: values["dry-run"],
        prune: values.prune,
        maxPrune,
        restart: values.restart,
        pageSize,
        concurrency,
        signal,
        onProgress: ({ position, total, inFlight }) =>
          progress.update(position, total, `${inFlight} in flight · ${formatCount(budget.recent())} req/10s`),
        onNotice: (message) => progress.note(message),
      },
    );
    progress.end();
    const summary = summarize(result, values["dry-run"]);
    if (values.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
    else printHuman(summary, io.stdout);
    if (result.status === "interrupted") return EXIT.interrupted;
    if (result.prune?.refused) return EXIT.pruneRefused;
    if (total(summary.failed) > 0) return EXIT.incomplete;
    return EXIT.ok;
  } finally {
    progress.end();
    await database.close().catch(() => {});
  }
});
