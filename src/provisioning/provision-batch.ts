import { setTimeout as delay } from "node:timers/promises";
import { type Placeholder, type SQL, sql } from "drizzle-orm";
import { classifyDbError, constraintViolation, DatabaseUnavailableError, withDeadline } from "../db/errors.js";
import { type BoundStatement, defineStatement, runTransaction } from "../db/query.js";
import {
  clerkDeliveries,
  clerkUserVersions,
  organizationMemberships,
  syncRuns,
  syncRunUsers,
  users,
} from "../db/schema.js";
import type { Db } from "../db/types.js";
import {
  bumpVersionOnConflict,
  ensureWorkspaces,
  otherHolders,
  suffixedUsername,
  takenByOther,
  tombstoneOnConflict,
  type UserRow,
  userAssignments,
  userInsertColumns,
} from "./provision-rules.js";

/**
 * Many Clerk users in one statement, for `npm run sync` and `npm run replay`: the webhook's rules
 * (provision-rules.ts) applied to arrays, `unnest`ed into rows. A page of 500 users is one round trip.
 *
 * What one user comes to:
 * - `created` / `updated`: written (the version moved forward);
 * - `unchanged`: this very version is stored;
 * - `skipped:stored_newer`: a newer version is stored (a webhook was faster than the listing);
 * - `skipped:deleted`: tombstoned here (a `user.deleted` was applied): never resurrected.
 */
export type BatchOutcome = "created" | "updated" | "unchanged" | "skipped:stored_newer" | "skipped:deleted";

/** Per-row arrays, bound as one parameter each. */
interface RowArrays {
  ids: string[];
  updatedAts: number[];
  emails: string[];
  firstNames: (string | null)[];
  lastNames: (string | null)[];
  imageUrls: (string | null)[];
  usernames: string[];
  /** `t` / `f`: postgres.js would declare a JS boolean array as a scalar `bool` parameter. */
  usernamesFromClerk: string[];
  usernameForms: string[];
}

function toArrays(rows: readonly UserRow[]): RowArrays {
  return {
    ids: rows.map((r) => r.userId),
    updatedAts: rows.map((r) => r.updatedAt),
    emails: rows.map((r) => r.email),
    firstNames: rows.map((r) => r.firstName),
    lastNames: rows.map((r) => r.lastName),
    imageUrls: rows.map((r) => r.imageUrl),
    usernames: rows.map((r) => r.username),
    usernamesFromClerk: rows.map((r) => (r.usernameFromClerk ? "t" : "f")),
    usernameForms: rows.map((r) => r.usernameForms),
  };
}

type Placeholders<T> = { readonly [K in keyof T & string]: Placeholder<K> };

/**
 * The input rows, and what the statement's snapshot holds for each (its version row and its user's username).
 * The lookups are `LATERAL … LIMIT 1`, which the planner cannot flatten into a join: each is an index probe per
 * input row. As a plain join, it hashed a full scan of the table for every page once the table had grown.
 */
const inputAndPrior = (v: Placeholders<RowArrays>) => sql`input AS (
    SELECT * FROM unnest(${v.ids}::text[], ${v.updatedAts}::bigint[], ${v.emails}::text[], ${v.firstNames}::text[],
      ${v.lastNames}::text[], ${v.imageUrls}::text[], ${v.usernames}::text[], ${v.usernamesFromClerk}::text[]::boolean[],
      ${v.usernameForms}::text[]) WITH ORDINALITY
      AS i(user_id, updated_at, email, first_name, last_name, image_url, username, username_from_clerk, username_forms,
        position)
  ), prior AS (
    SELECT i.user_id, v.clerk_updated_at, v.deleted_at, u.username AS stored_username
    FROM input i
    LEFT JOIN LATERAL (SELECT v.clerk_updated_at, v.deleted_at FROM ${clerkUserVersions} v
      WHERE v.user_id = i.user_id LIMIT 1) v ON true
    LEFT JOIN LATERAL (SELECT u.username FROM ${users} u WHERE u.id = i.user_id LIMIT 1) u ON true
  )`;

/**
 * Whether the snapshot lets this row be written: not tombstoned, and newer than what is stored (equal is not newer).
 * Rows it excludes never reach the version upsert, so an unchanged user takes no lock and writes nothing; the
 * upsert's own `bumpVersionOnConflict` still decides for rows that changed since the snapshot.
 */
const isNewer = sql`p.deleted_at IS NULL AND (p.clerk_updated_at IS NULL OR p.clerk_updated_at < i.updated_at)`;

