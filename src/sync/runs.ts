import { and, desc, eq, inArray, ne, notExists, sql } from "drizzle-orm";
import type { AnyPgColumn, PgTable } from "drizzle-orm/pg-core";
import { BACKGROUND, callDatabase } from "../db/call.js";
import { syncRunCursors, syncRunSeen, syncRuns } from "../db/schema.js";
import type { Db, Tx } from "../db/types.js";
import type { Counts } from "../outcome.js";
import type { KindName } from "../provisioning/kinds.js";

/**
 * The bookkeeping of `npm run sync` runs (`sync_runs`, `sync_run_cursors`, `sync_run_seen`): cold paths, on the
 * query builder. A run's cursors and counts advance with each page, in that page's transaction (bookkeeping.ts).
 */

export interface Cursor {
  offset: number;
  /** Clerk's count at the page before `offset`. */
  total: number | undefined;
}

export interface RunRow {
  id: number;
  prune: boolean;
  /** The kind the run is listing (those before it were listed completely). */
  phase: string;
  cursors: Partial<Record<KindName, Cursor>>;
}

const runColumns = { id: syncRuns.id, prune: syncRuns.prune, phase: syncRuns.phase };

/** Where the run's listing of `kind` is to continue. */
export const cursorOf = (run: RunRow, kind: KindName): Cursor => run.cursors[kind] ?? { offset: 0, total: undefined };

/** Unfinished runs of one mode: an incremental run's cursors are offsets in another order than a full run's. */
const unfinished = (incremental: boolean) =>
  and(inArray(syncRuns.status, ["running", "interrupted", "failed"]), eq(syncRuns.incremental, incremental));

const call = <T>(work: () => Promise<T>) => callDatabase(BACKGROUND, work);

/**
 * The run to continue (the latest unfinished one of the same mode, if `prune` allows: a pruning run needs every id
 * listed since its first page) or a new one; older unfinished ones of that mode are abandoned.
 */
export function startRun(
  db: Db,
  options: { prune: boolean; restart: boolean; incremental?: boolean | undefined },
): Promise<{ run: RunRow; resumed: boolean; superseded?: number }> {
  const incremental = options.incremental ?? false;
  return call(() =>
    db.transaction(async (tx) => {
      const [latest] = await tx
        .select(runColumns)
        .from(syncRuns)
        .where(unfinished(incremental))
        .orderBy(desc(syncRuns.id))
        .limit(1);
      if (latest && !options.restart && (latest.prune || !options.prune)) {
        const [resumed] = await tx
          .update(syncRuns)
          .set({ status: "running", prune: options.prune, error: null, updatedAt: sql`now()` })
          .where(eq(syncRuns.id, latest.id))
          .returning(runColumns);
        if (resumed) {
          await abandonOthers(tx, resumed.id, incremental);
          return { run: { ...resumed, cursors: await cursorsOf(tx, resumed.id) }, resumed: true };
        }
      }
      const [created] = await tx.insert(syncRuns).values({ prune: options.prune, incremental }).returning(runColumns);
      if (!created) throw new Error("sync_runs: no row returned");
      await abandonOthers(tx, created.id, incremental);
      return { run: { ...created, cursors: {} }, resumed: false, ...(latest ? { superseded: latest.id } : {}) };
    }),
  );
}

async function cursorsOf(tx: Tx, runId: number): Promise<Partial<Record<KindName, Cursor>>> {
  const rows = await tx
    .select({ kind: syncRunCursors.kind, offset: syncRunCursors.nextOffset, total: syncRunCursors.total })
    .from(syncRunCursors)
    .where(eq(syncRunCursors.runId, runId));
  return Object.fromEntries(rows.map((row) => [row.kind, { offset: row.offset, total: row.total ?? undefined }]));
}

