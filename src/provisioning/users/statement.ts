import { type SQL, sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { defineStatement } from "../../db/query.js";
import { clerkDeliveries, clerkUserVersions, organizationMemberships, users, workspaces } from "../../db/schema.js";
import type { Columns, Placeholders } from "../rows-input.js";
import type { CopiedField } from "./row.js";
import { nameUsers } from "./username-sql.js";

/** A tombstone: set once, kept forever (it outlives the user row), so that nothing brings the user back. */
export const tombstoneOnConflict = sql`ON CONFLICT (user_id) DO UPDATE SET deleted_at = now() WHERE ${clerkUserVersions.deletedAt} IS NULL`;

/**
 * Whether row `i`'s delivery id is not recorded yet: a scalar `LIMIT 1` probe of the primary key, which the planner
 * cannot turn into a join. As `NOT EXISTS`, the generic plan settled on hashing a scan of the whole table (cheap
 * while it was small) and kept doing so as it grew: a sequential scan of clerk_deliveries per delivery.
 */
export const notRecorded = sql`(SELECT 1 FROM ${clerkDeliveries} d WHERE d.delivery_id = i.delivery_id LIMIT 1) IS NULL`;

/** Exactly one workspace per user: inserted for each id `select` yields, unless the user has one. */
export const ensureWorkspaces = (select: SQL) =>
  sql`INSERT INTO ${workspaces} (user_id) ${select} ON CONFLICT (user_id) DO NOTHING`;

/**
 * `recorded`: the deliveries of `select`'s rows (`delivery_id`, `user_id`, `outcome`, `reason`; rows without a
 * delivery id record nothing), in the statement that applies them. Rows of `clerk_deliveries` are never read
 * before writing: a conflict on `delivery_id` (a concurrent copy that committed first) is the duplicate check.
 */
export const recordDeliveries = (select: SQL, v: { eventType: unknown; receivedAt: unknown }) => sql`recorded AS (
    INSERT INTO ${clerkDeliveries} (delivery_id, event_type, clerk_user_id, outcome, reason, received_at)
    SELECT s.delivery_id, ${v.eventType}::text, s.user_id, s.outcome, s.reason, ${v.receivedAt}::timestamptz
    FROM (${select}) s WHERE s.delivery_id IS NOT NULL
    ON CONFLICT (delivery_id) DO NOTHING
    RETURNING delivery_id
  )`;

/**
 * Deletes tombstoned users: their workspaces go with them (`on delete cascade`), their organization memberships
 * too (no foreign key: a membership may arrive before its user).
 */
const removeDependentsStatement = defineStatement<{ ids: string[] }>(
  (v) => sql`WITH memberships AS (
    DELETE FROM ${organizationMemberships} WHERE ${organizationMemberships.userId} = ANY(${v.ids}::text[])
  )
  DELETE FROM ${users} WHERE ${users.id} = ANY(${v.ids}::text[])`,
);
export const removeDependents = (ids: string[]) => removeDependentsStatement({ ids });

/**
 * The row's fields stored as they are, each in its users column (the type checker asks for every one: user-row.ts).
 * The statement's input, insert and updates are made from this table.
 */
const COPIED = {
  email: users.email,
  firstName: users.firstName,
  lastName: users.lastName,
  imageUrl: users.avatarUrl,
} as const satisfies Record<CopiedField, PgColumn>;
export const copiedColumns = Object.values(COPIED).map((column) => column.name);
export const copiedFields = Object.entries(COPIED).map(
  ([field, column]) => [field as CopiedField, column.name] as const,
);

export const userColumns = {
  user_id: "text",
  updated_at: "bigint",
  ...Object.fromEntries(copiedColumns.map((name) => [name, "text" as const])),
  username: "text",
  username_from_clerk: "boolean",
  username_forms: "text",
} satisfies Columns;
/** A batch of one also carries its delivery id (pages record no delivery). */
export const oneColumns = { ...userColumns, delivery_id: "text" } satisfies Columns;

export type StatementLevel = "skip" | "eventType" | "receivedAt";
export type UserValues = Placeholders<typeof userColumns> & { [K in StatementLevel]: unknown } & {
  delivery_id?: unknown;
};

/**
 * The rules, once. What the statement's snapshot holds for each row is read with `LATERAL … LIMIT 1` probes (as a
 * join, the planner hashed a full scan of users for every page once the table had grown). A row is written only
 * when it is newer than its version row and not tombstoned (equal is not newer); the version upsert's own `WHERE`
 * decides again for rows that changed since the snapshot, and its row lock serialises all writes of a user.
 * `one`: a batch of one carries its delivery id; recorded already, it is a duplicate and writes nothing, else it is
 * recorded. Pages carry none, and without the duplicate filter their generic plan is sound. A batch of one also
 * skips what only many rows need (ranking, sorting, a second users node): its plan's size is its cost (docs).
 */
export const writeUsers = (input: SQL, v: UserValues, one: boolean) =>
  sql`WITH ${snapshot(input, v, one)}, ${upsertVersions(one)}, ${nameUsers(one)}, ${writeRows(v, one)}, ${report(v, one)}`;

/** `fragment` when `condition` holds (a part only one shape has). */
const when = (condition: boolean, fragment: SQL) => (condition ? fragment : sql``);

/** `input`: each row with what the snapshot holds for it (a batch of one: unless its delivery is recorded). */
const snapshot = (input: SQL, v: UserValues, one: boolean) => sql`input AS (
    SELECT i.*, ${v.skip}::int AS skip, v.clerk_updated_at, v.deleted_at, u.username AS stored_username,
      w.user_id IS NOT NULL AS housed
    FROM (${input}) i
    LEFT JOIN LATERAL (SELECT v.clerk_updated_at, v.deleted_at FROM ${clerkUserVersions} v
      WHERE v.user_id = i.user_id LIMIT 1) v ON true
    LEFT JOIN LATERAL (SELECT u.username FROM ${users} u WHERE u.id = i.user_id LIMIT 1) u ON true
    LEFT JOIN LATERAL (SELECT w.user_id FROM ${workspaces} w WHERE w.user_id = i.user_id LIMIT 1) w ON true${when(
      one,
      sql`
    WHERE i.delivery_id IS NULL OR ${notRecorded}`,
    )}
  )`;

/** `version`: the rows newer than what is stored, and not tombstoned, moved forward (the ids it wrote). */
const upsertVersions = (one: boolean) => sql`version AS (
    INSERT INTO ${clerkUserVersions} (user_id, clerk_updated_at)
    SELECT i.user_id, i.updated_at FROM input i
    WHERE i.deleted_at IS NULL AND (i.clerk_updated_at IS NULL OR i.clerk_updated_at < i.updated_at)${byId(one, "i")}
    ON CONFLICT (user_id) DO UPDATE SET clerk_updated_at = excluded.clerk_updated_at
      WHERE ${clerkUserVersions.deletedAt} IS NULL AND ${clerkUserVersions.clerkUpdatedAt} < excluded.clerk_updated_at
    RETURNING user_id
  )`;

/** `updated` (pages) and `inserted`: the users rows of `named`; `workspace`: one per user that lacks it. */
const writeRows = (v: UserValues, one: boolean) => sql`${when(
  !one,
  sql`updated AS (
    UPDATE ${users} SET ${assignments(fromNamed, namedRule)}
    FROM named r WHERE ${users.id} = r.user_id AND r.stored_username IS NOT NULL
    RETURNING ${users.id} AS id
  ), `,
)}inserted AS (
    INSERT INTO ${users} (id, username, ${sql.join(
      copiedColumns.map((name) => sql.identifier(name)),
      sql`, `,
    )})
    SELECT r.user_id, r.new_username, ${sql.join(copiedColumns.map(fromNamed), sql`, `)}
    FROM named r${when(!one, sql` WHERE r.stored_username IS NULL`)}${byId(one, "r")}
    ON CONFLICT (id) DO UPDATE SET ${assignments(fromExcluded, one ? scalarRule(v) : excludedRule)}
    RETURNING id, (xmax = 0) AS created
  ), workspace AS (
    ${ensureWorkspaces(sql`SELECT id FROM inserted
      UNION ALL SELECT user_id FROM input WHERE stored_username IS NOT NULL AND deleted_at IS NULL AND NOT housed`)}
  )`;

/**
 * Each row's result; a batch of one records its delivery, and is a `duplicate` when a concurrent copy did first. A
 * page leaves its `unchanged` rows out (a re-run's every row, each one to decode in the client): the verb adds them.
 */
const report = (v: UserValues, one: boolean) => sql`results AS (
    SELECT i.user_id,${when(one, sql` i.delivery_id,`)} CASE
        WHEN ins.id IS NOT NULL THEN CASE WHEN ins.created THEN 'created' ELSE 'updated' END${when(
          !one,
          sql`
        WHEN upd.id IS NOT NULL THEN 'updated'`,
        )}
        WHEN i.deleted_at IS NOT NULL THEN 'deleted'
        WHEN i.clerk_updated_at = i.updated_at THEN 'unchanged'
        ELSE 'stored_newer' END AS result
    FROM input i
    LEFT JOIN inserted ins ON ins.id = i.user_id${when(
      !one,
      sql`
    LEFT JOIN updated upd ON upd.id = i.user_id`,
    )}
  )${
    one
      ? sql`, ${recordDeliveries(
          sql`SELECT delivery_id, user_id, CASE WHEN result IN ('created', 'updated')
            THEN 'provisioned' ELSE 'stale' END AS outcome, NULL::text AS reason FROM results`,
          v,
        )}
  SELECT ${v.user_id}::text AS user_id, CASE WHEN ${v.delivery_id}::text IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM recorded) THEN 'duplicate' ELSE (SELECT result FROM results) END AS result`
      : sql`
  SELECT user_id, result FROM results WHERE result <> 'unchanged'`
  }`;

