import type { ClerkDirectory } from "../clerk/backend-api.js";
import { type LockCheck, withAdvisoryLock } from "../db/advisory-lock.js";
import type { Db } from "../db/types.js";
import { isServiceError, ServiceError } from "../errors.js";
import { addInto, type Counts } from "../outcome.js";
import type { KindName } from "../provisioning/kinds.js";
import { SYNC_KINDS } from "./kinds.js";
import { type Context, type Listing, type ListingOptions, listKind } from "./listing.js";
import { advanceMark, readMarks } from "./marks.js";
import type { Failure } from "./page.js";
import { type PruneReport, pruneMissing } from "./prune.js";
import { advancePhase, cursorOf, finishRun, type RunRow, runCounts, startRun } from "./runs.js";

/**
 * `npm run sync`: makes the database match Clerk. Pages through every user, then every organization, then every
 * membership (`+created_at`, the API's largest page; organizations before memberships), applies each page in one
 * transaction with the webhook's verbs, and records its progress in the run in that same transaction, so that an
 * interrupted run continues after its last committed page. With `prune`, what the complete listings did not contain
 * is confirmed gone with Clerk and removed (prune.ts).
 */

export type { Counts, KindName, PruneReport };

export interface ReconcileOptions extends ListingOptions {
  /** What to list, in order (default: users only; `npm run sync` lists all three). */
  kinds?: readonly KindName[];
  /** Report what would change; write nothing (not even a run). */
  dryRun: boolean;
  /** After complete listings, remove what Clerk no longer has (never with `incremental`: its listings are partial). */
  prune: boolean;
  /** Refuse to prune more of a kind than this (default: 10 % of those stored, at least 10). */
  maxPrune?: number | undefined;
  /** Start over from the first page even if an unfinished run could be resumed. */
  restart: boolean;
  /** Things an operator should know while it runs (resumed, re-reading after deletions, pruning). */
  onNotice?: (message: string) => void;
}

/** What one kind came to. */
export interface KindResult {
  /** Listed by this invocation. */
  listed: number;
  /** Clerk's count at the last page. */
  total: number;
  /** Over the whole run (an interrupted run's earlier part included). */
  counts: Counts;
  prune: PruneReport | undefined;
  /** Rows this invocation could not read or write, with the reason (at most 1,000 listed). */
  failures: Failure[];
  /** The offset an unfinished run was resumed at, if it resumed in this kind's listing. */
  resumedAt: number | undefined;
  /** Why its listing may have missed objects although it completed. */
  warnings: string[];
}

/** Every kind listed under `kinds`; the users' figures also at the top, as `npm run sync` has always reported them. */
export interface ReconcileResult {
  runId: number | undefined;
  resumedAt: number | undefined;
  status: "completed" | "interrupted";
  listed: number;
  total: number;
  counts: Counts;
  prune: PruneReport | undefined;
  failures: { userId: string; reason: string }[];
  timings: { totalMs: number; databaseMs: number; clerkWaitMs: number };
  kinds: Partial<Record<KindName, KindResult>>;
  /** Every kind's warnings. */
  warnings: string[];
}

const syncBusy = () =>
  new ServiceError("sync_busy", "another `npm run sync` is running against this database; wait for it to finish");

const SYNC_LOCK = { key: "clerk-provisioner:sync", label: "the sync lock" };

type Deps = { db: Db; directory: ClerkDirectory };
type Started = { run: RunRow; resumed: boolean; superseded?: number };

export async function reconcile(deps: Deps, options: ReconcileOptions): Promise<ReconcileResult> {
  if (options.dryRun) return reconcileWith(deps, options, undefined);
  const locked = await withAdvisoryLock(deps.db, SYNC_LOCK, async (stillHeld) => {
    const started = await startRun(deps.db, options);
    try {
      return await reconcileWith(deps, options, started, stillHeld);
    } catch (error) {
      // Without the lock the run is not ours to record: another sync may have resumed it.
      if (isServiceError(error, "lock_lost")) throw error;
      const message = error instanceof Error ? error.message : String(error);
      await finishRun(deps.db, started.run.id, "failed", message.slice(0, 500)).catch(() => {});
      throw error;
    }
  });
  if (!locked.acquired) throw syncBusy();
  return locked.value;
}

function startNotice(ctx: Context, options: ReconcileOptions, started: Started | undefined, kind: KindName) {
  if (!started) return;
  const { run } = started;
  if (started.resumed) {
    ctx.notice(`resuming run ${run.id} at ${SYNC_KINDS[kind].noun} ${cursorOf(run, kind).offset}`);
    return;
  }
  const why = options.restart
    ? " (--restart)"
    : options.prune
      ? ": it did not record the users it listed, which --prune needs"
      : "";
  if (started.superseded !== undefined) ctx.notice(`not resuming the unfinished run ${started.superseded}${why}`);
  ctx.notice(`run ${run.id}: starting at the first user`);
}

