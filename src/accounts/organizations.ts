import { asc, eq, sql } from "drizzle-orm";
import type { FetchClerkOrganization } from "../clerk/lookups.js";
import { callDatabase, REQUEST } from "../db/call.js";
import { defineStatement, runStatement } from "../db/query.js";
import { clerkOrganizationVersions, organizationMemberships, organizations } from "../db/schema.js";
import type { Db } from "../db/types.js";
import { isServiceError } from "../errors.js";
import { directWriter, type EventWriter } from "../provisioning/coalesce/coalescer.js";
import { deliveryIds } from "../provisioning/deliveries.js";
import { KINDS } from "../provisioning/kinds.js";
import type { LookupCache } from "./lookup-cache.js";

/** One of the user's organizations, with the user's role in it. */
export interface AccountOrganization {
  id: string;
  name: string;
  slug: string | null;
  imageUrl: string | null;
  role: string;
  /** The organization's plan from Clerk Billing (`free` without one). */
  subscriptionTier: string;
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
        subscriptionTier: organizations.subscriptionTier,
      })
      .from(organizationMemberships)
      .innerJoin(organizations, eq(organizations.id, organizationMemberships.organizationId))
      .where(eq(organizationMemberships.userId, userId))
      .orderBy(asc(organizations.name), asc(organizations.id)),
  );
}

const tombstonedStatement = defineStatement<{ organizationId: string }>(
  (v) => sql`SELECT EXISTS (SELECT 1 FROM ${clerkOrganizationVersions}
    WHERE ${clerkOrganizationVersions.organizationId} = ${v.organizationId}::text
      AND ${clerkOrganizationVersions.deletedAt} IS NOT NULL) AS deleted`,
);

async function isTombstoned(db: Db, organizationId: string): Promise<boolean> {
  const [row] = await runStatement<{ deleted: boolean }>(db, tombstonedStatement({ organizationId }));
  return row?.deleted ?? false;
}

export interface EnsureOrganizationsDeps {
  db: Db;
  fetchClerkOrganization: FetchClerkOrganization;
  /** Shares concurrent lookups of one active organization and remembers "not a member" (see lookup-cache.ts). */
  cache?: LookupCache;
  /** How the organization and the membership are written (the app's coalescer); each alone by default. */
  writer?: EventWriter;
}

/**
 * What became of the token's active organization: none named, `stored` already, `applied` now from Clerk,
 * `not_member` (Clerk has no such organization, or the user is not a member of it: left out), or `unconfirmed`
 * (Clerk could not answer: left out of this answer, asked again next time).
 */
export type ActiveOrganization =
  | { kind: "none" | "stored" | "applied" | "not_member" }
  | { kind: "unconfirmed"; detail: string | undefined };

/**
 * The user's organizations, with the token's active organization fetched from Clerk first when it is not stored for
 * this user (just created or joined, its webhooks not here yet). Applied through the webhook's verbs with
 * `jit:` delivery ids, so whichever comes first writes and the other is stale. A Clerk failure leaves the active
 * organization out rather than failing the answer: the user and its stored organizations are still right.
 */
export async function ensureOrganizations(
  deps: EnsureOrganizationsDeps,
  userId: string,
  activeOrganizationId: string | undefined,
): Promise<{ organizations: AccountOrganization[]; active: ActiveOrganization }> {
  const { db, cache } = deps;
  const stored = await readOrganizations(db, userId);
  if (!activeOrganizationId) return { organizations: stored, active: { kind: "none" } };
  if (stored.some((o) => o.id === activeOrganizationId)) return { organizations: stored, active: { kind: "stored" } };
  const notMember = { organizations: stored, active: { kind: "not_member" } } as const;
  if (cache?.isNotMember(activeOrganizationId, userId)) return notMember;
  if (await isTombstoned(db, activeOrganizationId)) return notMember;
  const join = () => joinFromClerk(deps, activeOrganizationId, userId);
  let joined: { kind: "applied" | "not_member" };
  try {
    joined = await (cache ? cache.sharedOrganization(activeOrganizationId, userId, join) : join());
  } catch (error) {
    if (!isServiceError(error, "clerk_unavailable")) throw error;
    return { organizations: stored, active: { kind: "unconfirmed", detail: error.detail } };
  }
  if (joined.kind === "not_member") return notMember;
  return { organizations: await readOrganizations(db, userId), active: joined };
}

/** The organization and the user's membership in it, as Clerk has them now, applied. */
async function joinFromClerk(
  { db, fetchClerkOrganization, writer = directWriter(db) }: EnsureOrganizationsDeps,
  organizationId: string,
  userId: string,
): Promise<{ kind: "applied" | "not_member" }> {
  const lookup = await fetchClerkOrganization(organizationId, userId);
  if (lookup.kind === "deleted") return { kind: "not_member" };
  const receivedAt = new Date();
  const { organization, membership } = lookup;
  // One Clerk state, one delivery id: concurrent requests for it are duplicates of one delivery.
  await writer.write(KINDS.organizations, organization, {
    deliveryId: deliveryIds.justInTime(organization.id, organization.updatedAt),
    eventType: "organization.updated",
    receivedAt,
  });
  if (!membership) return { kind: "not_member" };
  await writer.write(KINDS.memberships, membership, {
    deliveryId: deliveryIds.justInTime(membership.id, membership.updatedAt),
    eventType: "organizationMembership.updated",
    receivedAt,
  });
  return { kind: "applied" };
}
