import type { ClerkEvent } from "../clerk/events.js";
import type { Db } from "../db/types.js";
import { type Outcome, outcomeOf, type RowResult } from "../outcome.js";
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
 * Applies one verified Clerk delivery exactly once, through the verb of its kind (a batch of one carrying the
 * delivery): the delivery's record and its effect commit together or not at all.
 */
export async function applyClerkEvent(db: Db, { deliveryId, receivedAt, event }: Delivery): Promise<Outcome> {
  const options = { stamp: { deliveryIds: [deliveryId], eventType: event.type, receivedAt } };
  const written = async (writing: Promise<{ result: RowResult }[]>) => {
    const [row] = await writing;
    return row ? outcomeOf(row.result) : "duplicate";
  };
  const removed = async (removing: Promise<{ result: Outcome }[]>) => (await removing)[0]?.result ?? "duplicate";
  switch (event.type) {
    case "user.created":
    case "user.updated": {
      const mapped = toUserRow(event.user);
      if (mapped.kind === "skip") {
        const delivery = { deliveryId, receivedAt, eventType: event.type, userId: event.user.id };
        return recordDelivery(db, delivery, "skipped", mapped.reason);
      }
      return written(KINDS.users.write(db, [mapped.row], options));
    }
    case "user.deleted":
      return removed(KINDS.users.remove(db, [event.userId], options));
    case "organization.created":
    case "organization.updated":
      return written(KINDS.organizations.write(db, [event.organization], options));
    case "organization.deleted":
      return removed(KINDS.organizations.remove(db, [event.organizationId], options));
    case "organizationMembership.created":
    case "organizationMembership.updated":
      return written(KINDS.memberships.write(db, [event.membership], options));
    case "organizationMembership.deleted":
      return removed(KINDS.memberships.remove(db, [event.membership], options));
    case "billing":
      return applySubscriptionItems(db, { deliveryId, receivedAt, eventType: event.eventType }, event.items);
    case "organizationInvitation.created":
    case "organizationInvitation.accepted":
    case "organizationInvitation.revoked":
      return written(KINDS.invitations.write(db, [event.invitation], options));
    case "role.created":
    case "role.updated":
      return written(KINDS.roles.write(db, [event.role], options));
    case "role.deleted":
      return removed(KINDS.roles.remove(db, [event.roleId], options));
    case "permission.created":
    case "permission.updated":
      return written(KINDS.permissions.write(db, [event.permission], options));
    case "permission.deleted":
      return removed(KINDS.permissions.remove(db, [event.permissionId], options));
    case "ignored": {
      const delivery = { deliveryId, receivedAt, eventType: event.eventType, userId: null };
      return recordDelivery(db, delivery, "ignored", null);
    }
  }
}
