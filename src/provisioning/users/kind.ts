import { sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { parseClerkUser } from "../../clerk/events.js";
import { defineStatement } from "../../db/query.js";
import { clerkUserVersions, organizationMemberships, subscriptionItems, users } from "../../db/schema.js";
import { ServiceError } from "../../errors.js";
import { defineKind } from "../engine/define-kind.js";
import { classifyUsers } from "./classify.js";
import { type CopiedField, toUserRow, type UserRow } from "./row.js";
import { userProbes, writeUsers } from "./write-sql.js";

/**
 * Clerk users, for every caller: the webhook and `/v1/me` (a batch of one, with its delivery), `sync` and `replay`
 * (a page). A user's row, its workspace, its version and its delivery record commit together or not at all.
 */

/** The fields stored as Clerk sends them, each in its users column (the type checker asks for every one). */
const COPIED = {
  email: users.email,
  firstName: users.firstName,
  lastName: users.lastName,
  imageUrl: users.avatarUrl,
} as const satisfies Record<CopiedField, PgColumn>;

/**
 * Deletes tombstoned users: their workspaces go with them (`on delete cascade`), their memberships and subscription
 * items too.
 */
const removeDependents = defineStatement<{ ids: string[] }>(
  (v) => sql`WITH memberships AS (
    DELETE FROM ${organizationMemberships} WHERE ${organizationMemberships.userId} = ANY(${v.ids}::text[])
  ), items AS (
    DELETE FROM ${subscriptionItems} WHERE ${subscriptionItems.payerType} = 'user'
      AND ${subscriptionItems.payerId} = ANY(${v.ids}::text[])
  )
  DELETE FROM ${users} WHERE ${users.id} = ANY(${v.ids}::text[])`,
);

/** Attempts after a race with a concurrent writer; each retry spreads username picks wider. */
const MAX_ATTEMPTS = 8;

/**
 * Worth another attempt: a username a concurrent writer took, or a workspace restored for a user a concurrent
 * `user.deleted` removed meanwhile (the next attempt's snapshot sees its tombstone).
 */
const RACED_CONSTRAINTS = new Set(["users_username_unique", "workspaces_user_id_users_id_fk"]);

export const userKind = defineKind<UserRow, CopiedField, string>({
  name: "users",
  noun: "user",
  fromClerk: (raw) => {
    const user = parseClerkUser(raw);
    const mapped = toUserRow(user);
    return mapped.kind === "row"
      ? { row: mapped.row }
      : { skip: mapped.reason, id: user.id, updatedAt: user.updatedAt };
  },
  classify: classifyUsers,
  versions: {
    table: clerkUserVersions,
    key: clerkUserVersions.userId,
    clerkUpdatedAt: clerkUserVersions.clerkUpdatedAt,
    deletedAt: clerkUserVersions.deletedAt,
  },
  copied: COPIED,
  copiedOf: (row, field) => (field === "email" ? row.email : row.profile[field]),
  inputs: {
    username: { type: "text", of: (row) => row.username },
    username_from_clerk: { type: "boolean", of: (row) => row.usernameFromClerk },
    username_forms: { type: "text", of: (row) => row.usernameForms },
  },
  idOf: (row) => row.userId,
  updatedAtOf: (row) => row.updatedAt,
  rules: {
    probes: userProbes,
    writes: writeUsers(Object.values(COPIED).map((column) => column.name)),
    deliveryUser: sql`i.id`,
  },
  removal: {
    columns: {},
    values: (id) => ({ id }),
    deliveryUser: sql`f.id`,
    remove: (ids) => removeDependents({ ids }),
  },
  attemptValues: (attempt) => ({ skip: attempt === 1 ? 0 : 1 + Math.floor(Math.random() * 4 * attempt) }),
  retryWhen: (error, attempt) =>
    error.code === "constraint_violation" && RACED_CONSTRAINTS.has(error.detail ?? "") && attempt < MAX_ATTEMPTS,
  mapError: (error) =>
    error.code === "constraint_violation" && error.detail === "users_email_unique"
      ? new ServiceError(
          "email_conflict",
          "the e-mail address is still held by another Clerk user; retry once its user.deleted has arrived",
          { detail: error.detail },
        )
      : error,
});
