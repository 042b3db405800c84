import { BACKGROUND, type CallPolicy, REQUEST } from "../../db/call.js";
import { toDatabaseError } from "../../db/errors.js";
import { type BoundStatement, defineStatement, type RunStatement, runStatement } from "../../db/query.js";
import type { Db } from "../../db/types.js";
import { ServiceError } from "../../errors.js";
import type { RowResult } from "../../outcome.js";
import { columnsOf, inputRows, rowOf } from "../rows-input.js";
import type { UserRow } from "./row.js";
import { copiedFields, oneColumns, type StatementLevel, userColumns, writeUsers } from "./statement.js";

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
  result: RowResult;
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
        ? await target<{ user_id: string; result: RowResult }>(statement(1))
        : await runStatement<{ user_id: string; result: RowResult }>(target, statement, policy, raced);
    const results = new Map(written.map((row) => [row.user_id, row.result]));
    return rows.map((row) => ({ userId: row.userId, result: results.get(row.userId) ?? "unchanged" }));
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
