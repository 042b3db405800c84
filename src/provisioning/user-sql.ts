import { type SQL, sql } from "drizzle-orm";
import { defineStatement } from "../db/query.js";
import { clerkDeliveries, clerkUserVersions, organizationMemberships, users, workspaces } from "../db/schema.js";

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
