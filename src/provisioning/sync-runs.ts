import { and, desc, eq, inArray, ne, notExists, sql } from "drizzle-orm";
import { BACKGROUND, callDatabase } from "../db/call.js";
import { syncRuns, syncRunUsers, users } from "../db/schema.js";
import type { Db, Tx } from "../db/types.js";
import type { Counts } from "./sync-page.js";

/**
 * The bookkeeping of `npm run sync` runs (`sync_runs`, `sync_run_users`): cold paths, on the query builder. The
 * cursor and counts of a run advance with each page, in that page's transaction (sync-page.ts).
 */

export interface RunRow {
  id: number;
  prune: boolean;
  nextOffset: number;
  total: number | null;
}

const runColumns = { id: syncRuns.id, prune: syncRuns.prune, nextOffset: syncRuns.nextOffset, total: syncRuns.total };
const UNFINISHED = inArray(syncRuns.status, ["running", "interrupted", "failed"]);

const call = <T>(work: () => Promise<T>) => callDatabase(BACKGROUND, work);

/**
 * The run to continue (the latest unfinished one, if `prune` allows: a pruning run needs every id listed since its
 * first page) or a new one; older unfinished ones are abandoned.
 */
export function startRun(
  db: Db,
  options: { prune: boolean; restart: boolean },
): Promise<{ run: RunRow; resumed: boolean; superseded?: number }> {
  return call(() =>
    db.transaction(async (tx) => {
      const [latest] = await tx.select(runColumns).from(syncRuns).where(UNFINISHED).orderBy(desc(syncRuns.id)).limit(1);
      if (latest && !options.restart && (latest.prune || !options.prune)) {
        const [resumed] = await tx
          .update(syncRuns)
          .set({ status: "running", prune: options.prune, error: null, updatedAt: sql`now()` })
          .where(eq(syncRuns.id, latest.id))
          .returning(runColumns);
        if (resumed) {
          await abandonOthers(tx, resumed.id);
          return { run: resumed, resumed: true };
        }
      }
      const [created] = await tx.insert(syncRuns).values({ prune: options.prune }).returning(runColumns);
      if (!created) throw new Error("sync_runs: no row returned");
      await abandonOthers(tx, created.id);
      return { run: created, resumed: false, ...(latest ? { superseded: latest.id } : {}) };
    }),
  );
}

async function abandonOthers(tx: Tx, runId: number) {
  const abandoned = await tx
    .update(syncRuns)
    .set({ status: "abandoned", finishedAt: sql`now()`, updatedAt: sql`now()` })
    .where(and(UNFINISHED, ne(syncRuns.id, runId)))
    .returning({ id: syncRuns.id });
  if (abandoned.length > 0) {
    await tx.delete(syncRunUsers).where(
      inArray(
        syncRunUsers.runId,
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
      if (status === "completed") await tx.delete(syncRunUsers).where(eq(syncRunUsers.runId, runId));
    }),
  );
}

export async function runCounts(db: Db, runId: number): Promise<Counts> {
  const [row] = await call(() => db.select({ counts: syncRuns.counts }).from(syncRuns).where(eq(syncRuns.id, runId)));
  return row?.counts ?? {};
}

export async function storedUserCount(db: Db): Promise<number> {
  const [row] = await call(() => db.select({ n: sql<number>`count(*)::int` }).from(users));
  return row?.n ?? 0;
}

/** The ids of stored users, sorted; with `runId`, only those that run did not list. */
export async function storedUserIds(db: Db, runId?: number): Promise<string[]> {
  const unlisted = notExists(
    db
      .select({ one: sql`1` })
      .from(syncRunUsers)
      .where(and(eq(syncRunUsers.runId, runId ?? 0), eq(syncRunUsers.userId, users.id))),
  );
  const rows = await call(() =>
    db
      .select({ id: users.id })
      .from(users)
      .where(runId === undefined ? undefined : unlisted)
      .orderBy(users.id),
  );
  return rows.map((row) => row.id);
}