/** What a row not written comes to, from the snapshot. */
const notWritten = sql`CASE WHEN p.deleted_at IS NOT NULL THEN 'skipped:deleted'
      WHEN p.clerk_updated_at = i.updated_at THEN 'unchanged' ELSE 'skipped:stored_newer' END`;

/**
 * The writing CTEs, ending in `outcomes (user_id, outcome)`.
 *
 * Usernames: a row needs a new one when its user is new, or when Clerk's own username changed (provision-rules.ts).
 * Rows of this batch that want the same base are ranked in the order given (the listing's: creation order, the
 * order their webhooks came in); the k-th takes the k-th name still free (the base itself, then base2, base3, … as
 * the webhook picks them), so they do not collide with each other. Two different bases can
 * still meet (`ann` with suffix 2 and Clerk's own `ann2`), or a concurrent webhook can take a name: the unique
 * constraint then fails the statement and `applyIsolating` retries smaller batches. Each suffix is tested with a
 * scalar `LIMIT 1` probe of the username index: as `NOT EXISTS` the planner, expecting all 99,998 candidates,
 * hashed the whole users table for every row that needed a suffix.
 *
 * Existing users are updated with `UPDATE … FROM` (the row's own username rule is readable there, unlike in
 * `ON CONFLICT DO UPDATE`, which sees only `excluded`); new ones are inserted, and a user inserted concurrently since
 * the snapshot takes the `ON CONFLICT` path, which looks the rule up in `input`.
 */
const writeUsers = (v: Placeholders<RowArrays>) => sql`${inputAndPrior(v)}, version AS (
    INSERT INTO ${clerkUserVersions} (user_id, clerk_updated_at)
    SELECT i.user_id, i.updated_at FROM input i JOIN prior p USING (user_id)
    WHERE ${isNewer}
    ORDER BY i.user_id
    ${bumpVersionOnConflict}
    RETURNING user_id
  ), ranked AS (
    SELECT n.*, CASE WHEN n.needs_name THEN row_number() OVER (PARTITION BY n.needs_name, n.username ORDER BY n.position) - 1 END AS rank
    FROM (
      SELECT i.*, p.stored_username,
        p.stored_username IS NULL OR (i.username_from_clerk AND p.stored_username !~ i.username_forms) AS needs_name
      FROM input i JOIN prior p USING (user_id)
      WHERE i.user_id IN (SELECT user_id FROM version)
    ) n
  ), named AS (
    SELECT r.*, CASE WHEN NOT r.needs_name THEN r.stored_username ELSE COALESCE(
      (SELECT r.username WHERE r.rank = 0 AND NOT ${takenByOther(sql`r.username`, sql`r.user_id`)}),
      (SELECT c.name FROM (SELECT ${suffixedUsername(sql`r.username`, sql`s.n`)} AS name
          FROM (SELECT generate_series(2, 99999) AS n) s) c
        WHERE (${otherHolders(sql`c.name`, sql`r.user_id`)} LIMIT 1) IS NULL
        LIMIT 1 OFFSET greatest(r.rank - (NOT ${takenByOther(sql`r.username`, sql`r.user_id`)})::int, 0))
    ) END AS new_username
    FROM ranked r
  ), updated AS (
    UPDATE ${users} SET
        ${userAssignments({
          email: sql`r.email`,
          username: {
            candidate: sql`r.new_username`,
            fromClerk: sql`r.username_from_clerk`,
            forms: sql`r.username_forms`,
          },
          firstName: sql`r.first_name`,
          lastName: sql`r.last_name`,
          imageUrl: sql`r.image_url`,
        })}
    FROM named r WHERE ${users.id} = r.user_id AND r.stored_username IS NOT NULL
    RETURNING ${users.id} AS id
  ), inserted AS (
    INSERT INTO ${userInsertColumns}
    SELECT r.user_id, r.email, r.new_username, r.first_name, r.last_name, r.image_url
    FROM named r WHERE r.stored_username IS NULL
    ORDER BY r.user_id
    ON CONFLICT (id) DO UPDATE SET
        ${userAssignments({
          email: sql`excluded.email`,
          username: {
            candidate: sql`excluded.username`,
            fromClerk: sql`(SELECT i.username_from_clerk FROM input i WHERE i.user_id = excluded.id)`,
            forms: sql`(SELECT i.username_forms FROM input i WHERE i.user_id = excluded.id)`,
          },
          firstName: sql`excluded.first_name`,
          lastName: sql`excluded.last_name`,
          imageUrl: sql`excluded.avatar_url`,
        })}
    RETURNING id, (xmax = 0) AS created
  ), workspace AS (
    ${ensureWorkspaces(sql`SELECT id FROM inserted UNION ALL SELECT id FROM updated`)}
  ), outcomes AS (
    SELECT i.user_id, CASE
        WHEN ins.id IS NOT NULL THEN CASE WHEN ins.created THEN 'created' ELSE 'updated' END
        WHEN upd.id IS NOT NULL THEN 'updated'
        ELSE ${notWritten} END AS outcome
    FROM input i JOIN prior p USING (user_id)
    LEFT JOIN inserted ins ON ins.id = i.user_id
    LEFT JOIN updated upd ON upd.id = i.user_id
  )`;

