import { type ClerkDirectory, MAX_IDS_PER_LOOKUP } from "../clerk/backend-api.js";
import { type ClerkUser, parseClerkUser } from "../clerk/events.js";
import { withAdvisoryLock } from "../db/query.js";
import type { Db } from "../db/types.js";
import { isServiceError, ServiceError } from "../errors.js";
import { pageThrough } from "./paging.js";
import { addInto as add, applySyncPage, type Counts, classifyUsers, type PageRecord, pruneUsers } from "./sync-page.js";
import { finishRun, type RunRow, runCounts, startRun, storedUserCount, storedUserIds } from "./sync-runs.js";
import { toUserRow, type UserRow } from "./user-row.js";

/**
 * `npm run sync`: makes the database match Clerk's user list. Pages through every user (`+created_at`, the API's
 * largest page), applies each page in one statement with the webhook's rules (provision-batch.ts), and records its
 * progress in `sync_runs` in that same statement, so that an interrupted run continues after its last committed page.
 * With `prune`, users the complete listing did not contain are confirmed gone with Clerk and tombstoned.
 */

export type { Counts };

export interface ReconcileOptions {
  /** Report what would change; write nothing (not even a run). */
  dryRun: boolean;
  /** After a complete listing, remove the users Clerk no longer has. */
  prune: boolean;
  /** Refuse to prune more users than this (default: 10 % of the users stored, at least 10). */
  maxPrune?: number | undefined;
  /** Start over from the first page even if an unfinished run could be resumed. */
  restart: boolean;
  /** Users per request (at most 500, the default). */
  pageSize: number;
  /** Listing requests in flight at most (default 1); pages are still applied one at a time, in order. */
  concurrency?: number | undefined;
  /** Stops after the page being applied has committed (Ctrl-C). */
  signal: AbortSignal;
  onProgress?: (progress: { position: number; total: number; counts: Counts; inFlight: number }) => void;
  /** Things an operator should know while it runs (resumed, re-reading after deletions, pruning). */
  onNotice?: (message: string) => void;
}

export interface PruneReport {
  /** Users stored here that the listing did not contain. */
  candidates: number;
  /** Of them, confirmed absent from Clerk. */
  gone: number;
  /** The ids removed (dry run: that would be removed), sorted. */
  ids: string[];
  /** Set when more users than `limit` would have been removed: nothing was. */
  refused?: { limit: number };
}

export interface ReconcileResult {
  runId: number | undefined;
  /** The offset an unfinished run was resumed at. */
  resumedAt: number | undefined;
  status: "completed" | "interrupted";
  /** Users listed by this invocation. */
  listed: number;
  /** Clerk's user count at the last page. */
  total: number;
  /** Over the whole run (an interrupted run's earlier part included). */
  counts: Counts;
  prune: PruneReport | undefined;
  /** Users this invocation could not write, with the reason (at most 1,000 listed). */
  failures: { userId: string; reason: string }[];
  timings: { totalMs: number; databaseMs: number; clerkWaitMs: number };
}

const syncBusy = () =>
  new ServiceError("sync_busy", "another `npm run sync` is running against this database; wait for it to finish");

const LOCK_NAME = "clerk-provisioner:sync";
const MAX_LISTED_FAILURES = 1_000;
const PRUNE_CHUNK = 500;

