import type { ClerkEvent } from "../clerk/events.js";
import type { Db } from "../db/types.js";
import { type Outcome, outcomeOf } from "../outcome.js";
import { removeMemberships, upsertMemberships } from "./memberships/verb.js";
import { removeOrganizations, upsertOrganizations } from "./organizations/verb.js";

type OrganizationEvent = Extract<ClerkEvent, { type: `organization.${string}` | `organizationMembership.${string}` }>;

/** One `organization.*` or `organizationMembership.*` delivery through the batch verbs, as a batch of one. */
export async function applyOrganizationEvent(
  db: Db,
  { deliveryId, receivedAt, event }: { deliveryId: string; receivedAt: Date; event: OrganizationEvent },
): Promise<Outcome> {
  const stamp = { deliveryIds: [deliveryId], eventType: event.type, receivedAt };
  switch (event.type) {
    case "organization.created":
    case "organization.updated": {
      const [written] = await upsertOrganizations(db, [event.organization], { stamp });
      return written ? outcomeOf(written.result) : "duplicate";
    }
    case "organization.deleted": {
      const [removed] = await removeOrganizations(db, [event.organizationId], { stamp });
      return removed?.result ?? "duplicate";
    }
    case "organizationMembership.created":
    case "organizationMembership.updated": {
      const [written] = await upsertMemberships(db, [event.membership], { stamp });
      return written ? outcomeOf(written.result) : "duplicate";
    }
    case "organizationMembership.deleted": {
      const [removed] = await removeMemberships(db, [event.membership], { stamp });
      return removed?.result ?? "duplicate";
    }
  }
}
