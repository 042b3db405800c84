import type { ClerkEvent } from "../clerk/events.js";
import type { Db } from "../db/types.js";
import { type Outcome, outcomeOf, type RowResult } from "../outcome.js";
import { directWriter, type EventWriter } from "./coalesce/coalescer.js";
import { recordDelivery } from "./deliveries.js";
import { KINDS } from "./kinds.js";
import { toUserRow } from "./users/row.js";

export interface Delivery {
  /** Svix's `svix-id`, or one of ours (deliveries.ts `deliveryIds`). */
  deliveryId: string;
  receivedAt: Date;
  event: ClerkEvent;
}

export type ApplyEvent = (db: Db, delivery: Delivery) => Promise<Outcome>;

/**
 * Applies one verified Clerk delivery exactly once, through the verb of its kind, by `writer` (the app's coalescer
 * shares statements between concurrent deliveries; by default each goes alone): the delivery's record and its effect
 * commit together or not at all.
 */
export async function applyClerkEvent(
  db: Db,
  { deliveryId, receivedAt, event }: Delivery,
  writer: EventWriter = directWriter(db),
): Promise<Outcome> {
  const carried = { deliveryId, eventType: event.type, receivedAt };
  const written = async (writing: Promise<RowResult>) => outcomeOf(await writing);
  switch (event.type) {
    case "user.created":
    case "user.updated": {
      const mapped = toUserRow(event.user);
      if (mapped.kind === "skip") {
        const delivery = { deliveryId, receivedAt, eventType: event.type, userId: event.user.id };
        return recordDelivery(db, delivery, "skipped", mapped.reason);
      }
      return written(writer.write(KINDS.users, mapped.row, carried));
    }
    case "user.deleted":
      return writer.remove(KINDS.users, event.userId, carried);
    case "organization.created":
    case "organization.updated":
      return written(writer.write(KINDS.organizations, event.organization, carried));
    case "organization.deleted":
      return writer.remove(KINDS.organizations, event.organizationId, carried);
    case "organizationMembership.created":
    case "organizationMembership.updated":
      return written(writer.write(KINDS.memberships, event.membership, carried));
    case "organizationMembership.deleted":
      return writer.remove(KINDS.memberships, event.membership, carried);
    case "ignored": {
      const delivery = { deliveryId, receivedAt, eventType: event.eventType, userId: null };
      return recordDelivery(db, delivery, "ignored", null);
    }
  }
}
