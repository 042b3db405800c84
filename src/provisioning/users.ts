import { type SQL, sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { BACKGROUND, type CallPolicy, REQUEST } from "../db/call.js";
import { toDatabaseError } from "../db/errors.js";
import { type BoundStatement, defineStatement, type RunStatement, runStatement } from "../db/query.js";
import { clerkUserVersions, users, workspaces } from "../db/schema.js";
import type { Db } from "../db/types.js";
import { ServiceError } from "../errors.js";
import type { UserResult } from "./outcome.js";
import { type Columns, columnsOf, inputRows, type Placeholders, rowOf } from "./rows-input.js";
import type { CopiedField, UserRow } from "./user-row.js";
import { ensureWorkspaces, notRecorded, recordDeliveries } from "./user-sql.js";
import { nameUsers } from "./username-sql.js";

/**
 * The two verbs that write Clerk users, for every caller: the webhook and `/v1/me` (a batch of one, with its
 * delivery), `sync` and `replay` (a page). Each is one statement (a delete, one transaction), so a user's row, its
 * workspace, its version and its delivery record commit together or not at all. The SQL and why it is shaped so:
 * docs/provisioning-sql.md.
 */

/** A delivery to record with each row it carries (`clerk_deliveries`), and the duplicate check it brings. */
export interface DeliveryStamp {
  deliveryIds: readonly string[];
  eventType: string;
  receivedAt: Date;
}

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
const copiedColumns = Object.values(COPIED).map((column) => column.name);
const copiedFields = Object.entries(COPIED).map(([field, column]) => [field as CopiedField, column.name] as const);

const userColumns = {
  user_id: "text",
  updated_at: "bigint",
  ...Object.fromEntries(copiedColumns.map((name) => [name, "text" as const])),
  username: "text",
  username_from_clerk: "boolean",
  username_forms: "text",
} satisfies Columns;
/** A batch of one also carries its delivery id (pages record no delivery). */
const oneColumns = { ...userColumns, delivery_id: "text" } satisfies Columns;

/** Each input column's value for a row. */
const FIELDS = {
  user_id: (row) => row.userId,
  updated_at: (row) => row.updatedAt,
  ...Object.fromEntries(
    copiedFields.map(([field, name]) => [name, (row: UserRow) => (field === "email" ? row.email : row.profile[field])]),
  ),
  username: (row) => row.username,
  username_from_clerk: (row) => row.usernameFromClerk,
  username_forms: (row) => row.usernameForms,
} satisfies Record<string, (row: UserRow) => unknown> as Record<keyof typeof userColumns, (row: UserRow) => unknown>;

type StatementLevel = "skip" | "eventType" | "receivedAt";
type UserValues = Placeholders<typeof userColumns> & { [K in StatementLevel]: unknown } & { delivery_id?: unknown };

/**
 * The rules, once. What the statement's snapshot holds for each row is read with `LATERAL … LIMIT 1` probes (as a
 * join, the planner hashed a full scan of users for every page once the table had grown). A row is written only
 * when it is newer than its version row and not tombstoned (equal is not newer); the version upsert's own `WHERE`
 * decides again for rows that changed since the snapshot, and its row lock serialises all writes of a user.
 * `one`: a batch of one carries its delivery id; recorded already, it is a duplicate and writes nothing, else it is
 * recorded. Pages carry none, and without the duplicate filter their generic plan is sound. A batch of one also
 * skips what only many rows need (ranking, sorting, a second users node): its plan's size is its cost (docs).
 */
const writeUsers = (input: SQL, v: UserValues, one: boolean) => sql`WITH input AS (
    SELECT i.*, ${v.skip}::int AS skip, v.clerk_updated_at, v.deleted_at, u.username AS stored_username,
      w.user_id IS NOT NULL AS housed
    FROM (${input}) i
    LEFT JOIN LATERAL (SELECT v.clerk_updated_at, v.deleted_at FROM ${clerkUserVersions} v
      WHERE v.user_id = i.user_id LIMIT 1) v ON true
    LEFT JOIN LATERAL (SELECT u.username FROM ${users} u WHERE u.id = i.user_id LIMIT 1) u ON true
    LEFT JOIN LATERAL (SELECT w.user_id FROM ${workspaces} w WHERE w.user_id = i.user_id LIMIT 1) w ON true${
      one
        ? sql`
    WHERE i.delivery_id IS NULL OR ${notRecorded}`
        : sql``
    }
  ), version AS (
    INSERT INTO ${clerkUserVersions} (user_id, clerk_updated_at)
    SELECT i.user_id, i.updated_at FROM input i
    WHERE i.deleted_at IS NULL AND (i.clerk_updated_at IS NULL OR i.clerk_updated_at < i.updated_at)${byId(one, "i")}
    ON CONFLICT (user_id) DO UPDATE SET clerk_updated_at = excluded.clerk_updated_at
      WHERE ${clerkUserVersions.deletedAt} IS NULL AND ${clerkUserVersions.clerkUpdatedAt} < excluded.clerk_updated_at
    RETURNING user_id
  ), ${nameUsers(one)}, ${
    one
      ? sql``
      : sql`updated AS (
    UPDATE ${users} SET ${assignments(fromNamed, namedRule)}
    FROM named r WHERE ${users.id} = r.user_id AND r.stored_username IS NOT NULL
    RETURNING ${users.id} AS id
  ), `
  }inserted AS (
    INSERT INTO ${users} (id, username, ${sql.join(
      copiedColumns.map((name) => sql.identifier(name)),
      sql`, `,
    )})
    SELECT r.user_id, r.new_username, ${sql.join(copiedColumns.map(fromNamed), sql`, `)}
    FROM named r${one ? sql`` : sql` WHERE r.stored_username IS NULL`}${byId(one, "r")}
    ON CONFLICT (id) DO UPDATE SET ${assignments(fromExcluded, one ? scalarRule(v) : excludedRule)}
    RETURNING id, (xmax = 0) AS created
  ), workspace AS (
    ${ensureWorkspaces(sql`SELECT id FROM inserted
      UNION ALL SELECT user_id FROM input WHERE stored_username IS NOT NULL AND deleted_at IS NULL AND NOT housed`)}
  ), results AS (
    SELECT i.user_id,${one ? sql` i.delivery_id,` : sql``} CASE
        WHEN ins.id IS NOT NULL THEN CASE WHEN ins.created THEN 'created' ELSE 'updated' END
${
  one
    ? sql``
    : sql`        WHEN upd.id IS NOT NULL THEN 'updated'
`
}        WHEN i.deleted_at IS NOT NULL THEN 'deleted'
        WHEN i.clerk_updated_at = i.updated_at THEN 'unchanged'
        ELSE 'stored_newer' END AS result
    FROM input i
    LEFT JOIN inserted ins ON ins.id = i.user_id${
      one
        ? sql``
        : sql`
    LEFT JOIN updated upd ON upd.id = i.user_id`
    }
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
  SELECT user_id, result FROM results`
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

/**
 * A batch of one (the webhook's hot path, with its delivery) binds scalars, not arrays: its generic plan then costs
 * what a custom one does, so PostgreSQL stops planning it per delivery after five executions. A page (`sync`,
 * `replay`) binds arrays and records no delivery: a delivery is one event, of one user.
 */
const provisionOne = defineStatement<Record<keyof typeof oneColumns | StatementLevel, unknown>>((v) =>
  writeUsers(inputRows(oneColumns, v, "one"), v, true),
);
const provisionMany = defineStatement<Record<keyof typeof userColumns | StatementLevel, unknown>>((v) =>
  writeUsers(inputRows(userColumns, v, "many"), v, false),
);

/** The statement writing `rows` (distinct user ids) on attempt `attempt` (exported for the benchmark's ceiling). */
export function provisionUsersStatement(rows: readonly UserRow[], stamp?: DeliveryStamp, attempt = 1): BoundStatement {
  if (stamp && rows.length !== 1) throw new Error("provisionUsers: a delivery is recorded with a batch of one");
  const skip = attempt === 1 ? 0 : 1 + Math.floor(Math.random() * 4 * attempt);
  const common = { skip, eventType: stamp?.eventType ?? null, receivedAt: stamp?.receivedAt.toISOString() ?? null };
  const [only] = rows;
  return rows.length === 1 && only
    ? provisionOne({ ...rowOf(userColumns, FIELDS, only), delivery_id: stamp?.deliveryIds[0] ?? null, ...common })
    : provisionMany({ ...columnsOf(userColumns, FIELDS, rows), ...common });
}

/** Attempts after a race with a concurrent writer; each retry spreads username picks wider. */
const MAX_ATTEMPTS = 8;

/**
 * Worth another attempt: a username a concurrent writer took, or a workspace restored for a user a concurrent
 * `user.deleted` removed meanwhile (the next attempt's snapshot sees its tombstone).
 */
const RACED_CONSTRAINTS = new Set(["users_username_unique", "workspaces_user_id_users_id_fk"]);
const raced = (error: ServiceError, attempt: number) =>
  error.code === "constraint_violation" && RACED_CONSTRAINTS.has(error.detail ?? "") && attempt < MAX_ATTEMPTS;

export interface UserWrite {
  userId: string;
  result: UserResult;
}

/**
 * Writes Clerk users (distinct ids) by the rules above, one statement; inside a transaction when `run` is given.
 * An e-mail held by another Clerk user is `email_conflict` (nothing written); any other constraint refusing a row
 * is `constraint_violation` naming it.
 */
export async function provisionUsers(
  target: Db | RunStatement,
  rows: readonly UserRow[],
  options: { stamp?: DeliveryStamp; policy?: CallPolicy } = {},
): Promise<UserWrite[]> {
  if (rows.length === 0) return [];
  const policy = options.policy ?? (rows.length === 1 ? REQUEST : BACKGROUND);
  const statement = (attempt: number) => provisionUsersStatement(rows, options.stamp, attempt);
  try {
    const written =
      typeof target === "function"
        ? await target<{ user_id: string; result: UserResult }>(statement(1))
        : await runStatement<{ user_id: string; result: UserResult }>(target, statement, policy, raced);
    return written.map((row) => ({ userId: row.user_id, result: row.result }));
  } catch (error) {
    throw asEmailConflict(error);
  }
}

function asEmailConflict(thrown: unknown): ServiceError {
  const error = toDatabaseError(thrown);
  if (error.code === "constraint_violation" && error.detail === "users_email_unique") {
    return new ServiceError(
      "email_conflict",
      "the e-mail address is still held by another Clerk user; retry once its user.deleted has arrived",
      { detail: error.detail },
    );
  }
  return error;
}
