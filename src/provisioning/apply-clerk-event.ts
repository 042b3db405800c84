import { sql } from "drizzle-orm";
import type { ClerkEvent } from "../clerk/events.js";
import { defineStatement, runStatement } from "../db/query.js";
import { clerkDeliveries } from "../db/schema.js";
import type { Db } from "../db/types.js";
import { type Outcome, outcomeOf, type StoredOutcome } from "../outcome.js";
import { applyOrganizationEvent } from "./organization-events.js";
import { removeUsers } from "./users/remove.js";
import { toUserRow } from "./users/row.js";
import { provisionUsers } from "./users/verb.js";

export interface Delivery {
  /** Svix's `svix-id`, or one of ours (delivery-ids.ts). */
  deliveryId: string;
  receivedAt: Date;
  event: ClerkEvent;
}

export type ApplyEvent = (db: Db, delivery: Delivery) => Promise<Outcome>;

/**
 * Applies one verified Clerk delivery exactly once, through the verb of its kind (a batch of one carrying the
 * delivery): the delivery's record and its effect commit together or not at all.
 */
export async function applyClerkEvent(db: Db, { deliveryId, receivedAt, event }: Delivery): Promise<Outcome> {
  const stamp = (eventType: string) => ({ deliveryIds: [deliveryId], eventType, receivedAt });
  switch (event.type) {
    case "user.created":
    case "user.updated": {
      const mapped = toUserRow(event.user);
      if (mapped.kind === "skip") {
        return recordDelivery(db, {
          deliveryId,
          receivedAt,
          eventType: event.type,
          userId: event.user.id,
          outcome: "skipped",
          reason: mapped.reason,
        });
      }
      const [written] = await provisionUsers(db, [mapped.row], { stamp: stamp(event.type) });
      return written ? outcomeOf(written.result) : "duplicate";
    }
    case "user.deleted": {
      const [removed] = await removeUsers(db, [event.userId], { stamp: stamp(event.type) });
      return removed?.result ?? "duplicate";
    }
    case "organization.created":
    case "organization.updated":
    case "organization.deleted":
    case "organizationMembership.created":
    case "organizationMembership.updated":
    case "organizationMembership.deleted":
      return applyOrganizationEvent(db, { deliveryId, receivedAt, event });
    case "ignored":
      return recordDelivery(db, {
        deliveryId,
        receivedAt,
        eventType: event.eventType,
        userId: null,
        outcome: "ignored",
        reason: null,
      });
  }
}

const recordStatement = defineStatement<{
  deliveryId: string;
  eventType: string;
  userId: string | null;
  outcome: StoredOutcome;
  reason: string | null;
  receivedAt: string;
}>(
  (v) => sql`INSERT INTO ${clerkDeliveries} (delivery_id, event_type, clerk_user_id, outcome, reason, received_at)
  VALUES (${v.deliveryId}::text, ${v.eventType}::text, ${v.userId}::text, ${v.outcome}::text, ${v.reason}::text,
    ${v.receivedAt}::timestamptz)
  ON CONFLICT (delivery_id) DO NOTHING
  RETURNING outcome`,
);

/** A delivery that changes nothing but its own record (`duplicate` when it was recorded before). */
async function recordDelivery(
  db: Db,
  input: Omit<Delivery, "event"> & {
    eventType: string;
    userId: string | null;
    outcome: StoredOutcome;
    reason: string | null;
  },
): Promise<Outcome> {
  const rows = await runStatement(db, recordStatement({ ...input, receivedAt: input.receivedAt.toISOString() }));
  return rows.length > 0 ? input.outcome : "duplicate";
}
