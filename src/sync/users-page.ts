import { type SQL, sql } from "drizzle-orm";
import { BACKGROUND } from "../db/call.js";
import { defineStatement, type RunStatement, runTransaction } from "../db/query.js";
import { clerkDeliveries, syncRuns, syncRunUsers } from "../db/schema.js";
import type { Db } from "../db/types.js";
import { addInto, COUNT_KEY, type Counts, type RowResult } from "../outcome.js";
import { deliveryIds } from "../provisioning/deliveries.js";
import { inputRows, rowValues } from "../provisioning/engine/rows-input.js";
import { applyIsolating, type RowFailure, rowFailureReason } from "../provisioning/isolate.js";
import { KINDS } from "../provisioning/kinds.js";
import type { UserRow } from "../provisioning/users/row.js";

/**
 * `npm run sync`'s writes: a page of the listing applied by the users' `write` and the run's bookkeeping (the page's
 * skipped and failed users recorded, the listed ids kept for pruning, counts and cursor advanced) in one
 * transaction, so an interrupted run resumes exactly after the last page that committed.
 */

/**
 * JIT off for the page: the planner prices the suffix search by its candidates and an `OFFSET` it cannot see, far
 * above `jit_above_cost`, and compiled every page for a search that probes a handful of names. And no wait for the
 * WAL flush at commit: a server crash can lose only the last pages committed, each with the cursor that records
 * it, so a resumed run applies them again.
 */
const pageSettings = defineStatement<Record<string, never>>(
  () => sql`SELECT set_config('jit', 'off', true), set_config('synchronous_commit', 'off', true)`,
)({});

/** Adds `delta (outcome, n)` to a `counts` jsonb column, key by key. */
export const addCounts = (column: SQL, delta: SQL) => sql`(SELECT COALESCE(jsonb_object_agg(k, n), '{}'::jsonb) FROM (
      SELECT k, sum(n)::int AS n FROM (
        SELECT key AS k, value::int AS n FROM jsonb_each_text(${column})
        UNION ALL SELECT key, value::int FROM jsonb_each_text(${delta})) c
      GROUP BY k) t)`;

const recordColumns = { delivery_id: "text", user_id: "text", outcome: "text", reason: "text" } as const;

const bookkeepingStatement = defineStatement<
  Record<keyof typeof recordColumns | "runId" | "counts" | "seenIds" | "nextOffset" | "total", unknown>
>(
  (v) => sql`WITH recorded AS (
    INSERT INTO ${clerkDeliveries} (delivery_id, event_type, clerk_user_id, outcome, reason, received_at)
    SELECT r.delivery_id, 'user.updated', r.user_id, r.outcome, r.reason, now()
    FROM (${inputRows(recordColumns, v, "many")}) r
    ON CONFLICT (delivery_id) DO NOTHING
  ), seen AS (
    INSERT INTO ${syncRunUsers} (run_id, user_id)
    SELECT ${v.runId}::bigint, s.id FROM unnest(${v.seenIds}::text[]) AS s(id)
    ON CONFLICT DO NOTHING
  )
  UPDATE ${syncRuns} SET
    counts = ${addCounts(sql`${syncRuns.counts}`, sql`${v.counts}::text::jsonb`)},
    next_offset = COALESCE(${v.nextOffset}::int, ${syncRuns.nextOffset}),
    total = COALESCE(${v.total}::int, ${syncRuns.total}),
    updated_at = now()
  WHERE ${syncRuns.id} = ${v.runId}::bigint`,
);

export interface PageRecord {
  userId: string;
  updatedAt: number;
  outcome: "skipped" | "failed";
  reason: string;
}

interface Bookkeeping {
  counts: Counts;
  records: readonly PageRecord[];
  seenIds: readonly string[];
  nextOffset: number | null;
  total: number | null;
}

function bookkeeping(runId: number, tail: Bookkeeping) {
  const records = tail.records.map((r) => ({
    delivery_id: deliveryIds.sync(r.userId, r.updatedAt),
    user_id: r.userId,
    outcome: r.outcome,
    reason: r.reason,
  }));
  return bookkeepingStatement({
    ...rowValues(recordColumns, records),
    runId,
    counts: JSON.stringify(tail.counts),
    seenIds: [...tail.seenIds],
    nextOffset: tail.nextOffset,
    total: tail.total,
  });
}

