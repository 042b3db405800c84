import type { ClerkDirectory } from "../clerk/backend-api.js";
import type { LockCheck } from "../db/advisory-lock.js";
import type { Db } from "../db/types.js";
import { addInto as add, type Counts } from "../outcome.js";
import { type Failure, SYNC_KINDS } from "./kinds.js";
import { pageThrough } from "./paging.js";
import type { RunRow, SyncKind } from "./runs.js";
import type { ReconcileOptions } from "./sync.js";

/** One kind's listing in `npm run sync`: every page through `pageThrough`, applied (or classified) in order. */

const MAX_LISTED_FAILURES = 1_000;

export interface Listing {
  listed: number;
  total: number | undefined;
  counts: Counts;
  failures: Failure[];
  complete: boolean;
}

export interface Context {
  db: Db;
  directory: ClerkDirectory;
  options: ReconcileOptions;
  run: RunRow | undefined;
  seen: Record<SyncKind, Set<string>>;
  timings: { databaseMs: number; clerkWaitMs: number };
  notice: (message: string) => void;
  /** Rejects once the sync lock is lost: awaited before each page is applied. */
  stillHeld?: LockCheck | undefined;
}

const keep = (into: Failure[], more: readonly Failure[]) => {
  for (const failure of more) if (into.length < MAX_LISTED_FAILURES) into.push(failure);
};

/** One kind's listing, from `from`, each page applied (or, in a dry run, classified) as it comes, in order. */
export async function listKind(ctx: Context, kind: SyncKind, from: { offset: number; total: number | undefined }) {
  const { db, directory, options, run } = ctx;
  const sync = SYNC_KINDS[kind];
  const listing: Listing = { listed: 0, total: undefined, counts: {}, failures: [], complete: false };
  let inFlight = 0;
  const timed = async <T>(work: Promise<T>): Promise<T> => {
    const began = performance.now();
    try {
      return await work;
    } finally {
      ctx.timings.databaseMs += performance.now() - began;
    }
  };
  const paging = await pageThrough(
    (offset, limit) => sync.list(directory, offset, limit),
    async (page) => {
      await ctx.stillHeld?.();
      const prepared = sync.prepare(db, page.items, ctx.seen[kind]);
      listing.listed += prepared.ids.length;
      keep(listing.failures, prepared.failures);
      const tail = { keepIds: run?.prune ?? false, nextOffset: page.next, total: page.totalCount };
      const applied = run ? await timed(prepared.apply({ runId: run.id, ...tail })) : undefined;
      keep(listing.failures, applied?.failures ?? []);
      const counts = applied?.counts ?? (await timed(prepared.classify()));
      for (const [outcome, n] of Object.entries(counts)) add(listing.counts, outcome, n);
      const total = Math.max(page.totalCount, page.next);
      options.onProgress?.({ kind, position: page.next, total, counts: listing.counts, inFlight });
    },
    {
      pageSize: options.pageSize,
      concurrency: options.concurrency ?? 1,
      from: from.offset,
      knownTotal: from.total,
      signal: options.signal,
      // Offsets shift when objects before them are deleted: Clerk's count dropping means a page may start later
      // than where the last one ended. What is re-read is dropped as already seen, so that none is skipped.
      onShift: ({ dropped, from: at }) =>
        ctx.notice(`Clerk's ${sync.noun} count dropped by ${dropped}: re-reading from ${sync.noun} ${at}`),
      onInFlight: (n) => {
        inFlight = n;
      },
    },
  );
  ctx.timings.clerkWaitMs += paging.waitMs;
  listing.total = paging.total;
  listing.complete = paging.complete;
  return listing;
}