async function reconcileWith(deps: Deps, options: ReconcileOptions, started: Started | undefined, held?: LockCheck) {
  const began = performance.now();
  const run = started?.run;
  const kinds = options.kinds ?? ["users"];
  const ctx: Context = {
    ...deps,
    options,
    run,
    seen: Object.fromEntries(Object.keys(SYNC_KINDS).map((kind) => [kind, new Set<string>()])) as Context["seen"],
    timings: { databaseMs: 0, clerkWaitMs: 0 },
    notice: (message) => options.onNotice?.(message),
    stillHeld: held,
    marks: options.incremental ? await readMarks(deps.db) : undefined,
  };
  // A resumed run continues the kind it was listing; the kinds before it were listed completely.
  const phase = run ? Math.max(0, kinds.indexOf(run.phase as KindName)) : 0;
  startNotice(ctx, options, started, kinds[phase] ?? "users");
  const { listings, complete } = await listFrom(ctx, kinds, phase, run);

  await held?.();
  let prunes: Partial<Record<KindName, PruneReport>> = {};
  if (complete && options.prune && !options.incremental && !options.signal.aborted) {
    prunes = await pruneMissing(
      { ...deps, maxPrune: options.maxPrune, runId: run?.id, listed: ctx.seen, notice: ctx.notice },
      kinds,
    );
    if (!run)
      for (const [kind, report] of Object.entries(prunes))
        addInto(listings[kind as KindName]?.counts ?? {}, "pruned", report.ids.length);
  }
  const status = complete && !options.signal.aborted ? "completed" : "interrupted";
  if (run) await finishRun(deps.db, run.id, status, refusal(prunes));
  const stored = run ? await runCounts(deps.db, run.id) : undefined;
  const result = (kind: KindName): KindResult => ({
    listed: listings[kind]?.listed ?? 0,
    total: listings[kind]?.total ?? (run ? cursorOf(run, kind).total : undefined) ?? 0,
    counts: (run ? stored?.[kind] : listings[kind]?.counts) ?? {},
    prune: prunes[kind],
    failures: listings[kind]?.failures ?? [],
    resumedAt: started?.resumed && kinds[phase] === kind && run ? cursorOf(run, kind).offset : undefined,
    warnings: listings[kind]?.warnings ?? [],
  });
  return summarize(Object.fromEntries(kinds.map((kind) => [kind, result(kind)])), {
    runId: run?.id,
    resumedAt: started?.resumed && run ? cursorOf(run, "users").offset : undefined,
    status,
    timings: { totalMs: performance.now() - began, ...ctx.timings },
  });
}

/** Each kind in order from `phase` (a resumed run's from its cursor), until one is not listed completely. */
async function listFrom(ctx: Context, kinds: readonly KindName[], phase: number, run: RunRow | undefined) {
  const listings: Partial<Record<KindName, Listing>> = {};
  for (const [i, kind] of kinds.entries()) {
    if (i < phase) continue;
    const from = run && i === phase ? cursorOf(run, kind) : { offset: 0, total: undefined };
    const listing = await listKind(ctx, kind, from);
    listings[kind] = listing;
    if (!listing.complete || ctx.options.signal.aborted) return { listings, complete: false };
    if (run && listing.newest !== undefined) await advanceMark(ctx.db, kind, listing.newest, run.id);
    const next = kinds[i + 1];
    if (run && next) await advancePhase(ctx.db, run.id, next);
  }
  return { listings, complete: true };
}

/** The users' figures at the top, every kind under `kinds`. */
function summarize(
  kinds: Partial<Record<KindName, KindResult>>,
  run: Pick<ReconcileResult, "runId" | "resumedAt" | "status" | "timings">,
): ReconcileResult {
  const users = kinds.users;
  return {
    ...run,
    listed: users?.listed ?? 0,
    total: users?.total ?? 0,
    counts: users?.counts ?? {},
    prune: users?.prune,
    failures: (users?.failures ?? []).map((f) => ({ userId: f.id, reason: f.reason })),
    kinds,
    warnings: Object.values(kinds).flatMap((kind) => kind.warnings),
  };
}

function refusal(prunes: Partial<Record<KindName, PruneReport>>): string | null {
  const refused = Object.entries(prunes).filter(([, report]) => report.refused);
  if (refused.length === 0) return null;
  return `prune refused: ${refused
    .map(([kind, report]) => `${report.gone} ${kind} gone, more than --max-prune ${report.refused?.limit}`)
    .join("; ")}`;
}
