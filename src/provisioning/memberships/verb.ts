import { type SQL, sql } from "drizzle-orm";
import type { ClerkMembership } from "../../clerk/events.js";
import { BACKGROUND, type CallPolicy, REQUEST } from "../../db/call.js";
import { type BoundStatement, defineStatement, type RunStatement } from "../../db/query.js";
import {
  clerkMembershipVersions,
  clerkOrganizationVersions,
  clerkUserVersions,
  organizationMemberships,
} from "../../db/schema.js";
import type { Db } from "../../db/types.js";
import {
  bindBatch,
  fromClerkTime,
  newestPerKey,
  type RemoveResult,
  removeBatch,
  resultPerRow,
  runBatch,
  stampValues,
  tombstoneStatements,
  withDeliveries,
} from "../batch.js";
import { insertOrganizations, type RowResult, type Written } from "../organizations/verb.js";
import { type Columns, inputRows } from "../rows-input.js";
import { notRecorded, recordDeliveries } from "../users/statement.js";
import type { DeliveryStamp } from "../users/verb.js";

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

/** A membership and its organization's embedded snapshot (`org_…`). */
const membershipColumns = {
  id: "text",
  organization_id: "text",
  user_id: "text",
  role: "text",
  created_at: "bigint",
  updated_at: "bigint",
  org_name: "text",
  org_slug: "text",
  org_image_url: "text",
  org_created_by: "text",
  org_created_at: "bigint",
  org_updated_at: "bigint",
  delivery_id: "text",
} as const satisfies Columns;

type Values = Record<keyof typeof membershipColumns | "eventType" | "receivedAt" | "reason", unknown>;

const writeMemberships = (input: SQL, v: Values) => sql`WITH input AS (${input}
  ), fresh AS (
    SELECT i.* FROM input i WHERE i.delivery_id IS NULL OR ${notRecorded}
  ), org_lock AS (
    INSERT INTO ${clerkOrganizationVersions} (organization_id, clerk_updated_at)
    SELECT DISTINCT ON (organization_id) organization_id, org_updated_at FROM fresh ORDER BY organization_id
    ON CONFLICT (organization_id) DO UPDATE SET organization_id = excluded.organization_id
      WHERE ${clerkOrganizationVersions.deletedAt} IS NULL
    RETURNING organization_id
  ), org_row AS (
    ${insertOrganizations(sql`SELECT DISTINCT ON (i.organization_id) i.organization_id AS id, i.org_name AS name,
        i.org_slug AS slug, i.org_image_url AS image_url, i.org_created_by AS created_by,
        i.org_created_at AS created_at, i.org_updated_at AS updated_at
      FROM fresh i JOIN org_lock USING (organization_id) ORDER BY i.organization_id`)}
    ON CONFLICT (id) DO NOTHING
  ), user_lock AS (
    INSERT INTO ${clerkUserVersions} (user_id, clerk_updated_at)
    SELECT DISTINCT i.user_id, 0::bigint FROM fresh i JOIN org_lock USING (organization_id) ORDER BY i.user_id
    ON CONFLICT (user_id) DO UPDATE SET user_id = excluded.user_id WHERE ${clerkUserVersions.deletedAt} IS NULL
    RETURNING user_id
  ), version AS (
    INSERT INTO ${clerkMembershipVersions} (membership_id, organization_id, user_id, clerk_updated_at)
    SELECT i.id, i.organization_id, i.user_id, i.updated_at FROM fresh i
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
    FROM fresh i JOIN version ON version.membership_id = i.id
    ORDER BY i.organization_id, i.user_id
    ON CONFLICT ON CONSTRAINT unique_organization_member DO UPDATE SET id = excluded.id, role = excluded.role,
      created_at = excluded.created_at, updated_at = excluded.updated_at
      WHERE ${organizationMemberships.updatedAt} < excluded.updated_at
    RETURNING id, (xmax = 0) AS created
  ), results AS (
    SELECT i.id, i.delivery_id, i.user_id, CASE
        WHEN i.id IN (SELECT id FROM upserted WHERE created) THEN 'created'
        WHEN i.id IN (SELECT id FROM upserted) THEN 'updated'
        WHEN p.deleted_at IS NOT NULL OR i.organization_id NOT IN (SELECT organization_id FROM org_lock)
          OR i.user_id NOT IN (SELECT user_id FROM user_lock) THEN 'deleted'
        WHEN p.clerk_updated_at = i.updated_at THEN 'unchanged' ELSE 'stored_newer' END AS result
    FROM fresh i
    LEFT JOIN LATERAL (SELECT p.clerk_updated_at, p.deleted_at FROM ${clerkMembershipVersions} p
      WHERE p.membership_id = i.id LIMIT 1) p ON true
  ), ${recordDeliveries(
    sql`SELECT delivery_id, user_id, CASE WHEN result IN ('created', 'updated')
      THEN 'provisioned' ELSE 'stale' END AS outcome, NULL::text AS reason FROM results`,
    v,
  )}
  ${resultPerRow("id")}`;

