import { BACKGROUND } from "../db/call.js";
import { runTransaction } from "../db/query.js";
import type { Db } from "../db/types.js";
import { isServiceError } from "../errors.js";
import { addInto, COUNT_KEY, type Counts } from "../outcome.js";
import { applyIsolating, rowFailureReason } from "../provisioning/isolate.js";
import type { Kind, KindName, Mapped } from "../provisioning/kinds.js";
import { type Bookkeeping, bookkeeping, type PageRecord, pageSettings } from "./bookkeeping.js";

/**
 * `npm run sync`'s one page applier, for every kind: a listed page parsed as the webhook parses it, written by the
 * kind's verb on the page's transaction with the run's bookkeeping in that same transaction (or, `--dry-run`,
 * classified). A row the database refuses fails alone: the page is written in halves down to it.
 */

export interface Failure {
  id: string;
  reason: string;
}

export interface PageTail {
  runId: number;
  /** Keep the page's ids (a pruning run). */
  keepIds: boolean;
  nextOffset: number;
  total: number;
}

export interface PreparedPage {
  /** The page's ids not seen before by this invocation. */
  ids: string[];
  /** Items whose id this invocation had already seen (dropped). */
  repeated: number;
  /** Items that could not be read. */
  failures: Failure[];
  /** Writes the page and advances the run in one transaction; its counts and the rows that could not be written. */
  apply(tail: PageTail): Promise<{ counts: Counts; failures: Failure[] }>;
  /** `--dry-run`: what the page would come to. */
  classify(): Promise<Counts>;
}

/** A kind's page applier; `recordsAs`: the event type its skipped and failed rows are recorded as (users). */
export function pageApplier<Row, Key>(name: KindName, kind: Kind<Row, Key>, recordsAs: string | undefined) {
  return (db: Db, items: readonly unknown[], seen: Set<string>): PreparedPage => {
    const page = parsePage(kind, items, seen);
    const records = (rows: readonly PageRecord[]) => (recordsAs ? { eventType: recordsAs, rows } : undefined);
    return {
      ids: page.ids,
      repeated: page.repeated,
      failures: page.failures,
      apply: (tail) =>
        applyPage(db, kind, page, (counts, failed = []) => ({
          runId: tail.runId,
          kind: name,
          counts,
          records: records([...page.records, ...failed.map((f) => failedRecord(f, page.versions))]),
          seenIds: tail.keepIds ? page.ids : [],
          cursor: { nextOffset: tail.nextOffset, total: tail.total },
        })),
      classify: async () => merged([page.extraCounts, await kind.classify(db, page.rows)]),
    };
  };
}

interface ParsedPage<Row> {
  rows: Row[];
  ids: string[];
  repeated: number;
  /** Counts decided before the database (skipped and unreadable items). */
  extraCounts: Counts;
  records: PageRecord[];
  failures: Failure[];
  /** Each listed id's `updated_at` (what its record's delivery id is made of). */
  versions: Map<string, number>;
}

/** A page of Clerk's JSON, parsed as the webhook parses it; ids already seen by this invocation are dropped. */
function parsePage<Row, Key>(kind: Kind<Row, Key>, items: readonly unknown[], seen: Set<string>): ParsedPage<Row> {
  const page: ParsedPage<Row> = {
    rows: [],
    ids: [],
    repeated: 0,
    extraCounts: {},
    records: [],
    failures: [],
    versions: new Map(),
  };
  for (const raw of items) {
    const fields = (typeof raw === "object" && raw !== null ? raw : {}) as { id?: unknown; updated_at?: unknown };
    const id = typeof fields.id === "string" && fields.id.length > 0 ? fields.id : undefined;
    if (id !== undefined) {
      if (seen.has(id)) {
        page.repeated++;
        continue;
      }
      seen.add(id);
      page.ids.push(id);
      page.versions.set(id, typeof fields.updated_at === "number" ? Math.trunc(fields.updated_at) : 0);
    }
    let mapped: Mapped<Row>;
    try {
      mapped = kind.fromClerk(raw);
    } catch (error) {
      if (!isServiceError(error, "invalid_payload")) throw error;
      addInto(page.extraCounts, "failed:invalid_payload");
      page.failures.push({ id: id ?? "(no id)", reason: `invalid_payload (${error.message})` });
      if (id !== undefined) page.records.push(failedRecord({ id, reason: "invalid_payload" }, page.versions));
      continue;
    }
    if ("row" in mapped) {
      page.rows.push(mapped.row);
      continue;
    }
    addInto(page.extraCounts, `skipped:${mapped.skip}`);
    page.records.push({ id: mapped.id, updatedAt: mapped.updatedAt, outcome: "skipped", reason: mapped.skip });
  }
  return page;
}

const failedRecord = (failure: Failure, versions: Map<string, number>): PageRecord => ({
  id: failure.id,
  updatedAt: versions.get(failure.id) ?? 0,
  outcome: "failed",
  reason: failure.reason,
});

const merged = (parts: readonly Counts[]) => {
  const counts: Counts = {};
  for (const part of parts) for (const [key, n] of Object.entries(part)) addInto(counts, key, n);
  return counts;
};

/** Its bookkeeping, from the page's counts (and the rows that failed, when it was isolated). */
type Book = (counts: Counts, failed?: readonly Failure[]) => Bookkeeping;

/**
 * Applies one page. Normally one transaction; when a row violates a constraint, the rows are written in halves
 * (each part's counts committed with it), those that cannot be written counted as `failed:<reason>`, and a last
 * transaction advances the cursor with the page's records.
 */
async function applyPage<Row, Key>(db: Db, kind: Kind<Row, Key>, page: ParsedPage<Row>, book: Book) {
  try {
    const counts = await writeWith(db, kind, page.rows, (written) => book(merged([written, page.extraCounts])));
    return { counts: merged([counts, page.extraCounts]), failures: [] };
  } catch (error) {
    if (rowFailureReason(error) === undefined) throw error;
  }
  const countsOnly = (counts: Counts) => ({ ...book(counts), records: undefined, seenIds: [], cursor: undefined });
  const isolated = await applyIsolating(page.rows, (rows) => writeWith(db, kind, rows, countsOnly));
  const failures = isolated.failures.map((f) => ({ id: kind.idOf(f.row), reason: f.reason }));
  const extraCounts = { ...page.extraCounts };
  for (const { reason } of failures) addInto(extraCounts, `failed:${reason}`);
  await writeWith(db, kind, [], () => book(extraCounts, failures));
  return { counts: merged([...isolated.results, extraCounts]), failures };
}

/** `rows` written by the kind's verb and the run's bookkeeping for them, in one transaction; the rows' counts. */
function writeWith<Row, Key>(
  db: Db,
  kind: Kind<Row, Key>,
  rows: readonly Row[],
  book: (written: Counts) => Bookkeeping,
): Promise<Counts> {
  return runTransaction(
    db,
    async (run) => {
      await run(pageSettings);
      const counts: Counts = {};
      for (const { result } of await kind.write(run, rows))
        if (result !== "duplicate") addInto(counts, COUNT_KEY[result]);
      await run(bookkeeping(book(counts)));
      return counts;
    },
    BACKGROUND,
  );
}
