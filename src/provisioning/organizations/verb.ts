import { type SQL, sql } from "drizzle-orm";
import type { ClerkOrganization } from "../../clerk/events.js";
import { BACKGROUND, type CallPolicy, REQUEST } from "../../db/call.js";
import { type BoundStatement, defineStatement, type RunStatement } from "../../db/query.js";
import { clerkOrganizationVersions, organizations } from "../../db/schema.js";
import type { Db } from "../../db/types.js";
import type { RowResult } from "../../outcome.js";
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
import { type Columns, inputRows } from "../rows-input.js";
import { notRecorded, recordDeliveries } from "../users/statement.js";
import type { DeliveryStamp } from "../users/verb.js";

/**
 * The verbs that write Clerk Organizations, for every caller: the webhook and `/v1/me` (a batch of one, with its
 * delivery), `npm run sync` (a page). Batch-shaped like users.ts: one statement (a removal, one transaction), the
 * deliveries recorded by the statement that applies them; a delivery id already recorded changes nothing.
 *
 * Ordering: `clerk_organization_versions` holds the newest `updated_at` applied per organization and its tombstone.
 * Every write of an organization or of its memberships takes that row's lock first (memberships.ts), so they are
 * serialised with each other and with the organization's deletion.
 */

export type { RowResult };

const organizationColumns = {
  id: "text",
  name: "text",
  slug: "text",
  image_url: "text",
  created_by: "text",
  created_at: "bigint",
  updated_at: "bigint",
  delivery_id: "text",
} as const satisfies Columns;

type Values = Record<keyof typeof organizationColumns | "eventType" | "receivedAt" | "reason", unknown>;

/** The insert of organization rows selected by `select` (`id, name, slug, image_url, created_by, created_at, updated_at`). */
export const insertOrganizations = (select: SQL) =>
  sql`INSERT INTO ${organizations} (id, name, slug, image_url, created_by, created_at, updated_at)
    SELECT o.id, o.name, o.slug, o.image_url, o.created_by, ${fromClerkTime(sql`o.created_at`)},
      ${fromClerkTime(sql`o.updated_at`)}
    FROM (${select}) o`;

/**
 * `organization.created/updated`: the version moves forward only (equal is not newer) and never once tombstoned;
 * the organizations whose version moved are upserted.
 */
const writeOrganizations = (input: SQL, v: Values) => sql`WITH input AS (${input}
  ), fresh AS (
    SELECT i.* FROM input i WHERE i.delivery_id IS NULL OR ${notRecorded}
  ), prior AS (
    SELECT i.id, p.clerk_updated_at, p.deleted_at FROM fresh i
    LEFT JOIN LATERAL (SELECT p.clerk_updated_at, p.deleted_at FROM ${clerkOrganizationVersions} p
      WHERE p.organization_id = i.id LIMIT 1) p ON true
  ), version AS (
    INSERT INTO ${clerkOrganizationVersions} (organization_id, clerk_updated_at)
    SELECT id, updated_at FROM fresh ORDER BY id
    ON CONFLICT (organization_id) DO UPDATE SET clerk_updated_at = excluded.clerk_updated_at
      WHERE ${clerkOrganizationVersions.deletedAt} IS NULL
        AND ${clerkOrganizationVersions.clerkUpdatedAt} < excluded.clerk_updated_at
    RETURNING organization_id
  ), upserted AS (
    ${insertOrganizations(sql`SELECT i.* FROM fresh i JOIN version ON version.organization_id = i.id ORDER BY i.id`)}
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, slug = excluded.slug, image_url = excluded.image_url,
      created_by = excluded.created_by, created_at = excluded.created_at, updated_at = excluded.updated_at
    RETURNING id, (xmax = 0) AS created
  ), results AS (
    SELECT i.id, i.delivery_id, CASE WHEN i.id IN (SELECT id FROM upserted WHERE created) THEN 'created'
        WHEN i.id IN (SELECT id FROM upserted) THEN 'updated'
        WHEN p.deleted_at IS NOT NULL THEN 'deleted'
        WHEN p.clerk_updated_at = i.updated_at THEN 'unchanged' ELSE 'stored_newer' END AS result
    FROM fresh i JOIN prior p USING (id)
  ), ${recordDeliveries(
    sql`SELECT delivery_id, NULL::text AS user_id, CASE WHEN result IN ('created', 'updated')
      THEN 'provisioned' ELSE 'stale' END AS outcome, NULL::text AS reason FROM results`,
    v,
  )}
  ${resultPerRow("id")}`;