async function abandonOthers(tx: Tx, runId: number, incremental: boolean) {
  const abandoned = await tx
    .update(syncRuns)
    .set({ status: "abandoned", finishedAt: sql`now()`, updatedAt: sql`now()` })
    .where(and(unfinished(incremental), ne(syncRuns.id, runId)))
    .returning({ id: syncRuns.id });
  if (abandoned.length > 0) {
    await tx.delete(syncRunSeen).where(
      inArray(
        syncRunSeen.runId,
        abandoned.map((run) => run.id),
      ),
    );
  }
}

export function finishRun(db: Db, runId: number, status: "completed" | "interrupted" | "failed", error: string | null) {
  return call(() =>
    db.transaction(async (tx) => {
      await tx
        .update(syncRuns)
        .set({ status, error, updatedAt: sql`now()`, finishedAt: status === "completed" ? sql`now()` : null })
        .where(eq(syncRuns.id, runId));
      if (status === "completed") await tx.delete(syncRunSeen).where(eq(syncRunSeen.runId, runId));
    }),
  );
}

/** The run's listing of the kind before `phase` is complete: an interrupted run continues with `phase`. */
export function advancePhase(db: Db, runId: number, phase: KindName) {
  return call(() => db.update(syncRuns).set({ phase, updatedAt: sql`now()` }).where(eq(syncRuns.id, runId)));
}

/** The run's counts by kind (stored as `<kind>:<outcome>`). */
export async function runCounts(db: Db, runId: number): Promise<Partial<Record<KindName, Counts>>> {
  const [row] = await call(() => db.select({ counts: syncRuns.counts }).from(syncRuns).where(eq(syncRuns.id, runId)));
  const byKind: Partial<Record<KindName, Counts>> = {};
  for (const [key, n] of Object.entries(row?.counts ?? {})) {
    const at = key.indexOf(":");
    const kind = key.slice(0, at) as KindName;
    byKind[kind] = { ...byKind[kind], [key.slice(at + 1)]: n };
  }
  return byKind;
}

export async function storedCount(db: Db, table: PgTable): Promise<number> {
  const [row] = await call(() => db.select({ n: sql<number>`count(*)::int` }).from(table));
  return row?.n ?? 0;
}

/** Stored objects of `kind` (whose id is `id`) that run `runId` did not list; every one when `runId` is undefined. */
export const unlisted = (db: Db, kind: KindName, id: AnyPgColumn, runId: number | undefined) =>
  runId === undefined
    ? undefined
    : notExists(
        db
          .select({ one: sql`1` })
          .from(syncRunSeen)
          .where(and(eq(syncRunSeen.runId, runId), eq(syncRunSeen.kind, kind), eq(syncRunSeen.id, id))),
      );

/** The ids in `id` of `table` (of `kind`), sorted; with `runId`, only those that run did not list. */
export async function storedIds(db: Db, kind: KindName, id: AnyPgColumn, runId?: number): Promise<string[]> {
  const rows = await call(() =>
    db
      .select({ id: sql<string>`${id}` })
      .from(id.table)
      .where(unlisted(db, kind, id, runId))
      .orderBy(id),
  );
  return rows.map((row) => row.id);
}

/**
 * When the latest run completed (`lastSuccess`), and since when the listings stand complete for a full sync
 * (`fullSince`): the latest completed full run's end, or, before any, the start of the first completed run (the
 * first incremental run reads every listing whole).
 */
export async function completedRuns(db: Db): Promise<{ lastSuccess: Date | undefined; fullSince: Date | undefined }> {
  const [row] = await call(() =>
    db
      .select({
        lastSuccess: sql<string | null>`(extract(epoch from max(${syncRuns.finishedAt})) * 1000)::bigint::text`,
        fullSince: sql<string | null>`(extract(epoch from coalesce(
          max(${syncRuns.finishedAt}) FILTER (WHERE NOT ${syncRuns.incremental}), min(${syncRuns.startedAt}))) * 1000)::bigint::text`,
      })
      .from(syncRuns)
      .where(eq(syncRuns.status, "completed")),
  );
  const date = (ms: string | null | undefined) => (ms ? new Date(Number(ms)) : undefined);
  return { lastSuccess: date(row?.lastSuccess), fullSince: date(row?.fullSince) };
}
