import { asc, eq, sql } from "drizzle-orm";
import type { FetchClerkOrganization } from "../clerk/lookups.js";
import { callDatabase, REQUEST } from "../db/call.js";
import { queryRows } from "../db/query.js";
import { clerkOrganizationVersions, organizationMemberships, organizations } from "../db/schema.js";
import type { Db } from "../db/types.js";
import { deliveryIds } from "../provisioning/deliveries.js";
import { KINDS } from "../provisioning/kinds.js";

/** One of the user's organizations, with the user's role in it. */
export interface AccountOrganization {
  id: string;
  name: string;
  slug: string | null;
  imageUrl: string | null;
  role: string;
}

/** The user's memberships with their organizations (one JOIN, served by the index on `user_id`). */
export function readOrganizations(db: Db, userId: string): Promise<AccountOrganization[]> {
  return callDatabase(REQUEST, () =>
    db
      .select({
        id: organizations.id,
        name: organizations.name,
        slug: organizations.slug,
        imageUrl: organizations.imageUrl,
        role: organizationMemberships.role,
      })
      .from(organizationMemberships)
      .innerJoin(organizations, eq(organizations.id, organizationMemberships.organizationId))
      .where(eq(organizationMemberships.userId, userId))
      .orderBy(asc(organizations.name), asc(organizations.id)),
  );
}

async function isTombstoned(db: Db, organizationId: string): Promise<boolean> {
  const [row] = await callDatabase(REQUEST, () =>
    queryRows<{ deleted: boolean }>(
      db,
      sql`SELECT EXISTS (SELECT 1 FROM ${clerkOrganizationVersions}
        WHERE ${clerkOrganizationVersions.organizationId} = ${organizationId}::text
          AND ${clerkOrganizationVersions.deletedAt} IS NOT NULL) AS deleted`,
    ),
  );
  return row?.deleted ?? false;
}

/**
 * The user's organizations, with the token's active organization fetched from Clerk first when it is not stored for
 * this user (just created or joined, its webhooks not here yet). Applied through the webhook's verbs with
 * `jit:` delivery ids, so whichever comes first writes and the other is stale. Returns whether Clerk was asked.
 */
export async function ensureOrganizations(
  { db, fetchClerkOrganization }: { db: Db; fetchClerkOrganization: FetchClerkOrganization },
  userId: string,
  activeOrganizationId: string | undefined,
): Promise<{ organizations: AccountOrganization[]; fetched: boolean }> {
  const stored = await readOrganizations(db, userId);
  if (!activeOrganizationId || stored.some((o) => o.id === activeOrganizationId)) {
    return { organizations: stored, fetched: false };
  }
  if (await isTombstoned(db, activeOrganizationId)) return { organizations: stored, fetched: false };
  const lookup = await fetchClerkOrganization(activeOrganizationId, userId);
  if (lookup.kind === "deleted") return { organizations: stored, fetched: true };
  const receivedAt = new Date();
  const { organization, membership } = lookup;
  // One Clerk state, one delivery id: concurrent requests for it are duplicates of one delivery.
  await KINDS.organizations.write(db, [organization], {
    stamp: {
      deliveryIds: [deliveryIds.justInTime(organization.id, organization.updatedAt)],
      eventType: "organization.updated",
      receivedAt,
    },
  });
  if (membership) {
    await KINDS.memberships.write(db, [membership], {
      stamp: {
        deliveryIds: [deliveryIds.justInTime(membership.id, membership.updatedAt)],
        eventType: "organizationMembership.updated",
        receivedAt,
      },
    });
  }
  return { organizations: await readOrganizations(db, userId), fetched: true };
}