/** How the username of an existing user changes (see above): the candidate, and the rule of the row. */
interface UsernameRule {
  candidate: SQL;
  fromClerk: SQL;
  forms: SQL;
}

/** An existing user updated to a newer Clerk state: `copied` reads a copied column's new value. */
const assignments = (copied: (column: string) => SQL, rule: UsernameRule) => sql`${sql.join(
  copiedColumns.map((name) => sql`${sql.identifier(name)} = ${copied(name)}`),
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
const scalarRule = (v: UserValues) => ({
  candidate: sql`excluded.username`,
  fromClerk: sql`${v.username_from_clerk}::boolean`,
  forms: sql`${v.username_forms}::text`,
});
/** Rows of a batch are written in id order, so concurrent batches lock in one order (one row needs no sort). */
const byId = (one: boolean, alias: "i" | "r") =>
  one
    ? sql``
    : sql`
    ORDER BY ${sql.raw(alias)}.user_id`;
/** In `ON CONFLICT DO UPDATE` only `excluded` is in scope: the username rule is looked up in `input`. */
const fromExcluded = (column: string) => sql`excluded.${sql.identifier(column)}`;
const excludedRule = {
  candidate: sql`excluded.username`,
  fromClerk: sql`(SELECT i.username_from_clerk FROM input i WHERE i.user_id = excluded.id)`,
  forms: sql`(SELECT i.username_forms FROM input i WHERE i.user_id = excluded.id)`,
};
