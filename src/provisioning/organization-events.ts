import type { ClerkEvent } from "../clerk/events.js";
import type { Db } from "../db/types.js";
import { removeMemberships, upsertMemberships } from "./memberships.js";
import { type DeliveryRecord, removeOrganizations, upsertOrganizations } from "./organizations.js";
import type { Outcome } from "./outcome.js";

type OrganizationEvent = Extract<ClerkEvent, { type: `organization.${string}` | `organizationMembership.${string}` }>;

/** One `organization.*` or `organizationMembership.*` delivery through the batch verbs, as a batch of one. */
export async function applyOrganizationEvent(
  db: Db,
  { deliveryId, receivedAt, event }: { deliveryId: string; receivedAt: Date; event: OrganizationEvent },
): Promise<Outcome> {
  const delivery: DeliveryRecord = { deliveryId, receivedAt, eventType: event.type };
  let result: { delivery: string | undefined };
  switch (event.type) {
    case "organization.created":
    case "organization.updated":
      result = await upsertOrganizations(db, [event.organization], delivery);
      break;
    case "organization.deleted":
      result = await removeOrganizations(db, [event.organizationId], delivery);
      break;
    case "organizationMembership.created":
    case "organizationMembership.updated":
      result = await upsertMemberships(db, [event.membership], { ...delivery, userId: event.membership.userId });
      break;
    case "organizationMembership.deleted":
      result = await removeMemberships(db, [event.membership], { ...delivery, userId: event.membership.userId });
      break;
  }
  return (result.delivery ?? "duplicate") as Outcome;
}
