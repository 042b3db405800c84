import { type SQL, sql } from "drizzle-orm";
import { defineStatement } from "../db/query.js";
import { syncRunCursors, syncRunSeen, syncRuns } from "../db/schema.js";
import type { Counts } from "../outcome.js";
import { deliveryIds, recordDeliveries } from "../provisioning/deliveries.js";
import { inputRows, rowValues } from "../provisioning/engine/rows-input.js";
import type { KindName } from "../provisioning/kinds.js";

/**
 * A sync run's bookkeeping, written by the transaction that applies (or prunes) a page of any kind: the counts
 * added under `<kind>:`, the page's records (users only), the listed ids kept for pruning, and the kind's cursor
 * advanced. All or nothing with the page, so an interrupted run resumes exactly after the last page that committed.
 */

/**
 * A page's transaction: JIT off (the planner prices a users page's suffix search by its candidates and an `OFFSET`
 * it cannot see, far above `jit_above_cost`, and compiled every page for a search that probes a handful of names),
 * and no wait for the WAL flush at commit: a server crash can lose only the last pages committed, each with the
 * cursor that records it, so a resumed run applies them again.
 */
export const pageSettings = defineStatement<Record<string, never>>(
  () => sql`SELECT set_config('jit', 'off', true), set_config('synchronous_commit', 'off', true)`,
)({});

/** Adds `delta (outcome, n)` to a `counts` jsonb column, key by key. */
const addCounts = (column: SQL, delta: SQL) => sql`(SELECT COALESCE(jsonb_object_agg(k, n), '{}'::jsonb) FROM (
      SELECT k, sum(n)::int AS n FROM (
        SELECT key AS k, value::int AS n FROM jsonb_each_text(${column})
        UNION ALL SELECT key, value::int FROM jsonb_each_text(${delta})) c
      GROUP BY k) t)`;

const recordColumns = { delivery_id: "text", user_id: "text", outcome: "text", reason: "text" } as const;

type Values =
  | keyof typeof recordColumns
  | "eventType"
  | "runId"
  | "kind"
  | "counts"
  | "seenIds"
  | "nextOffset"
  | "total";

const statement = defineStatement<Record<Values, unknown>>(
  (v) => sql`WITH ${recordDeliveries(
    sql`SELECT r.delivery_id, r.user_id, r.outcome, r.reason FROM (${inputRows(recordColumns, v, "many")}) r`,
    { eventType: v.eventType, receivedAt: sql`now()` },
  )}, seen AS (
    INSERT INTO ${syncRunSeen} (run_id, kind, id)
    SELECT ${v.runId}::bigint, ${v.kind}::text, s.id FROM unnest(${v.seenIds}::text[]) AS s(id)
    ON CONFLICT DO NOTHING
  ), cursor AS (
    INSERT INTO ${syncRunCursors} (run_id, kind, next_offset, total)
    SELECT ${v.runId}::bigint, ${v.kind}::text, ${v.nextOffset}::int, ${v.total}::int
    WHERE ${v.nextOffset}::int IS NOT NULL
    ON CONFLICT (run_id, kind) DO UPDATE SET next_offset = excluded.next_offset, total = excluded.total
  )
  UPDATE ${syncRuns} SET
    counts = ${addCounts(sql`${syncRuns.counts}`, sql`${v.counts}::text::jsonb`)},
    updated_at = now()
  WHERE ${syncRuns.id} = ${v.runId}::bigint`,
);

/** A row a sync skipped or could not write, recorded as a delivery `sync:<id>:<updated_at>` for `npm run replay`. */
export interface PageRecord {
  id: string;
  updatedAt: number;
  outcome: "skipped" | "failed";
  reason: string;
}

export interface Bookkeeping {
  runId: number;
  kind: KindName;
  /** The kind's counts (`created`, `skipped:<reason>`, …), added to the run's under `<kind>:`. */
  counts: Counts;
  /** Recorded in `clerk_deliveries` as deliveries of this event type. */
  records?: { eventType: string; rows: readonly PageRecord[] };
  /** Listed ids, kept for pruning. */
  seenIds?: readonly string[];
  /** The kind's cursor after the page. */
  cursor?: { nextOffset: number; total: number };
}

export function bookkeeping(book: Bookkeeping) {
  const counts: Counts = {};
  for (const [key, n] of Object.entries(book.counts)) counts[`${book.kind}:${key}`] = n;
  const records = (book.records?.rows ?? []).map((r) => ({
    delivery_id: deliveryIds.sync(r.id, r.updatedAt),
    user_id: r.id,
    outcome: r.outcome,
    reason: r.reason,
  }));
  return statement({
    ...rowValues(recordColumns, records),
    eventType: book.records?.eventType ?? null,
    runId: book.runId,
    kind: book.kind,
    counts: JSON.stringify(counts),
    seenIds: [...(book.seenIds ?? [])],
    nextOffset: book.cursor?.nextOffset ?? null,
    total: book.cursor?.total ?? null,
  });
}
