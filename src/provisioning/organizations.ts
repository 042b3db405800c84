import { type Placeholder, type SQL, sql } from "drizzle-orm";
import type { ClerkOrganization } from "../clerk/events.js";
import { type BoundStatement, defineStatement, runStatement, runTransaction } from "../db/query.js";
import { clerkDeliveries, clerkOrganizationVersions, organizations } from "../db/schema.js";
import type { Db } from "../db/types.js";

/**
 * Clerk Organizations, batch-shaped: each verb takes arrays (`unnest`ed into rows), so a webhook applies a batch of
 * one and `npm run sync` a page. With a `delivery`, the delivery's record is written by the same statement (or
 * transaction) as its effect, and a delivery id already recorded changes nothing.
 *
 * Ordering: `clerk_organization_versions` holds the newest `updated_at` applied per organization and its tombstone.
 * Every write of an organization or of its memberships takes that row's lock first (memberships.ts), so they are
 * serialised with each other and with the organization's deletion.
 */

/** What one listed row comes to (sync counts). */
export type RowOutcome = "created" | "updated" | "unchanged" | "skipped:stored_newer" | "skipped:deleted" | "deleted";

/** The record of one delivery, written with its effect. */
export interface DeliveryRecord {
  deliveryId: string;
  eventType: string;
  receivedAt: Date;
  /** The Clerk user the delivery is about, if any (`clerk_deliveries.clerk_user_id`). */
  userId?: string | null;
}

export type Placeholders<T> = { readonly [K in keyof T & string]: Placeholder<K> };

/** Clerk's ms timestamps as timestamptz, exactly (no float rounding). */
export const fromClerkTime = (ms: SQL) => sql`('epoch'::timestamptz + ${ms} * interval '1 millisecond')`;

/** Rows are read only if the delivery is not recorded yet (a null id: not a delivery, always applied). */
export const notYetDelivered = (deliveryId: Placeholder) =>
  sql`NOT EXISTS (SELECT 1 FROM ${clerkDeliveries} WHERE ${clerkDeliveries.deliveryId} = ${deliveryId}::text)`;

export interface DeliveryValues {
  deliveryId: string | null;
  eventType: string;
  deliveryUserId: string | null;
  receivedAt: string;
}

export const deliveryValues = (delivery: DeliveryRecord | undefined): DeliveryValues => ({
  deliveryId: delivery?.deliveryId ?? null,
  eventType: delivery?.eventType ?? "",
  deliveryUserId: delivery?.userId ?? null,
  receivedAt: (delivery?.receivedAt ?? new Date()).toISOString(),
});

/** The delivery's row, its outcome `outcome` (SQL); returned unless the id was recorded meanwhile (a duplicate). */
export const recordDelivery = (v: Placeholders<DeliveryValues>, outcome: SQL) => sql`
  INSERT INTO ${clerkDeliveries} (${sql.identifier(clerkDeliveries.deliveryId.name)}, event_type, clerk_user_id, outcome, received_at)
  SELECT ${v.deliveryId}::text, ${v.eventType}::text, ${v.deliveryUserId}::text, ${outcome}, ${v.receivedAt}::timestamptz
  WHERE ${v.deliveryId}::text IS NOT NULL
  ON CONFLICT (${sql.identifier(clerkDeliveries.deliveryId.name)}) DO NOTHING
  RETURNING outcome`;

/** The organizations as arrays, one parameter each. */
export interface OrganizationArrays {
  orgIds: string[];
  orgNames: string[];
  orgSlugs: (string | null)[];
  orgImageUrls: (string | null)[];
  orgCreatedBys: (string | null)[];
  orgCreatedAts: number[];
  orgUpdatedAts: number[];
}

export const organizationArrays = (rows: readonly ClerkOrganization[]): OrganizationArrays => ({
  orgIds: rows.map((r) => r.id),
  orgNames: rows.map((r) => r.name),
  orgSlugs: rows.map((r) => r.slug),
  orgImageUrls: rows.map((r) => r.imageUrl),
  orgCreatedBys: rows.map((r) => r.createdBy),
  orgCreatedAts: rows.map((r) => r.createdAt),
  orgUpdatedAts: rows.map((r) => r.updatedAt),
});

