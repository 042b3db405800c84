import { sql } from "drizzle-orm";
import type { ClerkMembership } from "../clerk/events.js";
import { type BoundStatement, defineStatement, runStatement, runTransaction } from "../db/query.js";
import {
  clerkMembershipVersions,
  clerkOrganizationVersions,
  clerkUserVersions,
  organizationMemberships,
} from "../db/schema.js";
import type { Db } from "../db/types.js";
import {
  type BatchResult,
  batchResult,
  type DeliveryRecord,
  type DeliveryValues,
  deliveryValues,
  fromClerkTime,
  insertOrganizations,
  newestById,
  notYetDelivered,
  type OrganizationArrays,
  organizationArrays,
  type Placeholders,
  type RowOutcome,
  recordDelivery,
} from "./organizations.js";

/**
 * Organization memberships, batch-shaped like organizations.ts. Why the rules hold under concurrency:
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
 * - A `.deleted` removes its membership id only (`DELETE … WHERE id = …`): the row of a newer membership of the same
 *   person, which carries the newer id, is not touched.
 */

interface MembershipArrays extends OrganizationArrays {
  ids: string[];
  userIds: string[];
  roles: string[];
  createdAts: number[];
  updatedAts: number[];
}

/** Membership i's organization is `orgIds[i]` (its embedded snapshot). */
function membershipArrays(rows: readonly ClerkMembership[]): MembershipArrays {
  return {
    ...organizationArrays(rows.map((r) => r.organization)),
    ids: rows.map((r) => r.id),
    userIds: rows.map((r) => r.userId),
    roles: rows.map((r) => r.role),
    createdAts: rows.map((r) => r.createdAt),
    updatedAts: rows.map((r) => r.updatedAt),
  };
}

type UpsertValues = MembershipArrays & DeliveryValues;

/** Ends in `upserted (id, created)` and `outcomes (id, outcome)`. */
const writeMemberships = (v: Placeholders<UpsertValues>) => sql`input AS (
    SELECT i.* FROM unnest(${v.ids}::text[], ${v.orgIds}::text[], ${v.userIds}::text[], ${v.roles}::text[],
        ${v.createdAts}::bigint[], ${v.updatedAts}::bigint[], ${v.orgNames}::text[], ${v.orgSlugs}::text[],
        ${v.orgImageUrls}::text[], ${v.orgCreatedBys}::text[], ${v.orgCreatedAts}::bigint[], ${v.orgUpdatedAts}::bigint[])
      AS i(id, organization_id, user_id, role, created_at, updated_at, org_name, org_slug, org_image_url,
        org_created_by, org_created_at, org_updated_at)
    WHERE ${notYetDelivered(v.deliveryId)}
  ), org_lock AS (
    INSERT INTO ${clerkOrganizationVersions} (organization_id, clerk_updated_at)
    SELECT DISTINCT ON (organization_id) organization_id, org_updated_at FROM input ORDER BY organization_id
    ON CONFLICT (organization_id) DO UPDATE SET organization_id = excluded.organization_id
      WHERE ${clerkOrganizationVersions.deletedAt} IS NULL
    RETURNING organization_id
  ), org_row AS (
    ${insertOrganizations(sql`SELECT DISTINCT ON (i.organization_id) i.organization_id AS id, i.org_name AS name,
        i.org_slug AS slug, i.org_image_url AS image_url, i.org_created_by AS created_by,
        i.org_created_at AS created_at, i.org_updated_at AS updated_at
      FROM input i JOIN org_lock USING (organization_id) ORDER BY i.organization_id`)}
    ON CONFLICT (id) DO NOTHING
  ), user_lock AS (
    INSERT INTO ${clerkUserVersions} (user_id, clerk_updated_at)
    SELECT DISTINCT i.user_id, 0::bigint FROM input i JOIN org_lock USING (organization_id) ORDER BY i.user_id
    ON CONFLICT (user_id) DO UPDATE SET user_id = excluded.user_id WHERE ${clerkUserVersions.deletedAt} IS NULL
    RETURNING user_id
  ), version AS (
    INSERT INTO ${clerkMembershipVersions} (membership_id, organization_id, user_id, clerk_updated_at)
    SELECT i.id, i.organization_id, i.user_id, i.updated_at FROM input i
    WHERE i.organization_id IN (SELECT organization_id FROM org_lock) AND i.user_id IN (SELECT user_id FROM user_lock)
    ORDER BY i.id
    ON CONFLICT (membership_id) DO UPDATE SET clerk_updated_at = excluded.clerk_updated_at
      WHERE ${clerkMembershipVersions.deletedAt} IS NULL
        AND ${clerkMembershipVersions.clerkUpdatedAt} < excluded.clerk_updated_at
    RETURNING membership_id
  ), upserted AS (
    INSERT INTO ${organizationMemberships} (id, organization_id, user_id, role, created_at, updated_at)
    SELECT i.id, i.organization_id, i.user_id, i.role, ${fromClerkTime(sql`i.created_at`)},
      ${fromClerkTime(sql`i.updated_at`)}
    FROM input i JOIN version ON version.membership_id = i.id
    ORDER BY i.organization_id, i.user_id
    ON CONFLICT ON CONSTRAINT unique_organization_member DO UPDATE SET id = excluded.id, role = excluded.role,
      created_at = excluded.created_at, updated_at = excluded.updated_at
      WHERE ${organizationMemberships.updatedAt} < excluded.updated_at
    RETURNING id, (xmax = 0) AS created
  ), outcomes AS (
    SELECT i.id, CASE WHEN u.id IS NOT NULL THEN CASE WHEN u.created THEN 'created' ELSE 'updated' END
        WHEN p.deleted_at IS NOT NULL OR i.organization_id NOT IN (SELECT organization_id FROM org_lock)
          OR i.user_id NOT IN (SELECT user_id FROM user_lock) THEN 'skipped:deleted'
        WHEN p.clerk_updated_at = i.updated_at THEN 'unchanged' ELSE 'skipped:stored_newer' END AS outcome
    FROM input i
    LEFT JOIN LATERAL (SELECT p.clerk_updated_at, p.deleted_at FROM ${clerkMembershipVersions} p
      WHERE p.membership_id = i.id LIMIT 1) p ON true
    LEFT JOIN upserted u USING (id)
  )`;

