import type { ClerkUser } from "../clerk/events.js";
import { chooseUsername } from "./username.js";

/**
 * The one mapping from a Clerk user (webhook, `/v1/me`, `sync`, `replay`) to what the database stores, or to the
 * reason it stores nothing. Every field of a parsed Clerk user is stored as it is unless this mapping decides it
 * (the id, the e-mail, the username, the version): a users column copied from Clerk is its field in the payload's
 * parser (clerk/events.ts), its column in the schema, and its line in the statement's `COPIED` (users.ts).
 */

/**
 * The `valid_email` check's rule, never looser: `[:space:]` follows the database's locale, and PGlite's also counts
 * U+0085 (NEL), which JS `\s` does not. (JS `\s` counts a few no-break spaces the database does not: those
 * addresses are skipped, never a 500.)
 */
export const USABLE_EMAIL = /^[^@\s\u0085]+@[^@\s\u0085]+\.[^@\s\u0085]+$/;

type Copied = Omit<ClerkUser, "id" | "primaryEmail" | "username" | "updatedAt">;

/** The fields of a row stored as they are, each in a users column of its own. */
export type CopiedField = keyof Copied | "email";

/** What one Clerk user becomes in the database (bound as parameters or as array elements). */
export interface UserRow extends Copied {
  userId: string;
  /** Clerk's `updated_at` (ms): the version of this state. */
  updatedAt: number;
  email: string;
  /** The preferred username; a numeric suffix is added in SQL when another user holds it. */
  username: string;
  usernameFromClerk: boolean;
  usernameForms: string;
}

export type UserMapping = { kind: "row"; row: UserRow } | { kind: "skip"; reason: "no_usable_email" };

export function toUserRow(user: ClerkUser): UserMapping {
  const { id, primaryEmail: email, username: clerkUsername, updatedAt, ...copied } = user;
  if (!email || !USABLE_EMAIL.test(email)) return { kind: "skip", reason: "no_usable_email" };
  const username = chooseUsername(clerkUsername, email, id);
  return {
    kind: "row",
    row: {
      ...copied,
      userId: id,
      updatedAt,
      email,
      username: username.base,
      usernameFromClerk: username.fromClerk,
      usernameForms: username.formsPattern,
    },
  };
}
