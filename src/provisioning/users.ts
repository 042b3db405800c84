import { type SQL, sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { BACKGROUND, type CallPolicy, REQUEST } from "../db/call.js";
import { toDatabaseError } from "../db/errors.js";
import { type BoundStatement, defineStatement, type RunStatement, runStatement } from "../db/query.js";
import { clerkUserVersions, users, workspaces } from "../db/schema.js";
import type { Db } from "../db/types.js";
import { ServiceError } from "../errors.js";
import type { UserResult } from "./outcome.js";
import { type Columns, inputRows, type Placeholders, rowValues } from "./rows-input.js";
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
const copiedValues = (row: UserRow) => {
  const values: Record<string, string | null> = {};
  for (const [field, name] of copiedFields) values[name] = field === "email" ? row.email : row.profile[field];
  return values;
};

const userColumns = {
  user_id: "text",
  updated_at: "bigint",
  ...Object.fromEntries(copiedColumns.map((name) => [name, "text" as const])),
  username: "text",
  username_from_clerk: "boolean",
  username_forms: "text",
  delivery_id: "text",
  skip: "int",
} satisfies Columns;

type UserValues = Placeholders<typeof userColumns> & { eventType: unknown; receivedAt: unknown };

/**
 * The rules, once. What the statement's snapshot holds for each row is read with `LATERAL … LIMIT 1` probes (as a
 * join, the planner hashed a full scan of users for every page once the table had grown). A row is written only
 * when it is newer than its version row and not tombstoned (equal is not newer); the version upsert's own `WHERE`
 * decides again for rows that changed since the snapshot, and its row lock serialises all writes of a user.
 * `recording`: rows carry delivery ids, a row whose delivery is recorded is a duplicate and writes nothing, and each
 * row's delivery is recorded. Pages carry none, and without the duplicate filter their generic plan is sound (docs).
 */
const writeUsers = (input: SQL, v: UserValues, recording: boolean) => sql`WITH input AS (${input}
  ), fresh AS (
    SELECT i.* FROM input i${recording ? sql` WHERE i.delivery_id IS NULL OR ${notRecorded}` : sql``}
  ), prior AS (
    SELECT i.user_id, v.clerk_updated_at, v.deleted_at, u.username AS stored_username, w.user_id IS NOT NULL AS housed
    FROM fresh i
    LEFT JOIN LATERAL (SELECT v.clerk_updated_at, v.deleted_at FROM ${clerkUserVersions} v
      WHERE v.user_id = i.user_id LIMIT 1) v ON true
    LEFT JOIN LATERAL (SELECT u.username FROM ${users} u WHERE u.id = i.user_id LIMIT 1) u ON true
    LEFT JOIN LATERAL (SELECT w.user_id FROM ${workspaces} w WHERE w.user_id = i.user_id LIMIT 1) w ON true
  ), version AS (
    INSERT INTO ${clerkUserVersions} (user_id, clerk_updated_at)
    SELECT i.user_id, i.updated_at FROM fresh i JOIN prior p USING (user_id)
    WHERE p.deleted_at IS NULL AND (p.clerk_updated_at IS NULL OR p.clerk_updated_at < i.updated_at)
    ORDER BY i.user_id
    ON CONFLICT (user_id) DO UPDATE SET clerk_updated_at = excluded.clerk_updated_at
      WHERE ${clerkUserVersions.deletedAt} IS NULL AND ${clerkUserVersions.clerkUpdatedAt} < excluded.clerk_updated_at
    RETURNING user_id
  ), ${nameUsers}, updated AS (
    UPDATE ${users} SET ${assignments(fromNamed, namedRule)}
    FROM named r WHERE ${users.id} = r.user_id AND r.stored_username IS NOT NULL
    RETURNING ${users.id} AS id
  ), inserted AS (
    INSERT INTO ${users} (id, username, ${sql.join(
      copiedColumns.map((name) => sql.identifier(name)),
      sql`, `,
    )})
    SELECT r.user_id, r.new_username, ${sql.join(copiedColumns.map(fromNamed), sql`, `)}
    FROM named r WHERE r.stored_username IS NULL
    ORDER BY r.user_id
    ON CONFLICT (id) DO UPDATE SET ${assignments(fromExcluded, excludedRule)}
    RETURNING id, (xmax = 0) AS created
  ), workspace AS (
    ${ensureWorkspaces(sql`SELECT id FROM inserted
      UNION ALL SELECT user_id FROM prior WHERE stored_username IS NOT NULL AND deleted_at IS NULL AND NOT housed`)}
  ), results AS (
    SELECT i.user_id, i.delivery_id, CASE
        WHEN ins.id IS NOT NULL THEN CASE WHEN ins.created THEN 'created' ELSE 'updated' END
        WHEN upd.id IS NOT NULL THEN 'updated'
        WHEN p.deleted_at IS NOT NULL THEN 'deleted'
        WHEN p.clerk_updated_at = i.updated_at THEN 'unchanged'
        ELSE 'stored_newer' END AS result
    FROM fresh i JOIN prior p USING (user_id)
    LEFT JOIN inserted ins ON ins.id = i.user_id
    LEFT JOIN updated upd ON upd.id = i.user_id
  )${
    recording
      ? sql`, ${recordDeliveries(
          sql`SELECT delivery_id, user_id, CASE WHEN result IN ('created', 'updated')
            THEN 'provisioned' ELSE 'stale' END AS outcome, NULL::text AS reason FROM results`,
          v,
        )}
  SELECT i.user_id, CASE WHEN i.delivery_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM recorded x WHERE x.delivery_id = i.delivery_id) THEN 'duplicate'
    ELSE r.result END AS result
  FROM input i LEFT JOIN results r USING (user_id)`
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
/** In `ON CONFLICT DO UPDATE` only `excluded` is in scope: the username rule is looked up in `input`. */
const fromExcluded = (column: string) => sql`excluded.${sql.identifier(column)}`;
const excludedRule = {
  candidate: sql`excluded.username`,
  fromClerk: sql`(SELECT i.username_from_clerk FROM input i WHERE i.user_id = excluded.id)`,
  forms: sql`(SELECT i.username_forms FROM input i WHERE i.user_id = excluded.id)`,
};

const provisionStatement = (shape: "one" | "many") =>
  defineStatement<Record<keyof typeof userColumns | "eventType" | "receivedAt", unknown>>((v) =>
    writeUsers(inputRows(userColumns, v, shape), v, shape === "one"),
  );
/**
 * A batch of one (the webhook's hot path, with its delivery) binds scalars, not arrays: its generic plan then costs
 * what a custom one does, so PostgreSQL stops planning it per delivery after five executions. A page (`sync`,
 * `replay`) binds arrays and records no delivery: a delivery is one event, of one user.
 */
const provisionOne = provisionStatement("one");
const provisionMany = provisionStatement("many");

/** The statement writing `rows` (distinct user ids) on attempt `attempt` (exported for the benchmark's ceiling). */
export function provisionUsersStatement(rows: readonly UserRow[], stamp?: DeliveryStamp, attempt = 1): BoundStatement {
  if (stamp && rows.length !== 1) throw new Error("provisionUsers: a delivery is recorded with a batch of one");
  const skip = attempt === 1 ? 0 : 1 + Math.floor(Math.random() * 4 * attempt);
  const values = rows.map((row, i) => ({
    user_id: row.userId,
    updated_at: row.updatedAt,
    ...copiedValues(row),
    username: row.username,
    username_from_clerk: row.usernameFromClerk,
    username_forms: row.usernameForms,
    delivery_id: stamp?.deliveryIds[i] ?? null,
    skip,
  }));
  const [only] = values;
  const common = { eventType: stamp?.eventType ?? null, receivedAt: stamp?.receivedAt.toISOString() ?? null };
  return rows.length === 1 && only
    ? provisionOne({ ...only, ...common })
    : provisionMany({ ...rowValues(userColumns, values), ...common });
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
