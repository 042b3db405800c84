import { type SQL, sql } from "drizzle-orm";
import { users } from "../../db/schema.js";
import { HASHED_SUFFIX_DIGITS, SEQUENTIAL_SUFFIXES } from "./username.js";

/**
 * The users statement's `ranked` and `named` CTEs (write-sql.ts; they read its `input` and `version`).
 *
 * Usernames: a row needs one when its user is new, or when Clerk's own username changed to something the stored
 * one is not a form of. Rows of one batch wanting the same base are ranked in the order given; the k-th takes the
 * k-th name still free: the base, then base2 … base100, each a scalar probe of the username index; past those, a
 * 9-digit suffix from the user id, so that a crowded base stays a bounded search and never runs out. After a
 * collision with a concurrent writer, `skip` (> 0 on a retry) spreads the racers apart.
 */
export const nameUsers = (one: boolean) => sql`ranked AS (
    SELECT n.*, CASE WHEN n.needs_name
      THEN ${one ? sql`0` : sql`row_number() OVER (PARTITION BY n.needs_name, n.username ORDER BY n.position) - 1`} END AS rank
    FROM (
      SELECT i.*,
        i.stored_username IS NULL OR (i.username_from_clerk AND i.stored_username !~ i.username_forms) AS needs_name
      FROM input i
      WHERE i.id IN (SELECT id FROM version)
    ) n
  ), named AS (
    SELECT r.*, CASE WHEN NOT r.needs_name THEN r.stored_username ELSE COALESCE(
      (SELECT c.name FROM (SELECT CASE WHEN s.n = 1 THEN r.username ELSE left(r.username, 30 - length(s.n::text)) || s.n END
          AS name FROM (SELECT generate_series(1, ${sql.raw(String(SEQUENTIAL_SUFFIXES + 1))}) AS n) s) c
        WHERE (${holders(sql`c.name`)} LIMIT 1) IS NULL
        LIMIT 1 OFFSET r.rank + r.skip),
      left(r.username, ${sql.raw(String(30 - HASHED_SUFFIX_DIGITS))})
        || (${sql.raw(`1${"0".repeat(HASHED_SUFFIX_DIGITS - 1)}`)}
          + abs(hashtextextended(r.id || ':' || r.skip, 0)) % ${sql.raw(`9${"0".repeat(HASHED_SUFFIX_DIGITS - 1)}`)})::text
    ) END AS new_username
    FROM ranked r
  )`;

/** The users other than the row's own holding `candidate` (at most one: usernames are unique). */
function holders(candidate: SQL) {
  return sql`SELECT 1 FROM ${users} u WHERE u.username = ${candidate} AND u.id <> r.id`;
}
