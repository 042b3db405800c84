import { type SQL, sql } from "drizzle-orm";
import { users, workspaces } from "../../db/schema.js";
import type { Shape, Values } from "../engine/spec.js";
import { inIdOrder, when } from "../engine/upsert-statement.js";
import { nameUsers } from "./username-sql.js";

/**
 * The users' own rules inside the engine's statement (engine/upsert-statement.ts): what the snapshot holds besides
 * the version (the stored username, whether a workspace exists), the username (username-sql.ts), the users row and
 * exactly one workspace. The rendered statements: write-one.sql, write-many.sql; why they are shaped so: docs/sql.md.
 */

/** `input`'s further columns: the statement's `skip`, the stored username, and whether the user has a workspace. */
export const userProbes = (v: Values) => ({
  columns: sql`, ${v.skip}::int AS skip, u.username AS stored_username, w.user_id IS NOT NULL AS housed`,
  joins: sql`
    LEFT JOIN LATERAL (SELECT u.username FROM ${users} u WHERE u.id = i.id LIMIT 1) u ON true
    LEFT JOIN LATERAL (SELECT w.user_id FROM ${workspaces} w WHERE w.user_id = i.id LIMIT 1) w ON true`,
});

/** The users columns copied from `input` as they are (the kind's `COPIED`, by column name). */
type CopiedColumns = readonly string[];

/**
 * `updated` (pages: existing users, whose username rule is readable in `UPDATE … FROM`) and `inserted` (a batch of
 * one sends every row here: one node writing users instead of two), then `written`, and `workspace`: one per user
 * written, or stored and live without one (a workspace removed by hand is restored by the next delivery).
 */
export const writeUsers = (copied: CopiedColumns) => (v: Values, shape: Shape) => {
  const one = shape === "one";
  const inserted = sql.raw(one ? "written" : "inserted");
  return sql`${nameUsers(one)}, ${when(
    !one,
    sql`updated AS (
    UPDATE ${users} SET ${assignments(copied, fromNamed, namedRule)}
    FROM named r WHERE ${users.id} = r.id AND r.stored_username IS NOT NULL
    RETURNING ${users.id} AS id
  ), `,
  )}${inserted} AS (
    INSERT INTO ${users} (id, username, ${sql.join(
      copied.map((name) => sql.identifier(name)),
      sql`, `,
    )})
    SELECT r.id, r.new_username, ${sql.join(copied.map(fromNamed), sql`, `)}
    FROM named r${when(!one, sql` WHERE r.stored_username IS NULL`)}${inIdOrder(shape, "r")}
    ON CONFLICT (id) DO UPDATE SET ${assignments(copied, fromExcluded, one ? scalarRule(v) : excludedRule)}
    RETURNING id, (xmax = 0) AS created
  ), ${when(
    !one,
    sql`written AS (
    SELECT id, created FROM inserted UNION ALL SELECT id, false FROM updated
  ), `,
  )}workspace AS (
    INSERT INTO ${workspaces} (user_id) SELECT id FROM ${inserted}
      UNION ALL SELECT id FROM input WHERE stored_username IS NOT NULL AND deleted_at IS NULL AND NOT housed
    ON CONFLICT (user_id) DO NOTHING
  )`;
};

/** How the username of an existing user changes: the candidate, and the rule of the row. */
interface UsernameRule {
  candidate: SQL;
  fromClerk: SQL;
  forms: SQL;
}

/** An existing user updated to a newer Clerk state: `from` reads a copied column's new value. */
const assignments = (copied: CopiedColumns, from: (column: string) => SQL, rule: UsernameRule) => sql`${sql.join(
  copied.map((name) => sql`${sql.identifier(name)} = ${from(name)}`),
  sql`, `,
)},
        username = CASE WHEN ${rule.fromClerk} AND ${users.username} !~ ${rule.forms}
          THEN ${rule.candidate} ELSE ${users.username} END,
        updated_at = now()`;

const fromNamed = (column: string) => sql`r.${sql.identifier(column)}`;
const namedRule = {
  candidate: sql`r.new_username`,
  fromClerk: sql`r.username_from_clerk`,
  forms: sql`r.username_forms`,
};
/** A batch of one binds its rule as scalars, readable in `ON CONFLICT DO UPDATE`. */
const scalarRule = (v: Values) => ({
  candidate: sql`excluded.username`,
  fromClerk: sql`${v.username_from_clerk}::boolean`,
  forms: sql`${v.username_forms}::text`,
});
/** In `ON CONFLICT DO UPDATE` only `excluded` is in scope: the username rule is looked up in `input`. */
const fromExcluded = (column: string) => sql`excluded.${sql.identifier(column)}`;
const excludedRule = {
  candidate: sql`excluded.username`,
  fromClerk: sql`(SELECT i.username_from_clerk FROM input i WHERE i.id = excluded.id)`,
  forms: sql`(SELECT i.username_forms FROM input i WHERE i.id = excluded.id)`,
};