/** A page of Clerk's `UserJSON`s, mapped as the webhook maps them; ids already seen by this invocation are dropped. */
export function preparePage(
  listed: readonly unknown[],
  seen: Set<string>,
): {
  rows: UserRow[];
  records: PageRecord[];
  extraCounts: Counts;
  ids: string[];
  failures: { userId: string; reason: string }[];
} {
  const page = {
    rows: [] as UserRow[],
    records: [] as PageRecord[],
    extraCounts: {} as Counts,
    ids: [] as string[],
    failures: [] as { userId: string; reason: string }[],
  };
  for (const raw of listed) {
    const fields = (typeof raw === "object" && raw !== null ? raw : {}) as { id?: unknown; updated_at?: unknown };
    const id = typeof fields.id === "string" && fields.id.length > 0 ? fields.id : undefined;
    if (id !== undefined) {
      if (seen.has(id)) continue;
      seen.add(id);
      page.ids.push(id);
    }
    let user: ClerkUser;
    try {
      user = parseClerkUser(raw);
    } catch (error) {
      if (!isServiceError(error, "invalid_payload")) throw error;
      add(page.extraCounts, "failed:invalid_payload");
      page.failures.push({ userId: id ?? "(no id)", reason: `invalid_payload (${error.message})` });
      if (id !== undefined) {
        const updatedAt = typeof fields.updated_at === "number" ? Math.trunc(fields.updated_at) : 0;
        page.records.push({ userId: id, updatedAt, outcome: "failed", reason: "invalid_payload" });
      }
      continue;
    }
    const mapped = toUserRow(user);
    if (mapped.kind === "skip") {
      add(page.extraCounts, `skipped:${mapped.reason}`);
      page.records.push({ userId: user.id, updatedAt: user.updatedAt, outcome: "skipped", reason: mapped.reason });
      continue;
    }
    page.rows.push(mapped.row);
  }
  return page;
}

export async function reconcileUsers(
  deps: { db: Db; directory: ClerkDirectory },
  options: ReconcileOptions,
): Promise<ReconcileResult> {
  if (options.dryRun) return reconcile(deps, options, undefined);
  const locked = await withAdvisoryLock(deps.db, LOCK_NAME, async () => {
    const { run, resumed } = await startRun(deps.db, options);
    try {
      return await reconcile(deps, options, { run, resumed });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await finishRun(deps.db, run.id, "failed", message.slice(0, 500)).catch(() => {});
      throw error;
    }
  });
  if (!locked.acquired) throw syncBusy();
  return locked.value;
}

async function reconcile(
  { db, directory }: { db: Db; directory: ClerkDirectory },
  options: ReconcileOptions,
  started: { run: RunRow; resumed: boolean; superseded?: number } | undefined,
): Promise<ReconcileResult> {
  const began = performance.now();
  const timings = { databaseMs: 0, clerkWaitMs: 0 };
  const timed = async <T>(kind: keyof typeof timings, work: Promise<T>): Promise<T> => {
    const from = performance.now();
    try {
      return await work;
    } finally {
      timings[kind] += performance.now() - from;
    }
  };
  const notice = (message: string) => options.onNotice?.(message);
  const run = started?.run;
  const seen = new Set<string>();
  const counts: Counts = {};
  const failures: ReconcileResult["failures"] = [];
  let position = run?.nextOffset ?? 0;
  let inFlight = 0;
  if (started?.resumed) notice(`resuming run ${run?.id} at user ${position}`);
  else if (run) {
    const why = options.restart
      ? " (--restart)"
      : options.prune
        ? ": it did not record the users it listed, which --prune needs"
        : "";
    if (started?.superseded !== undefined) notice(`not resuming the unfinished run ${started.superseded}${why}`);
    notice(`run ${run.id}: starting at the first user`);
  }

  let listed = 0;
  const paging = await pageThrough(
    async (from, limit) => {
      const page = await directory.listUsers(from, limit);
      return { items: page.users, totalCount: page.totalCount };
    },
    async (page) => {
      const prepared = preparePage(page.items, seen);
      listed += prepared.ids.length;
      for (const failure of prepared.failures) if (failures.length < MAX_LISTED_FAILURES) failures.push(failure);
      if (run) {
        const applied = await timed(
          "databaseMs",
          applySyncPage(db, {
            runId: run.id,
            rows: prepared.rows,
            extraCounts: prepared.extraCounts,
            records: prepared.records,
            seenIds: run.prune ? prepared.ids : [],
            nextOffset: page.next,
            total: page.totalCount,
          }),
        );
        // The page's counts, as the run recorded them (the page's skipped and failed users included).
        for (const [outcome, n] of Object.entries(applied.counts)) add(counts, outcome, n);
        for (const { row, reason } of applied.failures) {
          if (failures.length < MAX_LISTED_FAILURES) failures.push({ userId: row.userId, reason });
        }
      } else {
        for (const [outcome, n] of Object.entries(prepared.extraCounts)) add(counts, outcome, n);
        const classified = await timed("databaseMs", classifyUsers(db, prepared.rows));
        for (const [outcome, n] of Object.entries(classified)) add(counts, outcome, n);
      }
      position = page.next;
      options.onProgress?.({ position, total: Math.max(page.totalCount, position), counts, inFlight });
    },
    {
      pageSize: options.pageSize,
      concurrency: options.concurrency ?? 1,
      from: position,
      knownTotal: run?.total ?? undefined,
      signal: options.signal,
      // Offsets shift when users before them are deleted: Clerk's count dropping means a page may start later than
      // where the last one ended. The users re-read are dropped as already seen, so that none is skipped.
      onShift: ({ dropped, from }) => notice(`Clerk's user count dropped by ${dropped}: re-reading from user ${from}`),
      onInFlight: (n) => {
        inFlight = n;
      },
    },
  );
  timings.clerkWaitMs = paging.waitMs;
  const complete = paging.complete;
  const knownTotal = paging.total;

  let prune: PruneReport | undefined;
  if (complete && options.prune && !options.signal.aborted) {
    prune = await pruneMissing({ db, directory }, options, run, seen, notice);
    if (!run) add(counts, "pruned", prune.ids.length);
  }
  const status = complete && !options.signal.aborted ? "completed" : "interrupted";
  if (run) {
    await finishRun(
      db,
      run.id,
      status,
      prune?.refused ? `prune refused: ${prune.gone} users gone, more than --max-prune ${prune.refused.limit}` : null,
    );
  }
  return {
    runId: run?.id,
    resumedAt: started?.resumed ? run?.nextOffset : undefined,
    status,
    listed,
    total: knownTotal ?? 0,
    counts: run ? await runCounts(db, run.id) : counts,
    prune,
    failures,
    timings: {
      totalMs: performance.now() - began,
      databaseMs: timings.databaseMs,
      clerkWaitMs: timings.clerkWaitMs,
    },
  };
}