/** Adds `delta (outcome, n)` to a `counts` jsonb column, key by key. */
const addCounts = (column: SQL, delta: SQL) => sql`(SELECT COALESCE(jsonb_object_agg(k, n), '{}'::jsonb) FROM (
      SELECT k, sum(n)::int AS n FROM (
        SELECT key AS k, value::int AS n FROM jsonb_each_text(${column})
        UNION ALL SELECT outcome, n FROM ${delta}) c
      GROUP BY k) t)`;

// ---------------------------------------------------------------------------------------------------------------
// npm run sync: one page

interface SyncPageValues extends RowArrays {
  /** The run whose `counts` (and `next_offset`, `total` when not null) this statement advances. */
  runId: number;
  nextOffset: number | null;
  total: number | null;
  /** Counts decided before the database (`skipped:no_usable_email`, `failed:…`), as a JSON object. */
  extraCounts: string;
  /** Users recorded in `clerk_deliveries` as skipped or failed, for `npm run replay`. */
  recordIds: string[];
  recordUpdatedAts: number[];
  recordOutcomes: string[];
  recordReasons: string[];
  /** Every id the page listed, when the run prunes (`sync_run_users`). */
  seenIds: string[];
}

/**
 * A page of the listing, all at once: the users written, the page's skipped and failed users recorded (delivery id
 * `sync:<user id>:<updated_at>`, so the same state is recorded once however often it is listed), the listed ids
 * kept for pruning, and the run's counts and cursor advanced — all or nothing, so an interrupted run resumes exactly
 * after the last page that committed.
 */
const syncPageStatement = defineStatement<SyncPageValues>(
  (v) => sql`WITH ${writeUsers(v)}, delta AS (
    SELECT outcome, count(*)::int AS n FROM outcomes GROUP BY outcome
    UNION ALL SELECT key, value::int FROM jsonb_each_text(${v.extraCounts}::text::jsonb)
  ), recorded AS (
    INSERT INTO ${clerkDeliveries} (svix_id, event_type, clerk_user_id, outcome, reason, received_at)
    SELECT 'sync:' || r.user_id || ':' || r.updated_at, 'user.updated', r.user_id, r.outcome, r.reason, now()
    FROM unnest(${v.recordIds}::text[], ${v.recordUpdatedAts}::bigint[], ${v.recordOutcomes}::text[],
      ${v.recordReasons}::text[]) AS r(user_id, updated_at, outcome, reason)
    ON CONFLICT (svix_id) DO NOTHING
  ), seen AS (
    INSERT INTO ${syncRunUsers} (run_id, user_id)
    SELECT ${v.runId}::bigint, s.id FROM unnest(${v.seenIds}::text[]) AS s(id)
    ON CONFLICT DO NOTHING
  ), progress AS (
    UPDATE ${syncRuns} SET
      counts = ${addCounts(sql`${syncRuns.counts}`, sql`delta`)},
      next_offset = COALESCE(${v.nextOffset}::int, ${syncRuns.nextOffset}),
      total = COALESCE(${v.total}::int, ${syncRuns.total}),
      updated_at = now()
    WHERE ${syncRuns.id} = ${v.runId}::bigint
  )
  SELECT outcome, sum(n)::int AS n FROM delta GROUP BY outcome`,
);

/** `--dry-run`: what the page statement would do, read only (an e-mail held by another user shows as a failure). */
const classifyStatement = defineStatement<RowArrays>(
  (v) => sql`WITH ${inputAndPrior(v)}
  SELECT outcome, count(*)::int AS n FROM (
    SELECT CASE WHEN ${isNewer} THEN CASE
        WHEN EXISTS (SELECT 1 FROM ${users} u WHERE u.email = i.email AND u.id <> i.user_id) THEN 'failed:email_conflict'
        WHEN p.stored_username IS NOT NULL THEN 'updated' ELSE 'created' END
      ELSE ${notWritten} END AS outcome
    FROM input i JOIN prior p USING (user_id)) c
  GROUP BY outcome`,
);