const upsertStatement = (shape: "one" | "many") =>
  defineStatement<Values>((v) => writeOrganizations(inputRows(organizationColumns, v, shape), v));
const upserts = { one: upsertStatement("one"), many: upsertStatement("many") };

export function upsertOrganizationsStatement(
  rows: readonly ClerkOrganization[],
  stamp?: DeliveryStamp,
): BoundStatement {
  const values = newestPerKey(withDeliveries(rows, stamp), (r) => r.id).map(({ row, deliveryId }) => ({
    id: row.id,
    name: row.name,
    slug: row.slug,
    image_url: row.imageUrl,
    created_by: row.createdBy,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
    delivery_id: deliveryId,
  }));
  return bindBatch(organizationColumns, upserts, values, stampValues(stamp));
}

export interface Written<R> {
  id: string;
  result: R;
}

/**
 * Upserts organizations (`organization.created/updated`, `/v1/me`, a sync page) by the rules above, one
 * statement; inside a transaction when `run` is given.
 */
export function upsertOrganizations(
  target: Db | RunStatement,
  rows: readonly ClerkOrganization[],
  options: { stamp?: DeliveryStamp; policy?: CallPolicy } = {},
): Promise<Written<RowResult>[]> {
  if (rows.length === 0) return Promise.resolve([]);
  const policy = options.policy ?? (rows.length === 1 ? REQUEST : BACKGROUND);
  return runBatch(target, upsertOrganizationsStatement(rows, options.stamp), policy);
}

const tombstoneColumns = { id: "text", delivery_id: "text" } as const satisfies Columns;

const tombstones = tombstoneStatements(
  tombstoneColumns,
  sql`NULL::text`,
  sql`INSERT INTO ${clerkOrganizationVersions} (organization_id, clerk_updated_at, deleted_at)
      SELECT id, 0, now() FROM fresh ORDER BY id
      ON CONFLICT (organization_id) DO UPDATE SET deleted_at = now() WHERE ${clerkOrganizationVersions.deletedAt} IS NULL
      RETURNING organization_id AS id`,
);

/** Deleting an organization deletes its memberships (the foreign key cascades). */
const deleteStatement = defineStatement<{ ids: string[] }>(
  (v) => sql`DELETE FROM ${organizations} WHERE ${organizations.id} = ANY(${v.ids}::text[])`,
);

/**
 * `organization.deleted` (or pruned by sync), as one transaction: tombstoned first, taking the version rows' locks
 * that every write of the organization or its memberships takes; then deleted with its memberships. Result per id:
 * `deleted` (tombstoned now), `stale` (already), `duplicate`.
 */
export function removeOrganizations(
  target: Db | RunStatement,
  ids: readonly string[],
  options: { stamp?: DeliveryStamp & { reason?: string }; policy?: CallPolicy } = {},
): Promise<Written<RemoveResult>[]> {
  const seen = new Set<string>();
  const values = ids.flatMap((id, i) => {
    if (seen.has(id)) return [];
    seen.add(id);
    return [{ id, delivery_id: options.stamp?.deliveryIds[i] ?? null }];
  });
  const remove = (deleted: string[]) => deleteStatement({ ids: deleted });
  return removeBatch(target, { columns: tombstoneColumns, tombstones, values, remove }, options);
}
