import type { ClerkEvent } from "../clerk/events.js";
import type { Db } from "../db/types.js";
import { type Outcome, outcomeOf, type RowResult } from "../outcome.js";
import { directWriter, type EventWriter } from "./coalesce/coalescer.js";
import { recordDelivery } from "./deliveries.js";
import { KINDS } from "./kinds.js";
import { applySubscriptionItems } from "./subscription-items/apply.js";
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
    case "billing": {
      const [item, ...more] = event.items;
      if (item && more.length === 0) {
        return written(writer.write(KINDS.subscriptionItems, item, { ...carried, eventType: event.eventType }));
      }
      return applySubscriptionItems(db, { deliveryId, receivedAt, eventType: event.eventType }, event.items);
    }
    case "organizationInvitation.created":
    case "organizationInvitation.accepted":
    case "organizationInvitation.revoked":
      return written(writer.write(KINDS.invitations, event.invitation, carried));
    case "role.created":
    case "role.updated":
      return written(writer.write(KINDS.roles, event.role, carried));
    case "role.deleted":
      return writer.remove(KINDS.roles, event.roleId, carried);
    case "permission.created":
    case "permission.updated":
      return written(writer.write(KINDS.permissions, event.permission, carried));
    case "permission.deleted":
      return writer.remove(KINDS.permissions, event.permissionId, carried);
    case "ignored": {
      const delivery = { deliveryId, receivedAt, eventType: event.eventType, userId: null };
      return recordDelivery(db, delivery, "ignored", null);
    }
  }
}
