import { type SQL, sql } from "drizzle-orm";
import { defineStatement, runStatement } from "../db/query.js";
import { clerkDeliveries } from "../db/schema.js";
import type { Db } from "../db/types.js";
import type { Outcome, StoredOutcome } from "../outcome.js";

/**
 * The one delivery record (`clerk_deliveries`): the idempotency key of every delivery and its audit trail. A
 * delivery is recorded by the statement that applies it, so its record and its effect commit together.
 */

/** A delivery to record with each row it carries, and the duplicate check it brings. */
export interface DeliveryStamp {
  deliveryIds: readonly string[];
  eventType: string;
  receivedAt: Date;
  /** Why it came to what it came to (`pruned`, …). */
  reason?: string;
}

/** The delivery one row of a statement carries (coalesced deliveries, each row its own). */
export interface RowDelivery {
  deliveryId: string;
  eventType: string;
  receivedAt: Date;
}

/** A statement's input columns for `RowDelivery`s, and their values. */
export const DELIVERY_COLUMNS = { delivery_id: "text", event_type: "text", received_at: "text" } as const;
export const deliveryColumns = (deliveries: readonly RowDelivery[]) => ({
  delivery_id: deliveries.map((d) => d.deliveryId),
  event_type: deliveries.map((d) => d.eventType),
  received_at: deliveries.map((d) => d.receivedAt.toISOString()),
});

/** A stamp's deliveries, one per row (undefined without a stamp). */
export const stampDeliveries = (stamp: DeliveryStamp | undefined): RowDelivery[] | undefined =>
  stamp?.deliveryIds.map((deliveryId) => ({ deliveryId, eventType: stamp.eventType, receivedAt: stamp.receivedAt }));

/**
 * Ids of the deliveries the service records itself, beside Svix's `msg_…` ids: each is made from what it records,
 * so the same fact recorded twice is one delivery, and none can collide with Svix's.
 */
export const deliveryIds = {
  /** `/v1/me` provisioning just in time: the same Clerk state (id, `updated_at`) is one delivery. */
  justInTime: (objectId: string, updatedAt: number) => `jit:${objectId}:${updatedAt}`,
  /** `npm run sync` recording a user it skipped or could not write, once per Clerk state. */
  sync: (objectId: string, updatedAt: number) => `sync:${objectId}:${updatedAt}`,
  /** `npm run sync -- --prune` removing what Clerk no longer has. */
  prune: (objectId: string) => `sync-prune:${objectId}`,
};

/**
 * Whether row `i`'s delivery id is not recorded yet: a scalar `LIMIT 1` probe of the primary key, which the planner
 * cannot turn into a join. As `NOT EXISTS`, the generic plan settled on hashing a scan of the whole table (cheap
 * while it was small) and kept doing so as it grew: a sequential scan of clerk_deliveries per delivery.
 */
export const notRecorded = sql`(SELECT 1 FROM ${clerkDeliveries} d WHERE d.delivery_id = i.delivery_id LIMIT 1) IS NULL`;

/**
 * `recorded`: the deliveries of `select`'s rows (`delivery_id`, `user_id`, `outcome`, `reason`; rows without a
 * delivery id record nothing). Rows of `clerk_deliveries` are never read before writing: a conflict on
 * `delivery_id` (a concurrent copy that committed first) is the duplicate check.
 */
export const recordDeliveries = (select: SQL, v: { readonly [name: string]: unknown }) => sql`recorded AS (
    INSERT INTO ${clerkDeliveries} (delivery_id, event_type, clerk_user_id, outcome, reason, received_at)
    SELECT s.delivery_id, ${v.eventType}::text, s.user_id, s.outcome, s.reason, ${v.receivedAt}::timestamptz
    FROM (${select}) s WHERE s.delivery_id IS NOT NULL
    ON CONFLICT (delivery_id) DO NOTHING
    RETURNING delivery_id
  )`;

const recordStatement = defineStatement<{
  delivery_id: string;
  user_id: string | null;
  outcome: StoredOutcome;
  reason: string | null;
  eventType: string;
  receivedAt: string;
}>(
  (v) => sql`WITH ${recordDeliveries(
    sql`SELECT ${v.delivery_id}::text AS delivery_id, ${v.user_id}::text AS user_id, ${v.outcome}::text AS outcome,
      ${v.reason}::text AS reason`,
    v,
  )}
  SELECT delivery_id FROM recorded`,
);

/** A delivery that changes nothing but its own record (`duplicate` when it was recorded before). */
export async function recordDelivery(
  db: Db,
  delivery: { deliveryId: string; receivedAt: Date; eventType: string; userId: string | null },
  outcome: StoredOutcome,
  reason: string | null,
): Promise<Outcome> {
  const statement = recordStatement({
    delivery_id: delivery.deliveryId,
    user_id: delivery.userId,
    outcome,
    reason,
    eventType: delivery.eventType,
    receivedAt: delivery.receivedAt.toISOString(),
  });
  return (await runStatement(db, statement)).length > 0 ? outcome : "duplicate";
}