// ---------------------------------------------------------------------------------------------------------------
// npm run replay

interface ReplayValues extends RowArrays {
  /** The deliveries replayed with these users' current state (several may share a user). */
  deliveryIds: string[];
  deliveryUserIds: string[];
}

/**
 * Skipped or failed deliveries re-run with their users' current Clerk state: the users written as by `sync`, and
 * each delivery row updated in the same statement — `provisioned` when its user was written, `stale` when what is
 * stored is as new or newer, or tombstoned (the webhook's answers to the same situations).
 */
const replayStatement = defineStatement<ReplayValues>(
  (v) => sql`WITH ${writeUsers(v)}, replayed AS (
    UPDATE ${clerkDeliveries} d SET
      outcome = CASE WHEN o.outcome IN ('created', 'updated') THEN 'provisioned' ELSE 'stale' END,
      reason = NULL,
      replayed_at = now()
    FROM unnest(${v.deliveryIds}::text[], ${v.deliveryUserIds}::text[]) AS x(svix_id, user_id)
    JOIN outcomes o ON o.user_id = x.user_id
    WHERE d.svix_id = x.svix_id AND d.outcome IN ('skipped', 'failed')
    RETURNING d.svix_id, d.outcome
  )
  SELECT svix_id, outcome FROM replayed`,
);

/** Replayed deliveries whose outcome was decided without writing a user (still no e-mail, gone from Clerk, …). */
const markReplayedStatement = defineStatement<{ ids: string[]; outcomes: string[]; reasons: (string | null)[] }>(
  (v) => sql`UPDATE ${clerkDeliveries} d SET outcome = x.outcome, reason = x.reason, replayed_at = now()
  FROM unnest(${v.ids}::text[], ${v.outcomes}::text[], ${v.reasons}::text[]) AS x(svix_id, outcome, reason)
  WHERE d.svix_id = x.svix_id AND d.outcome IN ('skipped', 'failed')
  RETURNING d.svix_id, d.outcome`,
);

// ---------------------------------------------------------------------------------------------------------------
// Pruning: tombstoned like a user.deleted

/**
 * Users gone from Clerk, as a `user.deleted` would remove them: tombstoned first (taking their version rows'
 * locks), each recorded as a delivery (`sync-prune:<user id>`, reason `pruned`), counted in the run; the users are
 * deleted by a second statement in the same transaction, whose fresh snapshot sees rows committed meanwhile.
 */
const pruneTombstoneStatement = defineStatement<{ ids: string[]; runId: number | null }>(
  (v) => sql`WITH version AS (
    INSERT INTO ${clerkUserVersions} (user_id, clerk_updated_at, deleted_at)
    SELECT t.id, 0, now() FROM unnest(${v.ids}::text[]) AS t(id) ORDER BY t.id
    ${tombstoneOnConflict}
    RETURNING user_id
  ), recorded AS (
    INSERT INTO ${clerkDeliveries} (svix_id, event_type, clerk_user_id, outcome, reason, received_at)
    SELECT 'sync-prune:' || user_id, 'user.deleted', user_id, 'deleted', 'pruned', now() FROM version
    ON CONFLICT (svix_id) DO NOTHING
  ), progress AS (
    UPDATE ${syncRuns} SET
      counts = ${addCounts(sql`${syncRuns.counts}`, sql`(SELECT 'pruned' AS outcome, count(*)::int AS n FROM version) d`)},
      updated_at = now()
    WHERE ${syncRuns.id} = ${v.runId}::bigint
  )
  SELECT user_id FROM version`,
);

/** The users, their workspaces (cascade) and their organization memberships. */
const deleteUsersStatement = defineStatement<{ ids: string[] }>(
  (v) => sql`WITH memberships AS (
    DELETE FROM ${organizationMemberships} WHERE ${organizationMemberships.userId} = ANY(${v.ids}::text[])
  )
  DELETE FROM ${users} WHERE ${users.id} = ANY(${v.ids}::text[])`,
);

// ---------------------------------------------------------------------------------------------------------------
// Running them

