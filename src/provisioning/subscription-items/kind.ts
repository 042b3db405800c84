import { sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { type ClerkSubscriptionItem, parseClerkSubscriptionItem } from "../../clerk/billing-events.js";
import { defineStatement } from "../../db/query.js";
import {
  clerkOrganizationVersions,
  clerkSubscriptionItemVersions,
  clerkUserVersions,
  subscriptionItems,
} from "../../db/schema.js";
import { fromClerkTime } from "../engine/copied-rows.js";
import { defineKind } from "../engine/define-kind.js";
import type { Shape } from "../engine/spec.js";
import { inIdOrder } from "../engine/upsert-statement.js";
import { classifySubscriptionItems } from "./classify.js";

/**
 * Clerk Billing's subscription items, each of one payer (a user or an organization). Why the rules hold:
 *
 * - A write takes, in this order, the locks of its payers' version rows (organizations', then users', each in id
 *   order: the order memberships take them in), then of its items' (`clerk_subscription_item_versions`). A payer
 *   not stored yet gets a version row at 0, which its own first event moves past; a tombstoned payer (`user.deleted`,
 *   `organization.deleted`) is not locked, and its items are `deleted`: nothing stored.
 * - The payer's tier is not written here: triggers on `subscription_items` recompute it, after this statement, with
 *   `private.subscription_tier` (the subscription_items migration), which reads a fresh snapshot. Every writer of a
 *   payer's items holds its payer's lock until it commits, so that snapshot has every item committed before, and the
 *   last writer's answer is the right one however many deliveries of one payer race.
 * - An item's version moves forward only: a late event of an item changes nothing.
 */

type ItemField = "planSlug" | "planId" | "status" | "isFreeTrial";
const COPIED = {
  planSlug: subscriptionItems.planSlug,
  planId: subscriptionItems.planId,
  status: subscriptionItems.status,
  isFreeTrial: subscriptionItems.isFreeTrial,
} as const satisfies Record<ItemField, PgColumn>;

/** Clerk's times of an item, ms in `input`, timestamptz in the table. */
const TIMES = ["period_start", "period_end", "created_at", "updated_at"] as const;

/** The payers' locks: `org_lock` and `user_lock`, the ids locked (none of a tombstoned payer). */
const lockPayers = sql`org_lock AS (
    INSERT INTO ${clerkOrganizationVersions} (organization_id, clerk_updated_at)
    SELECT DISTINCT payer_id, 0::bigint FROM input WHERE newer AND payer_type = 'organization' ORDER BY payer_id
    ON CONFLICT (organization_id) DO UPDATE SET organization_id = excluded.organization_id
      WHERE ${clerkOrganizationVersions.deletedAt} IS NULL
    RETURNING organization_id AS payer_id
  ), user_lock AS (
    INSERT INTO ${clerkUserVersions} (user_id, clerk_updated_at)
    SELECT DISTINCT payer_id, 0::bigint FROM input WHERE newer AND payer_type = 'user' ORDER BY payer_id
    ON CONFLICT (user_id) DO UPDATE SET user_id = excluded.user_id WHERE ${clerkUserVersions.deletedAt} IS NULL
    RETURNING user_id AS payer_id
  ), `;

const payerLocked = sql`(CASE i.payer_type WHEN 'user' THEN i.payer_id IN (SELECT payer_id FROM user_lock)
      ELSE i.payer_id IN (SELECT payer_id FROM org_lock) END)`;

const copiedNames = Object.values(COPIED).map((column) => column.name);
const columns = ["id", "payer_type", "payer_id", ...copiedNames, ...TIMES].map((name) => sql.identifier(name));
const values = [
  ...["id", "payer_type", "payer_id", ...copiedNames].map((name) => sql`i.${sql.identifier(name)}`),
  ...TIMES.map((name) => fromClerkTime(sql`i.${sql.identifier(name)}`)),
];
/** A newer state replaces everything but the id and the payer (an item's payer never changes). */
const assignments = [...copiedNames, ...TIMES].map(
  (name) => sql`${sql.identifier(name)} = excluded.${sql.identifier(name)}`,
);

const writeItems = (shape: Shape) => sql`written AS (
    INSERT INTO ${subscriptionItems} (${sql.join(columns, sql`, `)})
    SELECT ${sql.join(values, sql`, `)}
    FROM input i JOIN version USING (id)${inIdOrder(shape, "i")}
    ON CONFLICT (id) DO UPDATE SET ${sql.join(assignments, sql`, `)}
    RETURNING id, (xmax = 0) AS created
  )`;

/** An item to remove, and whose it is (kept with its tombstone). */
export interface SubscriptionItemKey {
  id: string;
  payerType: string;
  payerId: string;
}

const deleteItems = defineStatement<{ ids: string[] }>(
  (v) => sql`DELETE FROM ${subscriptionItems} WHERE ${subscriptionItems.id} = ANY(${v.ids}::text[])`,
);

/** The Clerk user a delivery record names: the payer, when a user pays. */
const payingUser = (alias: string) => sql.raw(`CASE WHEN ${alias}.payer_type = 'user' THEN ${alias}.payer_id END`);

export const subscriptionItemKind = defineKind<ClerkSubscriptionItem, ItemField, SubscriptionItemKey>({
  name: "subscriptionItems",
  noun: "subscription item",
  fromClerk: (raw) => ({ row: parseClerkSubscriptionItem(raw) }),
  classify: classifySubscriptionItems,
  versions: {
    table: clerkSubscriptionItemVersions,
    key: clerkSubscriptionItemVersions.subscriptionItemId,
    clerkUpdatedAt: clerkSubscriptionItemVersions.clerkUpdatedAt,
    deletedAt: clerkSubscriptionItemVersions.deletedAt,
    carries: { payer_type: clerkSubscriptionItemVersions.payerType, payer_id: clerkSubscriptionItemVersions.payerId },
  },
  copied: COPIED,
  copiedOf: (row, field) => row[field],
  inputs: {
    payer_type: { type: "text", of: (row) => row.payerType },
    payer_id: { type: "text", of: (row) => row.payerId },
    period_start: { type: "bigint", of: (row) => row.periodStart },
    period_end: { type: "bigint", of: (row) => row.periodEnd },
    created_at: { type: "bigint", of: (row) => row.createdAt },
  },
  idOf: (row) => row.id,
  updatedAtOf: (row) => row.updatedAt,
  rules: {
    before: lockPayers,
    versionGuard: payerLocked,
    writes: (_, shape) => writeItems(shape),
    gone: sql`i.newer AND NOT ${payerLocked}`,
    deliveryUser: payingUser("i"),
  },
  removal: {
    columns: { payer_type: "text", payer_id: "text" },
    values: (key) => ({ id: key.id, payer_type: key.payerType, payer_id: key.payerId }),
    deliveryUser: payingUser("f"),
    remove: (ids) => deleteItems({ ids }),
  },
});
