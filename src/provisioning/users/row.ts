import type { ClerkUser, ClerkUserProfile } from "../../clerk/events.js";
import { chooseUsername } from "./username.js";

/**
 * The one mapping from a Clerk user (webhook, `/v1/me`, `sync`, `replay`) to what the database stores, or to the
 * reason it stores nothing. The user's `profile` is stored as Clerk sends it: a users column copied from Clerk is its
 * field in the payload's parser (clerk/events.ts), its column in the schema, and its line in users/kind.ts's `COPIED`. */

/**
 * The `valid_email` check's rule, never looser: `[:space:]` follows the database's locale, and PGlite's also counts
 * U+0085 (NEL), which JS `\s` does not. (JS `\s` counts a few no-break spaces the database does not: those
 * addresses are skipped, never a 500.)
 */
export const USABLE_EMAIL = /^[^@\s\u0085]+@[^@\s\u0085]+\.[^@\s\u0085]+$/;

/** The fields of a row stored as they are, each in a users column of its own. */
export type CopiedField = keyof ClerkUserProfile | "email";

/** What one Clerk user becomes in the database (bound as parameters or as array elements). */
export interface UserRow {
  userId: string;
  /** Clerk's `updated_at` (ms): the version of this state. */
  updatedAt: number;
  email: string;
  /** The preferred username; a numeric suffix is added in SQL when another user holds it. */
  username: string;
  usernameFromClerk: boolean;
  usernameForms: string;
  profile: ClerkUserProfile;
}

export type UserMapping = { kind: "row"; row: UserRow } | { kind: "skip"; reason: "no_usable_email" };

export function toUserRow(user: ClerkUser): UserMapping {
  const email = user.primaryEmail;
  if (!email || !USABLE_EMAIL.test(email)) return { kind: "skip", reason: "no_usable_email" };
  const username = chooseUsername(user.username, email, user.id);
  return {
    kind: "row",
    row: {
      userId: user.id,
      updatedAt: user.updatedAt,
      email,
      profile: user.profile,
      username: username.base,
      usernameFromClerk: username.fromClerk,
      usernameForms: username.formsPattern,
    },
  };
}