const DEADLINE_MS = 60_000;
/** Attempts of a single user whose username a concurrent writer took (each attempt sees the newer snapshot). */
const MAX_USERNAME_ATTEMPTS = 5;
/** Attempts after a serialization failure or deadlock, which PostgreSQL asks us to retry. */
const MAX_RETRYABLE_ATTEMPTS = 5;
/** Attempts while the database is unreachable or too slow, 1, 2, 4 s apart (each statement is all or nothing). */
const MAX_UNAVAILABLE_ATTEMPTS = 4;

export interface RowFailure {
  row: UserRow;
  /** `email_conflict` (held by another Clerk user id), `username_conflict`, or the violated constraint. */
  reason: string;
}

function failureReason(violation: { code: string; constraint: string }): string {
  if (violation.constraint === "users_email_unique") return "email_conflict";
  if (violation.constraint === "users_username_unique") return "username_conflict";
  return violation.constraint || `sqlstate_${violation.code}`;
}

/**
 * JIT off for these statements: the planner prices the suffix search by its 99,998 candidates and an `OFFSET` it
 * cannot see (guessed at 10 %), far above `jit_above_cost`, and compiled every page (1.8 s of a 2 s page at 100,000
 * users) for a search that probes a handful of names. And no wait for the WAL flush at commit (see `run`).
 */
const jitOff = defineStatement<Record<string, never>>(
  () => sql`SELECT set_config('jit', 'off', true), set_config('synchronous_commit', 'off', true)`,
)({});

/**
 * One batched statement in its own transaction (for `SET LOCAL`); retried when PostgreSQL asks for it, and a few
 * times with backoff while the database is unavailable. `synchronous_commit` is off for it: a server crash can lose
 * only the last pages committed, each with the cursor that records it, so a resumed run applies them again.
 */
async function run<T>(db: Db, statement: BoundStatement): Promise<T[]> {
  let unavailable = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await withDeadline(DEADLINE_MS, () =>
        runTransaction(db, async (runInTx) => {
          await runInTx(jitOff);
          return runInTx<T>(statement);
        }),
      );
    } catch (error) {
      const failure = classifyDbError(error);
      if (failure.kind === "retryable" && attempt < MAX_RETRYABLE_ATTEMPTS) continue;
      if (failure.kind === "unavailable" && ++unavailable < MAX_UNAVAILABLE_ATTEMPTS) {
        await delay(1000 * 2 ** (unavailable - 1));
        continue;
      }
      if (failure.kind === "unavailable") throw new DatabaseUnavailableError(failure.code);
      throw error;
    }
  }
}

/**
 * Runs `apply` on all rows at once; when a constraint fails the statement, on each half, down to the single rows
 * that cannot be written (a taken username is retried a few times first: a concurrent writer took it). Returns
 * what each successful call returned and the rows that failed.
 */
async function applyIsolating<R>(
  rows: readonly UserRow[],
  apply: (rows: readonly UserRow[]) => Promise<R>,
): Promise<{ results: R[]; failures: RowFailure[] }> {
  const results: R[] = [];
  const failures: RowFailure[] = [];
  const attempt = async (part: readonly UserRow[], tries: number): Promise<void> => {
    try {
      results.push(await apply(part));
    } catch (error) {
      const violation = constraintViolation(error);
      if (!violation) throw error;
      const [only] = part;
      if (part.length > 1 || !only) {
        const half = Math.ceil(part.length / 2);
        await attempt(part.slice(0, half), 1);
        await attempt(part.slice(half), 1);
        return;
      }
      const reason = failureReason(violation);
      if (reason === "username_conflict" && tries < MAX_USERNAME_ATTEMPTS) return attempt(part, tries + 1);
      failures.push({ row: only, reason });
    }
  };
  if (rows.length > 0) await attempt(rows, 1);
  return { results, failures };
}

type Counts = Record<string, number>;

const addInto = (into: Counts, outcome: string, n: number) => {
  into[outcome] = (into[outcome] ?? 0) + n;
};