export interface SyncPage {
  runId: number;
  /** Users to write (distinct ids). */
  rows: readonly UserRow[];
  /** Counts decided before the database. */
  extraCounts: Counts;
  records: readonly PageRecord[];
  /** Ids to remember for pruning (empty when the run does not prune). */
  seenIds: readonly string[];
  nextOffset: number;
  total: number;
}

const countResults = (written: readonly { result: RowResult }[], into: Counts = {}) => {
  for (const { result } of written) if (result !== "duplicate") addInto(into, COUNT_KEY[result]);
  return into;
};

const NO_TAIL = { extraCounts: {}, records: [], seenIds: [], nextOffset: null, total: null };

/**
 * `rows` written and the run advanced (counts, and with `tail` the page's records, listed ids and cursor), in one
 * transaction. Returns the counts of what it wrote.
 */
function applyPart(db: Db, runId: number, rows: readonly UserRow[], tail: Tail = NO_TAIL): Promise<Counts> {
  return runTransaction(
    db,
    async (run) => {
      await run(pageSettings);
      const counts = countResults(await KINDS.users.write(run, rows));
      const recorded = { ...counts };
      for (const [key, n] of Object.entries(tail.extraCounts)) addInto(recorded, key, n);
      await run(bookkeeping(runId, { ...tail, counts: recorded }));
      return counts;
    },
    BACKGROUND,
  );
}

type Tail = Omit<Bookkeeping, "counts"> & { extraCounts: Counts };

/**
 * Applies one page of a sync run. Normally one transaction; when a row violates a constraint, the rows are applied
 * in smaller batches (each counted in the run as it commits), the rows that cannot be written are recorded as
 * failed, and a last transaction advances the cursor with the page's records.
 */
export async function applySyncPage(db: Db, page: SyncPage): Promise<{ counts: Counts; failures: RowFailure[] }> {
  const tail = (records: readonly PageRecord[], extraCounts: Counts): Tail => ({
    records,
    seenIds: page.seenIds,
    nextOffset: page.nextOffset,
    total: page.total,
    extraCounts,
  });
  const merged = (parts: Counts[], extra: Counts) => {
    const counts: Counts = {};
    for (const part of [...parts, extra]) for (const [key, n] of Object.entries(part)) addInto(counts, key, n);
    return counts;
  };
  try {
    const counts = await applyPart(db, page.runId, page.rows, tail(page.records, page.extraCounts));
    return { counts: merged([counts], page.extraCounts), failures: [] };
  } catch (error) {
    if (rowFailureReason(error) === undefined) throw error;
  }
  const { results, failures } = await applyIsolating(page.rows, (rows) => applyPart(db, page.runId, rows));
  const extraCounts = { ...page.extraCounts };
  const records = [...page.records];
  for (const { row, reason } of failures) {
    addInto(extraCounts, `failed:${reason}`);
    records.push({ userId: row.userId, updatedAt: row.updatedAt, outcome: "failed", reason });
  }
  await applyPart(db, page.runId, [], tail(records, extraCounts));
  return { counts: merged(results, extraCounts), failures };
}

/**
 * Users gone from Clerk, removed as a `user.deleted` removes them (each recorded as a delivery `sync-prune:<id>`,
 * reason `pruned`) and counted in the run, in one transaction. Returns the ids actually pruned (not already
 * tombstoned).
 */
export async function pruneUsers(db: Db, ids: readonly string[], runId: number | null): Promise<string[]> {
  if (ids.length === 0) return [];
  return runTransaction(
    db,
    async (run: RunStatement) => {
      await run(pageSettings);
      const stamp = {
        deliveryIds: ids.map(deliveryIds.prune),
        eventType: "user.deleted",
        receivedAt: new Date(),
        reason: "pruned",
      };
      const removed = (await KINDS.users.remove(run, ids, { stamp }))
        .filter((r) => r.result === "deleted")
        .map((r) => r.id);
      if (runId !== null) await run(bookkeeping(runId, { ...NO_TAIL, counts: { pruned: removed.length } }));
      return removed;
    },
    BACKGROUND,
  );
}