/** `unnest` of the organization arrays as `(id, name, slug, image_url, created_by, created_at, updated_at)`. */
export const unnestOrganizations = (v: Placeholders<OrganizationArrays>) =>
  sql`unnest(${v.orgIds}::text[], ${v.orgNames}::text[], ${v.orgSlugs}::text[], ${v.orgImageUrls}::text[],
    ${v.orgCreatedBys}::text[], ${v.orgCreatedAts}::bigint[], ${v.orgUpdatedAts}::bigint[])
    AS o(id, name, slug, image_url, created_by, created_at, updated_at)`;

/** The insert of organization rows selected by `select` (columns as `unnestOrganizations` names them). */
export const insertOrganizations = (select: SQL) =>
  sql`INSERT INTO ${organizations} (id, name, slug, image_url, created_by, created_at, updated_at)
    SELECT o.id, o.name, o.slug, o.image_url, o.created_by, ${fromClerkTime(sql`o.created_at`)},
      ${fromClerkTime(sql`o.updated_at`)}
    FROM (${select}) o`;

/**
 * `organization.created/updated`: the version moves forward only (equal is not newer) and never once tombstoned;
 * the organizations whose version moved are upserted. Ends in `outcomes (id, outcome)`.
 */
const writeOrganizations = (v: Placeholders<OrganizationArrays & DeliveryValues>) => sql`input AS (
    SELECT o.* FROM ${unnestOrganizations(v)} WHERE ${notYetDelivered(v.deliveryId)}
  ), prior AS (
    SELECT i.id, p.clerk_updated_at, p.deleted_at FROM input i
    LEFT JOIN LATERAL (SELECT p.clerk_updated_at, p.deleted_at FROM ${clerkOrganizationVersions} p
      WHERE p.organization_id = i.id LIMIT 1) p ON true
  ), version AS (
    INSERT INTO ${clerkOrganizationVersions} (organization_id, clerk_updated_at)
    SELECT id, updated_at FROM input ORDER BY id
    ON CONFLICT (organization_id) DO UPDATE SET clerk_updated_at = excluded.clerk_updated_at
      WHERE ${clerkOrganizationVersions.deletedAt} IS NULL
        AND ${clerkOrganizationVersions.clerkUpdatedAt} < excluded.clerk_updated_at
    RETURNING organization_id
  ), upserted AS (
    ${insertOrganizations(sql`SELECT i.* FROM input i JOIN version ON version.organization_id = i.id`)}
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, slug = excluded.slug, image_url = excluded.image_url,
      created_by = excluded.created_by, created_at = excluded.created_at, updated_at = excluded.updated_at
    RETURNING id, (xmax = 0) AS created
  ), outcomes AS (
    SELECT i.id, CASE WHEN u.id IS NOT NULL THEN CASE WHEN u.created THEN 'created' ELSE 'updated' END
        WHEN p.deleted_at IS NOT NULL THEN 'skipped:deleted'
        WHEN p.clerk_updated_at = i.updated_at THEN 'unchanged' ELSE 'skipped:stored_newer' END AS outcome
    FROM input i JOIN prior p USING (id) LEFT JOIN upserted u USING (id)
  )`;

type UpsertValues = OrganizationArrays & DeliveryValues;

const upsertStatement = defineStatement<UpsertValues>(
  (v) => sql`WITH ${writeOrganizations(v)}, recorded AS (${recordDelivery(
    v,
    sql`CASE WHEN EXISTS (SELECT 1 FROM upserted) THEN 'provisioned' ELSE 'stale' END`,
  )})
  SELECT o.id, o.outcome, (SELECT outcome FROM recorded) AS delivery FROM outcomes o
  UNION ALL SELECT NULL, NULL, outcome FROM recorded WHERE NOT EXISTS (SELECT 1 FROM outcomes)`,
);

export interface BatchResult {
  /** Per row id (rows of a delivery already recorded are absent). */
  outcomes: Map<string, RowOutcome>;
  /** The delivery's outcome: `duplicate` when its id was already recorded; undefined without a delivery. */
  delivery: string | undefined;
}

