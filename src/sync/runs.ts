import { and, desc, eq, inArray, ne, notExists, sql } from "drizzle-orm";
import type { AnyPgColumn } from "drizzle-orm/pg-core";
import { BACKGROUND, callDatabase } from "../db/call.js";
import { organizationMemberships, organizations, syncRunObjects, syncRuns, syncRunUsers, users } from "../db/schema.js";
import type { Db, Tx } from "../db/types.js";
import type { Counts } from "../outcome.js";

/**
 * The bookkeeping of `npm run sync` runs (`sync_runs`, `sync_run_users`): cold paths, on the query builder. The
 * cursor and counts of a run advance with each page, in that page's transaction (sync-page.ts).
 */

/** What a run lists, in this order (`sync_runs.phase`). */
export type SyncKind = "users" | "organizations" | "memberships";

export interface RunRow {
  id: number;
  prune: boolean;
  phase: string;
  nextOffset: number;
  total: number | null;
  organizationOffset: number;
  organizationTotal: number | null;
  membershipOffset: number;
  membershipTotal: number | null;
}

const runColumns = {
  id: syncRuns.id,
  prune: syncRuns.prune,
  phase: syncRuns.phase,
  nextOffset: syncRuns.nextOffset,
  total: syncRuns.total,
  organizationOffset: syncRuns.organizationOffset,
  organizationTotal: syncRuns.organizationTotal,
  membershipOffset: syncRuns.membershipOffset,
  membershipTotal: syncRuns.membershipTotal,
};

/** Where the run's listing of `kind` is to continue. */
export function cursorOf(run: RunRow, kind: SyncKind): { offset: number; total: number | undefined } {
  if (kind === "organizations") return { offset: run.organizationOffset, total: run.organizationTotal ?? undefined };
  if (kind === "memberships") return { offset: run.membershipOffset, total: run.membershipTotal ?? undefined };
  return { offset: run.nextOffset, total: run.total ?? undefined };
}
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
    const ids = abandoned.map((run) => run.id);
    await tx.delete(syncRunUsers).where(inArray(syncRunUsers.runId, ids));
    await tx.delete(syncRunObjects).where(inArray(syncRunObjects.runId, ids));
  }
}

export function finishRun(db: Db, runId: number, status: "completed" | "interrupted" | "failed", error: string | null) {
  return call(() =>
    db.transaction(async (tx) => {
      await tx
        .update(syncRuns)
        .set({ status, error, updatedAt: sql`now()`, finishedAt: status === "completed" ? sql`now()` : null })
        .where(eq(syncRuns.id, runId));
      if (status === "completed") {
        await tx.delete(syncRunUsers).where(eq(syncRunUsers.runId, runId));
        await tx.delete(syncRunObjects).where(eq(syncRunObjects.runId, runId));
      }
    }),
  );
}

/** The run's listing of the kind before `phase` is complete: an interrupted run continues with `phase`. */
export function advancePhase(db: Db, runId: number, phase: SyncKind) {
  return call(() => db.update(syncRuns).set({ phase, updatedAt: sql`now()` }).where(eq(syncRuns.id, runId)));
}

export async function runCounts(db: Db, runId: number): Promise<Counts> {
  const [row] = await call(() => db.select({ counts: syncRuns.counts }).from(syncRuns).where(eq(syncRuns.id, runId)));
  return row?.counts ?? {};
}

export async function storedCount(db: Db, kind: SyncKind): Promise<number> {
  const table = { users, organizations, memberships: organizationMemberships }[kind];
  const [row] = await call(() => db.select({ n: sql<number>`count(*)::int` }).from(table));
  return row?.n ?? 0;
}

/** Not listed by run `runId` (undefined: every one stored) as `kind`, of the stored objects whose id is `id`. */
const unlistedObject = (db: Db, kind: "organizations" | "memberships", id: AnyPgColumn, runId?: number) =>
  runId === undefined
    ? undefined
    : notExists(
        db
          .select({ one: sql`1` })
          .from(syncRunObjects)
          .where(and(eq(syncRunObjects.runId, runId), eq(syncRunObjects.kind, kind), eq(syncRunObjects.objectId, id))),
      );

/** The ids of stored organizations, sorted; with `runId`, only those that run did not list. */
export async function storedOrganizationIds(db: Db, runId?: number): Promise<string[]> {
  const rows = await call(() =>
    db
      .select({ id: organizations.id })
      .from(organizations)
      .where(unlistedObject(db, "organizations", organizations.id, runId))
      .orderBy(organizations.id),
  );
  return rows.map((row) => row.id);
}

/** The stored memberships, by id; with `runId`, only those that run did not list. */
export function storedMemberships(db: Db, runId?: number) {
  const m = organizationMemberships;
  return call(() =>
    db
      .select({
        id: m.id,
        organizationId: m.organizationId,
        userId: m.userId,
        updatedAt: sql<number>`(extract(epoch from ${m.updatedAt}) * 1000)::bigint`.mapWith(Number),
      })
      .from(m)
      .where(unlistedObject(db, "memberships", m.id, runId))
      .orderBy(m.id),
  );
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