export interface PageRecord {
  userId: string;
  updatedAt: number;
  outcome: "skipped" | "failed";
  reason: string;
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

/**
 * Applies one page of a sync run. Normally one statement; when a row violates a constraint, the rows are applied in
 * smaller batches (each counted in the run as it commits), the rows that cannot be written are recorded as failed,
 * and a last statement advances the cursor with the page's records.
 */
export async function applySyncPage(db: Db, page: SyncPage): Promise<{ counts: Counts; failures: RowFailure[] }> {
  const bind = (rows: readonly UserRow[], tail: Omit<SyncPage, "rows" | "runId"> | undefined) =>
    syncPageStatement({
      ...toArrays(rows),
      runId: page.runId,
      nextOffset: tail?.nextOffset ?? null,
      total: tail?.total ?? null,
      extraCounts: JSON.stringify(tail?.extraCounts ?? {}),
      recordIds: tail?.records.map((r) => r.userId) ?? [],
      recordUpdatedAts: tail?.records.map((r) => r.updatedAt) ?? [],
      recordOutcomes: tail?.records.map((r) => r.outcome) ?? [],
      recordReasons: tail?.records.map((r) => r.reason) ?? [],
      seenIds: tail ? [...tail.seenIds] : [],
    });
  const sum = (results: { outcome: string; n: number }[][]) => {
    const counts: Counts = {};
    for (const rows of results) for (const { outcome, n } of rows) addInto(counts, outcome, n);
    return counts;
  };
  try {
    return { counts: sum([await run(db, bind(page.rows, page))]), failures: [] };
  } catch (error) {
    if (!constraintViolation(error)) throw error;
  }
  const { results, failures } = await applyIsolating(page.rows, (rows) =>
    run<{ outcome: string; n: number }>(db, bind(rows, undefined)),
  );
  const extraCounts = { ...page.extraCounts };
  const records = [...page.records];
  for (const { row, reason } of failures) {
    addInto(extraCounts, `failed:${reason}`, 1);
    records.push({ userId: row.userId, updatedAt: row.updatedAt, outcome: "failed", reason });
  }
  const last = await run<{ outcome: string; n: number }>(db, bind([], { ...page, extraCounts, records }));
  return { counts: sum([...results, last]), failures };
}

/** `--dry-run`: the outcomes a page would have, changing nothing. */
export async function classifyUsers(db: Db, rows: readonly UserRow[]): Promise<Counts> {
  const counts: Counts = {};
  if (rows.length === 0) return counts;
  for (const { outcome, n } of await run<{ outcome: string; n: number }>(db, classifyStatement(toArrays(rows)))) {
    addInto(counts, outcome, n);
  }
  return counts;
}

export interface ReplayTarget {
  svixId: string;
  userId: string;
}

/**
 * Replays deliveries with their users' current state; returns each replayed delivery's new outcome, and the
 * rows that could not be written (their deliveries are left to `markReplayed`).
 */
export async function replayUsers(
  db: Db,
  rows: readonly UserRow[],
  deliveries: readonly ReplayTarget[],
): Promise<{ outcomes: Map<string, string>; failures: RowFailure[] }> {
  const outcomes = new Map<string, string>();
  const { failures } = await applyIsolating(rows, async (part) => {
    const ids = new Set(part.map((row) => row.userId));
    const mine = deliveries.filter((d) => ids.has(d.userId));
    const replayed = await run<{ svix_id: string; outcome: string }>(
      db,
      replayStatement({
        ...toArrays(part),
        deliveryIds: mine.map((d) => d.svixId),
        deliveryUserIds: mine.map((d) => d.userId),
      }),
    );
    for (const { svix_id, outcome } of replayed) outcomes.set(svix_id, outcome);
  });
  return { outcomes, failures };
}

/** Records the outcome of replayed deliveries that wrote no user. Returns the ids updated. */
export async function markReplayed(
  db: Db,
  marks: readonly { svixId: string; outcome: string; reason: string | null }[],
): Promise<Set<string>> {
  if (marks.length === 0) return new Set();
  const rows = await run<{ svix_id: string }>(
    db,
    markReplayedStatement({
      ids: marks.map((m) => m.svixId),
      outcomes: marks.map((m) => m.outcome),
      reasons: marks.map((m) => m.reason),
    }),
  );
  return new Set(rows.map((row) => row.svix_id));
}

/** Tombstones and deletes these users (gone from Clerk); returns the ids actually pruned (not already tombstoned). */
export async function pruneUsers(db: Db, ids: readonly string[], runId: number | null): Promise<string[]> {
  if (ids.length === 0) return [];
  return withDeadline(DEADLINE_MS, () =>
    runTransaction(db, async (statement) => {
      await statement(jitOff);
      const tombstoned = (await statement<{ user_id: string }>(pruneTombstoneStatement({ ids: [...ids], runId }))).map(
        (row) => row.user_id,
      );
      if (tombstoned.length > 0) await statement(deleteUsersStatement({ ids: tombstoned }));
      return tombstoned;
    }),
  );
}
