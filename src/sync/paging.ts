/**
 * Pages through an offset-paged Clerk listing (users, organizations, memberships) with several requests in flight,
 * and hands the pages to `apply` one at a time, in offset order, as if they had been read one after another: the
 * caller's cursor (the offset after the last page applied) and "the listing was complete" mean what they would.
 *
 * Offsets shift when items before them are deleted during the listing. A page whose count is lower than the
 * previous page's means some items may have moved before it: the listing steps back by that many and reads on from
 * there (the caller drops what it has seen), and the pages in flight, asked for at offsets that no longer line up,
 * are discarded. Why that is enough with several pages in flight: every page is asked for after the page whose count
 * the run goes by (the baseline) was answered, so each page is read after the baseline was counted; and each page's
 * own count is taken after the page was read (see `PageSource`). Pages applied since the baseline all had its count,
 * so no deletion happened between the baseline's count and the latest of theirs, and every one of them was read in
 * that interval: they are consecutive slices of one listing, with nothing between them. Hence a drop at the first
 * page too re-reads it (after its count), rather than letting pages read before that count follow it.
 * (A user created during the run raises the count and can hide a deletion from this check.)
 */

export interface ListedPage<T> {
  items: T[];
  /** The listing's size when the page was read (Clerk's `total_count`). */
  totalCount: number;
}

/**
 * One page: `limit` items from `offset`, and the listing's size counted after those items were read (Clerk's count
 * is a request of its own: taken before or during the listing, it can miss a deletion that shifted the page). Its
 * retries, rate limit and abort are its own business.
 */
export type PageSource<T> = (offset: number, limit: number) => Promise<ListedPage<T>>;

export interface PageToApply<T> extends ListedPage<T> {
  offset: number;
  /** The offset after this page: the cursor to record once it is applied. */
  next: number;
  /** No more pages after this one: the listing is complete once it is applied. */
  last: boolean;
}

export interface PagingOptions {
  pageSize: number;
  /** Requests in flight at most. */
  concurrency: number;
  /** The offset to start at (a resumed run's cursor), and the count Clerk gave at the page before it. */
  from: number;
  knownTotal?: number | undefined;
  /** Stops after the page being applied (or at once while waiting for a page). */
  signal?: AbortSignal | undefined;
  /** The count dropped by `dropped`: reading again from `from`. */
  onShift?: (shift: { dropped: number; from: number }) => void;
  /** Requests in flight changed. */
  onInFlight?: (inFlight: number) => void;
  /** This page is the listing's last although more follow (an incremental listing reached its mark). */
  endsListing?: (page: ListedPage<unknown>) => boolean;
}

export interface PagingResult {
  /** Every page was applied, the last one included. */
  complete: boolean;
  /** The count at the last page applied. */
  total: number | undefined;
  /** Time spent waiting for the next page to apply. */
  waitMs: number;
}

interface Pending<T> {
  offset: number;
  page: Promise<ListedPage<T>>;
}

export async function pageThrough<T>(
  source: PageSource<T>,
  apply: (page: PageToApply<T>) => Promise<void>,
  options: PagingOptions,
): Promise<PagingResult> {
  const { pageSize, signal } = options;
  const pages = requestPages(source, options);
  let knownTotal = options.knownTotal;
  let waitMs = 0;

  try {
    for (;;) {
      pages.fill();
      const head = pages.head();
      const waitFrom = performance.now();
      let page: ListedPage<T>;
      try {
        page = await head;
      } catch (error) {
        if (signal?.aborted) return { complete: false, total: knownTotal, waitMs };
        throw error;
      } finally {
        waitMs += performance.now() - waitFrom;
      }
      if (knownTotal !== undefined && page.totalCount < knownTotal) {
        const dropped = knownTotal - page.totalCount;
        knownTotal = page.totalCount;
        pages.cursor -= Math.min(pages.cursor, dropped);
        pages.discard(); // in flight at offsets that no longer line up, or read before this count: their answers are ignored
        options.onShift?.({ dropped, from: pages.cursor });
        continue;
      }
      pages.shift();
      knownTotal = page.totalCount;
      const offset = pages.cursor;
      pages.cursor += page.items.length; // what `fill` asks for from now on
      const last =
        page.items.length < pageSize || pages.cursor >= page.totalCount || (options.endsListing?.(page) ?? false);
      if (last) pages.stopped = true;
      pages.fill(); // the next pages are asked for while this one is applied
      await apply({ ...page, offset, next: pages.cursor, last });
      if (last) return { complete: true, total: knownTotal, waitMs };
      if (signal?.aborted) return { complete: false, total: knownTotal, waitMs };
    }
  } finally {
    pages.stopped = true;
  }
}

/** The pages asked for and not yet applied, from `cursor` on in offset order, with at most `concurrency` in flight. */
function requestPages<T>(source: PageSource<T>, options: PagingOptions) {
  const { pageSize, signal } = options;
  const concurrency = Math.max(1, options.concurrency);
  // The latest count any answer gave: how far ahead it is worth asking (no further than one page until known).
  let latestTotal = options.knownTotal;
  let queue: Pending<T>[] = []; // asked for, not yet applied, in offset order from `cursor`
  let inFlight = 0;

  const ask = (offset: number) => {
    inFlight++;
    options.onInFlight?.(inFlight);
    const page = source(offset, pageSize).then((answer) => {
      latestTotal = answer.totalCount;
      return answer;
    });
    // Settled: one fewer in flight, and room for the next. A discarded page's failure is nobody's (no unhandled rejection).
    page.then(
      () => settled(),
      () => settled(),
    );
    queue.push({ offset, page });
  };
  const settled = () => {
    inFlight--;
    options.onInFlight?.(inFlight);
    pages.fill();
  };
  const pages = {
    /** The offset after the last page applied, where the queue starts. */
    cursor: options.from,
    /** Nothing more is asked for: the last page is being applied, or the run is over. */
    stopped: false,
    /** The page at the cursor: the next to apply. */
    head: () => (queue[0] as Pending<T>).page,
    /** Takes the head off the queue: it is being applied. */
    shift: () => {
      queue.shift();
    },
    discard: () => {
      queue = [];
    },
    fill: () => {
      if (pages.stopped || signal?.aborted) return;
      // The page at the cursor is always asked for, even while discarded ones are still in flight.
      if (queue.length === 0) ask(pages.cursor);
      // Pages answered and waiting count against the window too, so that memory stays bounded while `apply` is slow.
      while (inFlight < concurrency && queue.length < concurrency) {
        const offset = (queue.at(-1) as Pending<T>).offset + pageSize;
        if (latestTotal === undefined || offset >= latestTotal) return;
        ask(offset);
      }
    },
  };
  return pages;
}