/**
 * Users stored here but absent from a complete listing, each confirmed absent with Clerk (`user_id` lookups of 100):
 * a user deleted during the listing shifts later offsets, and one created since is not in it. A run that would
 * remove more than the limit removes nothing: most likely `CLERK_SECRET_KEY` belongs to another instance.
 */
async function pruneMissing(
  { db, directory }: { db: Db; directory: ClerkDirectory },
  options: ReconcileOptions,
  run: RunRow | undefined,
  listedIds: Set<string>,
  notice: (message: string) => void,
): Promise<PruneReport> {
  const limit = options.maxPrune ?? Math.max(10, Math.ceil((await storedUserCount(db)) * 0.1));
  const candidates = run
    ? await storedUserIds(db, run.id)
    : (await storedUserIds(db)).filter((id) => !listedIds.has(id));
  const gone: string[] = [];
  if (candidates.length > 0) notice(`pruning: checking ${candidates.length} users not in the listing with Clerk`);
  for (let i = 0; i < candidates.length && gone.length <= limit; i += MAX_IDS_PER_LOOKUP) {
    const chunk = candidates.slice(i, i + MAX_IDS_PER_LOOKUP);
    const present = new Set(
      (await directory.usersById(chunk)).map((user) => (user as { id?: unknown }).id).filter((id) => id !== undefined),
    );
    for (const id of chunk) if (!present.has(id)) gone.push(id);
  }
  const report: PruneReport = { candidates: candidates.length, gone: gone.length, ids: [] };
  if (gone.length > limit) {
    report.refused = { limit };
    return report;
  }
  if (!run) {
    report.ids = gone;
    return report;
  }
  for (let i = 0; i < gone.length; i += PRUNE_CHUNK) {
    report.ids.push(...(await pruneUsers(db, gone.slice(i, i + PRUNE_CHUNK), run.id)));
  }
  report.ids.sort();
  return report;
}