/** Reads a verb's rows: `(id, outcome, delivery)`. */
export function batchResult(rows: { id: string | null; outcome: RowOutcome | null; delivery: string | null }[]) {
  const outcomes = new Map<string, RowOutcome>();
  let delivery: string | null = null;
  for (const row of rows) {
    if (row.id !== null && row.outcome !== null) outcomes.set(row.id, row.outcome);
    delivery ??= row.delivery;
  }
  return { outcomes, delivery: delivery ?? "duplicate" };
}

/** Distinct by id, the newest `updatedAt` kept (a listing can return a row twice when offsets shift). */
export function newestById<T extends { updatedAt: number }>(rows: readonly T[], key: (row: T) => string): T[] {
  const byKey = new Map<string, T>();
  for (const row of rows) {
    const held = byKey.get(key(row));
    if (!held || held.updatedAt < row.updatedAt) byKey.set(key(row), row);
  }
  return [...byKey.values()];
}

export function upsertOrganizationsStatement(
  rows: readonly ClerkOrganization[],
  delivery?: DeliveryRecord,
): BoundStatement {
  return upsertStatement({
    ...organizationArrays(newestById(rows, (r) => r.id)),
    ...deliveryValues(delivery),
  });
}

/** Upserts organizations (`organization.created/updated`, a sync page). */
export async function upsertOrganizations(
  db: Db,
  rows: readonly ClerkOrganization[],
  delivery?: DeliveryRecord,
): Promise<BatchResult> {
  const result = batchResult(await runStatement(db, upsertOrganizationsStatement(rows, delivery)));
  return { outcomes: result.outcomes, delivery: delivery ? result.delivery : undefined };
}

const tombstoneStatement = defineStatement<{ ids: string[] } & DeliveryValues>(
  (v) => sql`WITH version AS (
    INSERT INTO ${clerkOrganizationVersions} (organization_id, clerk_updated_at, deleted_at)
    SELECT t.id, 0, now() FROM unnest(${v.ids}::text[]) AS t(id) WHERE ${notYetDelivered(v.deliveryId)} ORDER BY t.id
    ON CONFLICT (organization_id) DO UPDATE SET deleted_at = now() WHERE ${clerkOrganizationVersions.deletedAt} IS NULL
    RETURNING organization_id
  ), recorded AS (${recordDelivery(v, sql`CASE WHEN EXISTS (SELECT 1 FROM version) THEN 'deleted' ELSE 'stale' END`)})
  SELECT organization_id AS id, 'deleted' AS outcome, (SELECT outcome FROM recorded) AS delivery FROM version
  UNION ALL SELECT NULL, NULL, outcome FROM recorded WHERE NOT EXISTS (SELECT 1 FROM version)`,
);

/** Deleting an organization deletes its memberships (the foreign key cascades). */
const deleteStatement = defineStatement<{ ids: string[] }>(
  (v) => sql`DELETE FROM ${organizations} WHERE ${organizations.id} = ANY(${v.ids}::text[])`,
);

/**
 * `organization.deleted` (or pruned by sync): tombstoned first, taking the version rows' locks that every write of
 * the organization or its memberships takes; then deleted by a second statement, whose fresh snapshot sees every
 * membership committed by a writer that held the lock before us. Outcome per id: `deleted` (not already tombstoned).
 */
export async function removeOrganizations(
  db: Db,
  ids: readonly string[],
  delivery?: DeliveryRecord,
): Promise<BatchResult> {
  const result = await runTransaction(db, async (run) => {
    const rows = await run<{ id: string | null; outcome: RowOutcome | null; delivery: string | null }>(
      tombstoneStatement({ ids: [...new Set(ids)].sort(), ...deliveryValues(delivery) }),
    );
    const read = batchResult(rows);
    if (read.outcomes.size > 0) await run(deleteStatement({ ids: [...read.outcomes.keys()] }));
    return read;
  });
  return { outcomes: result.outcomes, delivery: delivery ? result.delivery : undefined };
}
