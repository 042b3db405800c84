import { sql } from "drizzle-orm";
import type { ClerkSubscriptionItem } from "../../clerk/billing-events.js";
import { REQUEST } from "../../db/call.js";
import { defineStatement, runTransaction } from "../../db/query.js";
import { clerkDeliveries } from "../../db/schema.js";
import type { Db } from "../../db/types.js";
import { type Outcome, outcomeOf } from "../../outcome.js";
import { recordDeliveries } from "../deliveries.js";
import { subscriptionItemKind } from "./kind.js";

/**
 * A billing delivery of several items (a `subscription.*` event; one item goes through the writer like every kind):
 * its delivery is claimed first (a copy that claimed it before, also concurrently, makes this one a `duplicate` that
 * writes nothing), then its items are written as one batch, and the claim's outcome set, in one transaction.
 */

interface BillingDelivery {
  deliveryId: string;
  receivedAt: Date;
  eventType: string;
}

type ClaimValues = Record<"delivery_id" | "user_id" | "eventType" | "receivedAt", unknown>;

const claim = defineStatement<ClaimValues>(
  (v) => sql`WITH ${recordDeliveries(
    sql`SELECT ${v.delivery_id}::text AS delivery_id, ${v.user_id}::text AS user_id, 'stale' AS outcome,
      NULL::text AS reason`,
    v,
  )}
  SELECT delivery_id FROM recorded`,
);

const provisioned = defineStatement<{ delivery_id: string }>(
  (v) =>
    sql`UPDATE ${clerkDeliveries} SET outcome = 'provisioned' WHERE ${clerkDeliveries.deliveryId} = ${v.delivery_id}`,
);

export async function applySubscriptionItems(
  db: Db,
  delivery: BillingDelivery,
  items: readonly ClerkSubscriptionItem[],
): Promise<Outcome> {
  const { deliveryId, receivedAt, eventType } = delivery;
  const payer = items[0]?.payerType === "user" ? items[0].payerId : null;
  return runTransaction(
    db,
    async (run) => {
      const claimed = await run(
        claim({ delivery_id: deliveryId, user_id: payer, eventType, receivedAt: receivedAt.toISOString() }),
      );
      if (claimed.length === 0) return "duplicate";
      const written = await subscriptionItemKind.write(run, items);
      if (!written.some((row) => outcomeOf(row.result) === "provisioned")) return "stale";
      await run(provisioned({ delivery_id: deliveryId }));
      return "provisioned";
    },
    REQUEST,
  );
}
