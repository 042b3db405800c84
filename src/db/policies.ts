import { sql } from "drizzle-orm";
import { pgPolicy } from "drizzle-orm/pg-core";
import { authenticatedRole } from "drizzle-orm/supabase";

/** The Clerk user of the session (Supabase's Clerk third-party auth puts the session token in `auth.jwt()`). */
export const clerkUserId = sql`(select auth.jwt() ->> 'sub')`;

/**
 * The organizations the session's user is a member of (migrations/0005_organization_access.sql): a security definer
 * function, so that the memberships policy does not recurse into itself.
 */
export const myOrganizationIds = sql`private.my_organization_ids()`;

/** A session with tasks left (`sts = 'pending'`): Clerk's SDKs treat it as signed out; tokens without `sts` are active. */
const activeSession = sql`coalesce((select auth.jwt() ->> 'sts'), 'active') <> 'pending'`;

/**
 * `<table>_not_pending`: restrictive, so that it narrows every permissive policy of the table, present and future:
 * a pending session reads and writes nothing. Every table exposed to `authenticated` carries one.
 */
export const notPending = (table: string) =>
  pgPolicy(`${table}_not_pending`, {
    as: "restrictive",
    for: "all",
    to: authenticatedRole,
    using: activeSession,
    withCheck: activeSession,
  });
