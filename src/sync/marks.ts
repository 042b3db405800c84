import { sql } from "drizzle-orm";
import { BACKGROUND, callDatabase } from "../db/call.js";
import { syncMarks } from "../db/schema.js";
import type { Db } from "../db/types.js";
import type { KindName } from "../provisioning/kinds.js";

/**
 * The high-water marks of incremental syncs (`sync_marks`): per kind, the newest Clerk `updated_at` a complete
 * incremental listing saw. Whatever changed since has a later (or, within the same millisecond, an equal)
 * `updated_at`, so the next incremental listing, newest-updated first, may stop at the first page that reaches below it.
 */

export type Marks = Partial<Record<KindName, number>>;

export async function readMarks(db: Db): Promise<Marks> {
  const rows = await callDatabase(BACKGROUND, () =>
    db.select({ kind: syncMarks.kind, at: syncMarks.clerkUpdatedAt }).from(syncMarks),
  );
  return Object.fromEntries(rows.map((row) => [row.kind, row.at]));
}

/**
 * After a complete incremental listing of `kind`: its mark moves to the newest `updated_at` it saw, never back (a
 * listing that saw nothing as new, the newest object having been deleted, keeps the mark it read down to).
 */
export function advanceMark(db: Db, kind: KindName, clerkUpdatedAt: number, runId: number) {
  return callDatabase(BACKGROUND, () =>
    db
      .insert(syncMarks)
      .values({ kind, clerkUpdatedAt, runId })
      .onConflictDoUpdate({
        target: syncMarks.kind,
        set: {
          clerkUpdatedAt: sql`GREATEST(${syncMarks.clerkUpdatedAt}, excluded.clerk_updated_at)`,
          runId,
          updatedAt: sql`now()`,
        },
      }),
  );
}

/** A listed object's Clerk `updated_at` (milliseconds), or undefined when it has none. */
export function updatedAtOf(item: unknown): number | undefined {
  const value = typeof item === "object" && item !== null ? (item as { updated_at?: unknown }).updated_at : undefined;
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}