const upsertStatement = defineStatement<UpsertValues>(
  (v) => sql`WITH ${writeMemberships(v)}, recorded AS (${recordDelivery(
    v,
    sql`CASE WHEN EXISTS (SELECT 1 FROM upserted) THEN 'provisioned' ELSE 'stale' END`,
  )})
  SELECT o.id, o.outcome, (SELECT outcome FROM recorded) AS delivery FROM outcomes o
  UNION ALL SELECT NULL, NULL, outcome FROM recorded WHERE NOT EXISTS (SELECT 1 FROM outcomes)`,
);

/** One row per organization and user (the newest), and per membership id: one statement may touch a row once. */
const distinctRows = (rows: readonly ClerkMembership[]) =>
  newestById(
    newestById(rows, (r) => r.id),
    (r) => `${r.organizationId}\u0000${r.userId}`,
  );

export function upsertMembershipsStatement(
  rows: readonly ClerkMembership[],
  delivery?: DeliveryRecord,
): BoundStatement {
  return upsertStatement({ ...membershipArrays(distinctRows(rows)), ...deliveryValues(delivery) });
}

/**
 * Upserts memberships with their roles (`organizationMembership.created/updated`, a sync page); the organization of
 * each is inserted from its embedded snapshot when not stored (never overwriting a stored one).
 */
export async function upsertMemberships(
  db: Db,
  rows: readonly ClerkMembership[],
  delivery?: DeliveryRecord,
): Promise<BatchResult> {
  const result = batchResult(await runStatement(db, upsertMembershipsStatement(rows, delivery)));
  return { outcomes: result.outcomes, delivery: delivery ? result.delivery : undefined };
}

/** A membership to remove: its id, and whose it is (kept with the tombstone). */
export interface MembershipKey {
  id: string;
  organizationId: string;
  userId: string;
  updatedAt: number;
}

const tombstoneStatement = defineStatement<
  { ids: string[]; orgIds: string[]; userIds: string[]; updatedAts: number[] } & DeliveryValues
>(
  (v) => sql`WITH version AS (
    INSERT INTO ${clerkMembershipVersions} (membership_id, organization_id, user_id, clerk_updated_at, deleted_at)
    SELECT t.id, t.organization_id, t.user_id, t.updated_at, now()
    FROM unnest(${v.ids}::text[], ${v.orgIds}::text[], ${v.userIds}::text[], ${v.updatedAts}::bigint[])
      AS t(id, organization_id, user_id, updated_at)
    WHERE ${notYetDelivered(v.deliveryId)} ORDER BY t.id
    ON CONFLICT (membership_id) DO UPDATE SET deleted_at = now() WHERE ${clerkMembershipVersions.deletedAt} IS NULL
    RETURNING membership_id
  ), recorded AS (${recordDelivery(v, sql`CASE WHEN EXISTS (SELECT 1 FROM version) THEN 'deleted' ELSE 'stale' END`)})
  SELECT membership_id AS id, 'deleted' AS outcome, (SELECT outcome FROM recorded) AS delivery FROM version
  UNION ALL SELECT NULL, NULL, outcome FROM recorded WHERE NOT EXISTS (SELECT 1 FROM version)`,
);

const deleteStatement = defineStatement<{ ids: string[] }>(
  (v) => sql`DELETE FROM ${organizationMemberships} WHERE ${organizationMemberships.id} = ANY(${v.ids}::text[])`,
);

/**
 * `organizationMembership.deleted` (or pruned by sync), by membership id, never judged stale by `updated_at` (Clerk's
 * examples carry an older one than the preceding update). Tombstoned first (taking the id's lock, which every write
 * of that id takes), then deleted by a second statement with a fresh snapshot. Outcome per id: `deleted`.
 */
export async function removeMemberships(
  db: Db,
  keys: readonly MembershipKey[],
  delivery?: DeliveryRecord,
): Promise<BatchResult> {
  const distinct = newestById(keys, (k) => k.id);
  const result = await runTransaction(db, async (run) => {
    const rows = await run<{ id: string | null; outcome: RowOutcome | null; delivery: string | null }>(
      tombstoneStatement({
        ids: distinct.map((k) => k.id),
        orgIds: distinct.map((k) => k.organizationId),
        userIds: distinct.map((k) => k.userId),
        updatedAts: distinct.map((k) => k.updatedAt),
        ...deliveryValues(delivery),
      }),
    );
    const read = batchResult(rows);
    if (read.outcomes.size > 0) await run(deleteStatement({ ids: [...read.outcomes.keys()] }));
    return read;
  });
  return { outcomes: result.outcomes, delivery: delivery ? result.delivery : undefined };
}
