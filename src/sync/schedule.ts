import { setMaxListeners } from "node:events";
import { createClerkDirectory, MAX_PAGE_SIZE } from "../clerk/backend-api.js";
import { createRequestBudget, type RequestBudget, scheduledRequestsPerWindow } from "../clerk/request-budget.js";
import type { Config } from "../config.js";
import { describeError } from "../db/errors.js";
import type { Db } from "../db/types.js";
import { isServiceError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { SyncMetrics } from "../metrics.js";
import type { Counts } from "../outcome.js";
import { SYNC_KINDS } from "./kinds.js";
import { completedRuns } from "./runs.js";
import { type KindName, reconcile } from "./sync.js";

/**
 * The scheduled reconcile in the server: every `intervalMs` (the first one interval after start), the sync of every
 * kind in SYNC_KINDS, incremental unless a full listing is due; never pruning, never overlapping itself (the next run
 * is scheduled once this one ended), one replica at a time (the sync lock: a replica that does not get it skips).
 * Errors are logged and counted and the next interval tries again; `stop()` interrupts a run after the page being
 * applied, which the next run resumes.
 */

type Mode = "incremental" | "full";
type Outcome = "completed" | "interrupted" | "failed" | "skipped";

/** Retries of one Clerk request within a run: an outage fails the run soon, the next interval tries again. */
const MAX_RETRIES = 2;
/** Pages in flight in a full listing (an incremental one reads a page at a time). */
const FULL_CONCURRENCY = 4;

export interface ScheduleDeps {
  db: Db;
  logger: Logger;
  metrics: SyncMetrics;
  clerk: Config["clerk"];
  sync: Config["sync"];
}

export interface ScheduledReconcile {
  /** Interrupts the run in progress (after the page being applied) and cancels the next; resolves once it ended. */
  stop(): Promise<void>;
}

/** Starts the schedule, or says in the log why it is off; `undefined` when off. */
export function scheduleReconcile(deps: ScheduleDeps): ScheduledReconcile | undefined {
  const { logger, sync } = deps;
  const secretKey = deps.clerk.secretKey;
  deps.metrics.configured(secretKey ? sync.intervalMs : 0);
  if (sync.intervalMs === 0) {
    logger.info("scheduled reconcile off (SYNC_INTERVAL_SECONDS=0)");
    return undefined;
  }
  if (!secretKey) {
    logger.info("scheduled reconcile off: CLERK_SECRET_KEY is unset");
    return undefined;
  }
  const rate = sync.requestsPer10s ?? scheduledRequestsPerWindow(secretKey);
  logger.info(
    { intervalSeconds: sync.intervalMs / 1000, fullIntervalSeconds: sync.fullIntervalMs / 1000, requestsPer10s: rate },
    "scheduled reconcile on",
  );
  const controller = new AbortController();
  // Each page in flight listens to it while it waits for the budget and for its answer (Node warns past 10).
  setMaxListeners(2 * FULL_CONCURRENCY + 10, controller.signal);
  const budget = countingBudget(createRequestBudget(rate), deps.metrics);
  const directory = createClerkDirectory({
    secretKey,
    apiUrl: deps.clerk.apiUrl,
    maxRetries: MAX_RETRIES,
    signal: controller.signal,
    budget,
    onRetry: ({ attempt, status, delayMs }) => logger.warn({ attempt, status, delayMs }, "reconcile: Clerk retry"),
  });
  const runOnce = () => runReconcile({ ...deps, directory, signal: controller.signal });
  void refreshLastSuccess(deps);

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const next = () => {
    timer = setTimeout(() => {
      running = runOnce().finally(() => {
        running = undefined;
        if (!controller.signal.aborted) next();
      });
    }, sync.intervalMs);
  };
  next();
  return {
    async stop() {
      clearTimeout(timer);
      controller.abort();
      await running;
    },
  };
}

/** Every request the runs send counts in `clerk_sync_clerk_requests_total`. */
function countingBudget(budget: RequestBudget, metrics: SyncMetrics): RequestBudget {
  return {
    take: (cost, signal) => {
      metrics.requestsSent(cost);
      return budget.take(cost, signal);
    },
    pause: (ms) => budget.pause(ms),
    recent: () => budget.recent(),
  };
}

type RunDeps = ScheduleDeps & { directory: ReturnType<typeof createClerkDirectory>; signal: AbortSignal };

/** One run: its outcome logged and counted, its repairs (also those of a run that failed later) counted by kind. */
async function runReconcile(deps: RunDeps): Promise<void> {
  const { logger, metrics, signal } = deps;
  const began = performance.now();
  const counts: Partial<Record<KindName, Counts>> = {};
  let mode: Mode = "incremental";
  let outcome: Outcome = "failed";
  try {
    mode = (await fullDue(deps)) ? "full" : "incremental";
    logger.info({ mode }, "reconcile started");
    const result = await reconcile(
      { db: deps.db, directory: deps.directory },
      {
        kinds: Object.keys(SYNC_KINDS) as KindName[],
        incremental: mode === "incremental",
        dryRun: false,
        prune: false,
        restart: false,
        pageSize: MAX_PAGE_SIZE,
        concurrency: FULL_CONCURRENCY,
        signal,
        onProgress: (progress) => {
          counts[progress.kind] = { ...progress.counts };
        },
        onNotice: (message) => logger.info({ mode }, `reconcile: ${message}`),
      },
    );
    outcome = result.status;
    const repaired = repairsOf(counts);
    const fields = { mode, runId: result.runId, status: result.status, ms: elapsed(began), repaired };
    if (Object.keys(repaired).length > 0) logger.warn(fields, "reconcile repaired rows no delivery had written");
    else logger.info({ ...fields, warnings: result.warnings }, "reconcile finished");
  } catch (error) {
    outcome = failureOutcome(error, signal);
    const fields = { mode, ms: elapsed(began), repaired: repairsOf(counts) };
    if (outcome === "skipped")
      logger.info({ mode }, "reconcile skipped: another replica (or npm run sync) holds the lock");
    else if (outcome === "interrupted") logger.info(fields, "reconcile interrupted");
    else logger.error({ ...fields, err: describeError(error), ...codeOf(error) }, "reconcile failed");
  } finally {
    for (const [kind, n] of Object.entries(repairsOf(counts))) metrics.repaired(kind, n);
    metrics.run(mode, outcome, outcome === "skipped" ? undefined : performance.now() - began);
  }
  await refreshLastSuccess(deps);
}

const elapsed = (since: number) => Math.round(performance.now() - since);

function failureOutcome(error: unknown, signal: AbortSignal): Outcome {
  if (isServiceError(error, "sync_busy")) return "skipped";
  if (signal.aborted) return "interrupted";
  return "failed";
}

/** A `ServiceError`'s code and message (ours: no secret, no e-mail); nothing of another error's text. */
const codeOf = (error: unknown) => (isServiceError(error) ? { code: error.code, reason: error.message } : {});

/** Rows created or updated by the run, by kind (only kinds that had any). */
function repairsOf(counts: Partial<Record<KindName, Counts>>): Partial<Record<KindName, number>> {
  const repaired: Partial<Record<KindName, number>> = {};
  for (const [kind, byOutcome] of Object.entries(counts)) {
    const n = (byOutcome.created ?? 0) + (byOutcome.updated ?? 0);
    if (n > 0) repaired[kind as KindName] = n;
  }
  return repaired;
}

async function fullDue({ db, sync }: ScheduleDeps): Promise<boolean> {
  if (sync.fullIntervalMs === 0) return false;
  const { fullSince } = await completedRuns(db);
  return fullSince !== undefined && Date.now() - fullSince.getTime() >= sync.fullIntervalMs;
}

/** The gauge follows the database: whichever replica (or `npm run sync`) completed the latest run. */
async function refreshLastSuccess({ db, metrics, logger }: ScheduleDeps): Promise<void> {
  try {
    const { lastSuccess } = await completedRuns(db);
    if (lastSuccess) metrics.lastSuccess(lastSuccess);
  } catch (error) {
    logger.warn({ err: describeError(error) }, "reconcile: could not read the last completed run");
  }
}
