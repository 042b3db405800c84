import type { ClerkDirectory } from "../clerk/backend-api.js";
import type { LockCheck } from "../db/advisory-lock.js";
import type { Db } from "../db/types.js";
import { addInto, type Counts } from "../outcome.js";
import type { KindName } from "../provisioning/kinds.js";
import { SYNC_KINDS } from "./kinds.js";
import { type Marks, updatedAtOf } from "./marks.js";
import type { Failure } from "./page.js";
import { type ListedPage, pageThrough } from "./paging.js";
import type { Cursor } from "./runs.js";

/** One kind's listing in `npm run sync`: every page through `pageThrough`, applied (or classified) in order. */

const MAX_LISTED_FAILURES = 1_000;

export interface ListingOptions {
  /** Objects per request (at most 500, the default). */
  pageSize: number;
  /** Listing requests in flight at most (default 1); pages are still applied one at a time, in order. */
  concurrency?: number | undefined;
  /**
   * Kinds Clerk lists newest-updated first are read only down to their mark (`sync_marks`), one page at a time: a
   * page read ahead of the one that reaches the mark would be a request spent for nothing.
   */
  incremental?: boolean | undefined;
  /** Stops after the page being applied has committed (Ctrl-C). */
  signal: AbortSignal;
  onProgress?: (progress: {
    kind: KindName;
    position: number;
    total: number;
    counts: Counts;
    inFlight: number;
  }) => void;
}

export interface Listing {
  listed: number;
  total: number | undefined;
  counts: Counts;
  failures: Failure[];
  complete: boolean;
  /** Why the listing, complete as far as Clerk's answers go, may still have missed objects. */
  warnings: string[];
  /** An incremental listing: the newest `updated_at` it saw (the kind's next mark once it is complete). */
  newest: number | undefined;
}

export interface Context {
  db: Db;
  directory: ClerkDirectory;
  options: ListingOptions;
  /** The run the pages are applied in (a dry run has none: its pages are classified). */
  run: { id: number; prune: boolean } | undefined;
  seen: Record<KindName, Set<string>>;
  timings: { databaseMs: number; clerkWaitMs: number };
  notice: (message: string) => void;
  /** Rejects once the sync lock is lost: awaited before each page is applied. */
  stillHeld?: LockCheck | undefined;
  /** An incremental run's marks: where each kind's newest-updated-first listing may stop. */
  marks: Marks | undefined;
}

const keep = (into: Failure[], more: readonly Failure[]) => {
  for (const failure of more) if (into.length < MAX_LISTED_FAILURES) into.push(failure);
};

