import { type SQL, sql } from "drizzle-orm";
import type { ClerkUser } from "../clerk/events.js";
import { clerkUserVersions, users, workspaces } from "../db/schema.js";
import { chooseUsername } from "./username.js";

/**
 * The provisioning rules, shared by the per-delivery statements (apply-clerk-event.ts: webhooks, `/v1/me`) and the
 * batched ones (provision-batch.ts: `npm run sync`, `npm run replay`): which e-mail is usable, the row a Clerk user
 * maps to, and the SQL that enforces versions, tombstones and usernames. Each fragment renders to the same text
 * wherever it is used, so the rules cannot drift apart between the two paths.
 */

/**
 * The `valid_email` check's rule, never looser: `[:space:]` follows the database's locale, and PGlite's also counts
 * U+0085 (NEL), which JS `\s` does not. (JS `\s` counts a few no-break spaces the database does not: those
 * addresses are skipped, never a 500.)
 */
export const USABLE_EMAIL = /^[^@\s\u0085]+@[^@\s\u0085]+\.[^@\s\u0085]+$/;

/** The address a user is provisioned with, or null when it has none the `valid_email` check accepts. */
export function usableEmail(user: ClerkUser): string | null {
  return user.primaryEmail && USABLE_EMAIL.test(user.primaryEmail) ? user.primaryEmail : null;
}

/** What one Clerk user becomes in the database (bound as parameters or as array elements). */
export interface UserRow {
  userId: string;
  /** Clerk's `updated_at` (ms): the version of this state. */
  updatedAt: number;
  email: string;
  firstName: string | null;
  lastName: string | null;
  imageUrl: string | null;
  /** The preferred username; a numeric suffix is added in SQL when another user holds it. */
  username: string;
  usernameFromClerk: boolean;
  usernameForms: string;
}

export function userRow(user: ClerkUser, email: string): UserRow {
  const username = chooseUsername(user.username, email);
  return {
    userId: user.id,
    updatedAt: user.updatedAt,
    email,
    firstName: user.firstName,
    lastName: user.lastName,
    imageUrl: user.imageUrl,
    username: username.base,
    usernameFromClerk: username.fromClerk,
    usernameForms: username.formsPattern,
  };
}

/** The users other than `userId` holding `candidate` (at most one: usernames are unique). */
export const otherHolders = (candidate: SQL, userId: SQL) =>
  sql`SELECT 1 FROM ${users} u WHERE u.username = ${candidate} AND u.id <> ${userId}`;

/** Whether another user already holds `candidate`. */
export const takenByOther = (candidate: SQL, userId: SQL) => sql`EXISTS (${otherHolders(candidate, userId)})`;

/** `base` with the numeric suffix `n`, cut so that the result still fits 30 characters. */
export const suffixedUsername = (base: SQL, n: SQL) => sql`left(${base}, 30 - length(${n}::text)) || ${n}`;

/**
 * The version row's upsert: it moves only forward (`equal is not newer`), and never once tombstoned. A row it does
 * not return is an event that must change nothing. Its row lock serialises all writes of one user.
 */
export const bumpVersionOnConflict = sql`ON CONFLICT (user_id) DO UPDATE SET clerk_updated_at = excluded.clerk_updated_at
      WHERE ${clerkUserVersions.deletedAt} IS NULL AND ${clerkUserVersions.clerkUpdatedAt} < excluded.clerk_updated_at`;

/** A tombstone: set once, kept forever (it outlives the user row), so that nothing brings the user back. */
export const tombstoneOnConflict = sql`ON CONFLICT (user_id) DO UPDATE SET deleted_at = now() WHERE ${clerkUserVersions.deletedAt} IS NULL`;

/**
 * An existing user's username changes only when Clerk's own username is set and the stored one is not one of its
 * forms (itself or itself with a suffix): the same user delivered again keeps its username.
 */
const usernameOnUpdate = (v: { current: SQL; candidate: SQL; fromClerk: SQL; forms: SQL }) =>
  sql`CASE WHEN ${v.fromClerk} AND ${v.current} !~ ${v.forms}
          THEN ${v.candidate} ELSE ${v.current} END`;

/** The assignments that update an existing user to a newer Clerk state. */
export const userAssignments = (v: {
  email: SQL;
  username: { candidate: SQL; fromClerk: SQL; forms: SQL };
  firstName: SQL;
  lastName: SQL;
  imageUrl: SQL;
}) => sql`email = ${v.email},
        username = ${usernameOnUpdate({ current: sql`${users.username}`, ...v.username })},
        first_name = ${v.firstName},
        last_name = ${v.lastName},
        avatar_url = ${v.imageUrl},
        updated_at = now()`;

/** The columns a provisioning insert fills, in the order its SELECT lists them. */
export const userInsertColumns = sql`${users} (id, email, username, first_name, last_name, avatar_url)`;

/** Exactly one workspace per user: inserted for each id `select` yields, unless the user has one. */
export const ensureWorkspaces = (select: SQL) =>
  sql`INSERT INTO ${workspaces} (user_id) ${select} ON CONFLICT (user_id) DO NOTHING`;
