import { sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { type ClerkMembership, parseClerkMembership } from "../../clerk/events.js";
import { defineStatement } from "../../db/query.js";
import {
  clerkMembershipVersions,
  clerkOrganizationVersions,
  clerkUserVersions,
  organizationMemberships,
  organizations,
} from "../../db/schema.js";
import { type CopiedTable, insertCopied, writeCopied } from "../engine/copied-rows.js";
import { defineKind } from "../engine/define-kind.js";
import { columnTypeOf } from "../engine/rows-input.js";
import type { Input } from "../engine/spec.js";
import { ORGANIZATION_FIELDS, organizationRows } from "../organizations/kind.js";
import { classifyMemberships } from "./classify.js";

/**
 * Organization memberships. Why the rules hold under concurrency:
 *
 * - Every membership write takes, in this order, the lock of its organization's version row, then of its user's
 *   (`clerk_user_versions`), then of its membership id's (`clerk_membership_versions`). `organization.deleted` and
 *   `user.deleted` tombstone those same rows first, so a membership write either commits before the delete takes
 *   the lock (and the delete's second statement, with a fresh snapshot, removes it), or sees the tombstone after
 *   waiting (`ON CONFLICT … WHERE deleted_at IS NULL` re-checks the newest row version) and writes nothing.
 * - A membership id's version moves forward only and never once tombstoned: a late `.created`/`.updated` of a
 *   deleted membership id changes nothing.
 * - Per organization and user, the stored row's `updated_at` (Clerk's) orders facts: the upsert on
 *   `unique_organization_member` replaces the row (its id too: a re-join) only when the incoming one is newer.
 *   `ON CONFLICT DO UPDATE … WHERE` judges the newest committed row, not the statement's snapshot.
 * - A `.deleted` removes its membership id only: the row of a newer membership of the same person, which carries
 *   the newer id, is not touched. It is never judged stale by `updated_at` (Clerk's examples carry an older one
 *   than the preceding update).
 */

type MembershipField = "role";
const COPIED = { role: organizationMemberships.role } as const satisfies Record<MembershipField, PgColumn>;

const membershipRows: CopiedTable = {
  table: organizationMemberships,
  keys: {
    id: organizationMemberships.id,
    organization_id: organizationMemberships.organizationId,
    user_id: organizationMemberships.userId,
  },
  copied: COPIED,
};

/** The organization embedded in the membership, as `org_<column>` inputs: inserted when not stored. */
const embeddedOrganization: Record<string, Input<ClerkMembership>> = {
  org_created_at: { type: "bigint", of: (row) => row.organization.createdAt },
  org_updated_at: { type: "bigint", of: (row) => row.organization.updatedAt },
};
for (const [field, column] of ORGANIZATION_FIELDS) {
  embeddedOrganization[`org_${column.name}`] = { type: columnTypeOf(column), of: (row) => row.organization[field] };
}

/**
 * The organization's lock (and its row, when not stored: never overwriting a stored one), then the user's; taken for
 * the rows that may write (newer) and, for the organization, when it is not stored yet (a late membership event
 * still brings its organization), so that an unchanged re-run reads and compares and rewrites no version row.
 */
const takeLocks = sql`org_lock AS (
    INSERT INTO ${clerkOrganizationVersions} (organization_id, clerk_updated_at)
    SELECT DISTINCT ON (organization_id) organization_id, org_updated_at FROM input i
    WHERE i.newer OR (SELECT 1 FROM ${organizations} o WHERE o.id = i.organization_id LIMIT 1) IS NULL
    ORDER BY organization_id
    ON CONFLICT (organization_id) DO UPDATE SET organization_id = excluded.organization_id
      WHERE ${clerkOrganizationVersions.deletedAt} IS NULL
    RETURNING organization_id
  ), org_row AS (
    ${insertCopied(
      organizationRows,
      sql`SELECT DISTINCT ON (i.organization_id) i.organization_id AS org_id, i.*
      FROM input i JOIN org_lock USING (organization_id) ORDER BY i.organization_id`,
      "org_",
    )}
    ON CONFLICT (id) DO NOTHING
  ), user_lock AS (
    INSERT INTO ${clerkUserVersions} (user_id, clerk_updated_at)
    SELECT DISTINCT i.user_id, 0::bigint FROM input i JOIN org_lock USING (organization_id) WHERE i.newer
    ORDER BY i.user_id
    ON CONFLICT (user_id) DO UPDATE SET user_id = excluded.user_id WHERE ${clerkUserVersions.deletedAt} IS NULL
    RETURNING user_id
  ), `;

const lockedBoth = sql`i.organization_id IN (SELECT organization_id FROM org_lock) AND i.user_id IN (SELECT user_id FROM user_lock)`;

/** A membership to remove: its id, and whose it is (kept with the tombstone). */
export interface MembershipKey {
  id: string;
  organizationId: string;
  userId: string;
  updatedAt: number;
}

const deleteMemberships = defineStatement<{ ids: string[] }>(
  (v) => sql`DELETE FROM ${organizationMemberships} WHERE ${organizationMemberships.id} = ANY(${v.ids}::text[])`,
);

export const membershipKind = defineKind<ClerkMembership, MembershipField, MembershipKey>({
  name: "memberships",
  noun: "membership",
  fromClerk: (raw) => ({ row: parseClerkMembership(raw) }),
  classify: classifyMemberships,
  versions: {
    table: clerkMembershipVersions,
    key: clerkMembershipVersions.membershipId,
    clerkUpdatedAt: clerkMembershipVersions.clerkUpdatedAt,
    deletedAt: clerkMembershipVersions.deletedAt,
    carries: { organization_id: clerkMembershipVersions.organizationId, user_id: clerkMembershipVersions.userId },
  },
  copied: COPIED,
  copiedOf: (row, field) => row[field],
  inputs: {
    organization_id: { type: "text", of: (row) => row.organizationId },
    user_id: { type: "text", of: (row) => row.userId },
    created_at: { type: "bigint", of: (row) => row.createdAt },
    ...embeddedOrganization,
  },
  idOf: (row) => row.id,
  updatedAtOf: (row) => row.updatedAt,
  distinctBy: [(row) => row.id, (row) => `${row.organizationId}\u0000${row.userId}`],
  rules: {
    before: takeLocks,
    versionGuard: lockedBoth,
    writes: (_, shape) =>
      writeCopied(membershipRows, shape, {
        conflict: sql`ON CONSTRAINT unique_organization_member`,
        order: sql`i.organization_id, i.user_id`,
        also: sql`id = excluded.id`,
        guard: sql`${organizationMemberships.updatedAt} < excluded.updated_at`,
      }),
    gone: sql`i.newer AND NOT (${lockedBoth})`,
    deliveryUser: sql`i.user_id`,
  },
  removal: {
    columns: { organization_id: "text", user_id: "text", updated_at: "bigint" },
    values: (key) => ({
      id: key.id,
      organization_id: key.organizationId,
      user_id: key.userId,
      updated_at: key.updatedAt,
    }),
    deliveryUser: sql`f.user_id`,
    remove: (ids) => deleteMemberships({ ids }),
  },
});
