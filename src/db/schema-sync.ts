import { bigint, boolean, integer, jsonb, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

/** The bookkeeping of `npm run sync` and the scheduled reconcile (the service's alone: no policy, no grant). */

/**
 * One `npm run sync`: its status and its counts. Each kind's cursor (`sync_run_cursors`) and counts are written by
 * the transaction that applies a page, so an interrupted run resumes exactly after the last page that committed.
 */
export const syncRuns = pgTable("sync_runs", {
  id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
  /** running → completed, or interrupted / failed (resumed by the next run), or abandoned (superseded). */
  status: text("status").notNull().default("running"),
  /** Whether the run keeps the ids it lists (`sync_run_seen`) to prune the others once the listing is complete. */
  prune: boolean("prune").notNull().default(false),
  /** What the run lists now: `users`, then `organizations`, then `memberships` (each from its own cursor). */
  phase: text("phase").notNull().default("users"),
  /**
   * Lists the kinds that can be listed newest-updated first only down to their high-water mark (`sync_marks`): a
   * run of the other mode, whose cursors mean other orders, neither resumes nor abandons it.
   */
  incremental: boolean("incremental").notNull().default(false),
  /**
   * By kind and outcome, `<kind>:<outcome>`: `users:created`, `organizations:skipped:stored_newer`,
   * `memberships:failed:<reason>`, `users:pruned`, …
   */
  counts: jsonb("counts").$type<Record<string, number>>().notNull().default({}),
  error: text("error"),
  startedAt: timestamp("started_at", { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  finishedAt: timestamp("finished_at", { withTimezone: true }),
}).enableRLS();

/** Where a run's listing of each kind continues: the offset of the next page, and Clerk's count at the last one. */
export const syncRunCursors = pgTable(
  "sync_run_cursors",
  {
    runId: bigint("run_id", { mode: "number" })
      .notNull()
      .references(() => syncRuns.id, { onDelete: "cascade" }),
    /** `users`, `organizations`, `memberships`. */
    kind: text("kind").notNull(),
    nextOffset: integer("next_offset").notNull(),
    /** Clerk's count as of the last page (a drop means objects were deleted, shifting later offsets). */
    total: integer("total"),
  },
  (t) => [primaryKey({ columns: [t.runId, t.kind] })],
).enableRLS();

/** The ids a pruning run has listed so far, by kind (kept across an interruption; cleared when it completes). */
export const syncRunSeen = pgTable(
  "sync_run_seen",
  {
    runId: bigint("run_id", { mode: "number" })
      .notNull()
      .references(() => syncRuns.id, { onDelete: "cascade" }),
    kind: text("kind").notNull(),
    id: text("id").notNull(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.kind, t.id] })],
).enableRLS();

/**
 * Per kind listed incrementally: the newest Clerk `updated_at` a complete incremental listing saw. The next one reads
 * newest-updated first down to it (equal included: several objects can share one millisecond).
 */
export const syncMarks = pgTable("sync_marks", {
  kind: text("kind").primaryKey(),
  clerkUpdatedAt: bigint("clerk_updated_at", { mode: "number" }).notNull(),
  runId: bigint("run_id", { mode: "number" }),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
}).enableRLS();