const upsertStatement = (shape: "one" | "many") =>
  defineStatement<Values>((v) => writeMemberships(inputRows(membershipColumns, v, shape), v));
const upserts = { one: upsertStatement("one"), many: upsertStatement("many") };

/** One row per organization and user (the newest), and per membership id: one statement may touch a row once. */
const distinctRows = (rows: readonly ClerkMembership[], stamp: DeliveryStamp | undefined) =>
  newestPerKey(
    newestPerKey(withDeliveries(rows, stamp), (r) => r.id),
    (r) => `${r.organizationId}\u0000${r.userId}`,
  );

export function upsertMembershipsStatement(rows: readonly ClerkMembership[], stamp?: DeliveryStamp): BoundStatement {
  const values = distinctRows(rows, stamp).map(({ row, deliveryId }) => ({
    id: row.id,
    organization_id: row.organizationId,
    user_id: row.userId,
    role: row.role,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
    org_name: row.organization.name,
    org_slug: row.organization.slug,
    org_image_url: row.organization.imageUrl,
    org_created_by: row.organization.createdBy,
    org_created_at: row.organization.createdAt,
    org_updated_at: row.organization.updatedAt,
    delivery_id: deliveryId,
  }));
  return bindBatch(membershipColumns, upserts, values, stampValues(stamp));
}

/**
 * Upserts memberships with their roles (`organizationMembership.created/updated`, `/v1/me`, a sync page), one
 * statement; the organization of each is inserted from its embedded snapshot when not stored (never overwriting a
 * stored one). Inside a transaction when `run` is given.
 */
export function upsertMemberships(
  target: Db | RunStatement,
  rows: readonly ClerkMembership[],
  options: { stamp?: DeliveryStamp; policy?: CallPolicy } = {},
): Promise<Written<RowResult>[]> {
  if (rows.length === 0) return Promise.resolve([]);
  const policy = options.policy ?? (rows.length === 1 ? REQUEST : BACKGROUND);
  return runBatch(target, upsertMembershipsStatement(rows, options.stamp), policy);
}

/** A membership to remove: its id, and whose it is (kept with the tombstone). */
export interface MembershipKey {
  id: string;
  organizationId: string;
  userId: string;
  updatedAt: number;
}

const tombstoneColumns = {
  id: "text",
  organization_id: "text",
  user_id: "text",
  updated_at: "bigint",
  delivery_id: "text",
} as const satisfies Columns;

const tombstones = tombstoneStatements(
  tombstoneColumns,
  sql`f.user_id`,
  sql`INSERT INTO ${clerkMembershipVersions} (membership_id, organization_id, user_id, clerk_updated_at, deleted_at)
      SELECT id, organization_id, user_id, updated_at, now() FROM fresh ORDER BY id
      ON CONFLICT (membership_id) DO UPDATE SET deleted_at = now() WHERE ${clerkMembershipVersions.deletedAt} IS NULL
      RETURNING membership_id AS id`,
);

const deleteStatement = defineStatement<{ ids: string[] }>(
  (v) => sql`DELETE FROM ${organizationMemberships} WHERE ${organizationMemberships.id} = ANY(${v.ids}::text[])`,
);

/**
 * `organizationMembership.deleted` (or pruned by sync), by membership id, never judged stale by `updated_at` (Clerk's
 * examples carry an older one than the preceding update). Tombstoned first (taking the id's lock, which every write
 * of that id takes), then deleted by a second statement with a fresh snapshot, in one transaction.
 */
export function removeMemberships(
  target: Db | RunStatement,
  keys: readonly MembershipKey[],
  options: { stamp?: DeliveryStamp & { reason?: string }; policy?: CallPolicy } = {},
): Promise<Written<RemoveResult>[]> {
  const values = newestPerKey(withDeliveries(keys, options.stamp), (k) => k.id).map(({ row, deliveryId }) => ({
    id: row.id,
    organization_id: row.organizationId,
    user_id: row.userId,
    updated_at: row.updatedAt,
    delivery_id: deliveryId,
  }));
  const remove = (deleted: string[]) => deleteStatement({ ids: deleted });
  return removeBatch(target, { columns: tombstoneColumns, tombstones, values, remove }, options);
}