/** One kind's listing, from `from`, each page applied (or, in a dry run, classified) as it comes, in order. */
export async function listKind(ctx: Context, name: KindName, from: Cursor): Promise<Listing> {
  const { db, directory, options, run } = ctx;
  const sync = SYNC_KINDS[name];
  const order = readingOrder(ctx, name);
  const listing: Listing = {
    listed: 0,
    total: undefined,
    counts: {},
    failures: [],
    complete: false,
    warnings: [],
    newest: undefined,
  };
  const suspect = suspicion();
  let inFlight = 0;
  const timed = timedInto(ctx.timings);
  const paging = await pageThrough(
    (offset, limit) => order.list(directory, offset, limit),
    async (page) => {
      await ctx.stillHeld?.();
      if (order.incremental) listing.newest = newestOf(page.items, listing.newest);
      const prepared = sync.prepare(db, page.items, ctx.seen[name]);
      // Newest-updated first, an object updated during the listing moves to the front: one listed again is expected.
      suspect.page(order.incremental ? 0 : prepared.repeated, page.next, page.totalCount);
      listing.listed += prepared.ids.length;
      keep(listing.failures, prepared.failures);
      const tail = { keepIds: run?.prune ?? false, nextOffset: page.next, total: page.totalCount };
      const applied = run ? await timed(prepared.apply({ runId: run.id, ...tail })) : undefined;
      keep(listing.failures, applied?.failures ?? []);
      const counts = applied?.counts ?? (await timed(prepared.classify()));
      for (const [outcome, n] of Object.entries(counts)) addInto(listing.counts, outcome, n);
      const total = Math.max(page.totalCount, page.next);
      options.onProgress?.({ kind: name, position: page.next, total, counts: listing.counts, inFlight });
    },
    {
      pageSize: options.pageSize,
      concurrency: order.incremental ? 1 : (options.concurrency ?? 1),
      from: from.offset,
      knownTotal: from.total,
      signal: options.signal,
      // Offsets shift when objects before them are deleted: Clerk's count dropping means a page may start later
      // than where the last one ended. What is re-read is dropped as already seen, so that none is skipped.
      onShift: ({ dropped, from: at }) => {
        suspect.shifted(dropped);
        ctx.notice(`Clerk's ${sync.noun} count dropped by ${dropped}: re-reading from ${sync.noun} ${at}`);
      },
      onInFlight: (n) => {
        inFlight = n;
      },
      endsListing: order.endsListing,
    },
  );
  ctx.timings.clerkWaitMs += paging.waitMs;
  listing.total = paging.total;
  listing.complete = paging.complete;
  listing.warnings = suspect.warnings(sync.noun);
  return listing;
}

/** Adds the time `work` takes to the database's share. */
const timedInto =
  (timings: Context["timings"]) =>
  async <T>(work: Promise<T>): Promise<T> => {
    const began = performance.now();
    try {
      return await work;
    } finally {
      timings.databaseMs += performance.now() - began;
    }
  };

/**
 * How a kind is read: in an incremental run, newest-updated first down to its mark when Clerk can list it so (and a
 * page at a time); otherwise its whole listing in creation order.
 */
function readingOrder(ctx: Context, name: KindName) {
  const sync = SYNC_KINDS[name];
  const byUpdate = ctx.marks ? sync.listByUpdate : undefined;
  const mark = ctx.marks?.[name];
  return {
    list: byUpdate ?? sync.list,
    incremental: byUpdate !== undefined,
    // Equal is not below: objects updated in the mark's millisecond after the last run read it are read again.
    endsListing: (page: ListedPage<unknown>) =>
      byUpdate !== undefined && mark !== undefined && page.items.some((item) => (updatedAtOf(item) ?? 0) < mark),
  };
}

function newestOf(items: readonly unknown[], newest: number | undefined): number | undefined {
  let max = newest;
  for (const item of items) {
    const at = updatedAtOf(item);
    if (at !== undefined && (max === undefined || at > max)) max = at;
  }
  return max;
}

/**
 * Answers of Clerk's that the paging cannot account for: a page reaching past the count Clerk gives with it (the
 * listing then ends, on a count below what was listed), or objects listed again beyond what the re-reads after
 * count drops explain (a page answered twice). Either way objects may have been missed.
 */
function suspicion() {
  let rereadable = 0;
  let repeated = 0;
  let below: { listed: number; count: number } | undefined;
  return {
    shifted: (dropped: number) => {
      rereadable += dropped;
    },
    page: (again: number, next: number, count: number) => {
      const explained = Math.min(again, rereadable);
      rereadable -= explained;
      repeated += again - explained;
      if (next > count) below = { listed: next, count };
    },
    warnings: (noun: string) => {
      const out: string[] = [];
      const again = "run `npm run sync` again";
      if (below) {
        out.push(
          `Clerk's ${noun} count (${below.count}) fell below what was listed (${below.listed}): the ${noun} listing may have missed some; ${again}`,
        );
      }
      if (repeated > 0) {
        out.push(
          `Clerk listed ${repeated} ${noun}${repeated === 1 ? "" : "s"} twice (a page answered twice): the ${noun} listing may have missed some; ${again}`,
        );
      }
      return out;
    },
  };
}
