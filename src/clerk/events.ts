import { z } from "zod";
import { type BillingEvent, billingEvent, billingIds } from "./billing-events.js";
import {
  clerkId,
  clerkTime,
  MAX_CLERK_ID_LENGTH,
  MAX_EMAIL_LENGTH,
  MAX_EVENT_TYPE_LENGTH,
  MAX_NAME_LENGTH,
  MAX_ROLE_LENGTH,
  MAX_URL_LENGTH,
  nullableText,
  parseOrThrow,
  storedText,
} from "./fields.js";
import { type ClerkTeamEvent, parseClerkTeamEvent, teamEventIds } from "./team-events.js";

export { MAX_CLERK_ID_LENGTH, MAX_EMAIL_LENGTH, MAX_EVENT_TYPE_LENGTH, storedText } from "./fields.js";

// z.object, not z.looseObject: unknown keys are allowed (Clerk adds fields) and left out of the result, which
// spares copying every key of a ~3 KB payload on each delivery.
const ClerkEmailAddressSchema = z.object({
  id: storedText(MAX_CLERK_ID_LENGTH),
  email_address: storedText(MAX_EMAIL_LENGTH),
});

/** The fields of Clerk's `UserJSON` we use. */
const ClerkUserSchema = z.object({
  id: clerkId,
  email_addresses: z.array(ClerkEmailAddressSchema),
  primary_email_address_id: nullableText(MAX_CLERK_ID_LENGTH),
  username: nullableText(MAX_NAME_LENGTH),
  first_name: nullableText(MAX_NAME_LENGTH),
  last_name: nullableText(MAX_NAME_LENGTH),
  image_url: nullableText(MAX_URL_LENGTH),
  updated_at: z.number().int().nonnegative(),
});

const DeletedObjectSchema = z.object({ id: clerkId });

/** The fields of Clerk's `OrganizationJSON` we store (also the snapshot embedded in a membership). */
const ClerkOrganizationSchema = z.object({
  id: clerkId,
  name: storedText(MAX_NAME_LENGTH),
  slug: nullableText(MAX_NAME_LENGTH),
  image_url: nullableText(MAX_URL_LENGTH),
  created_by: clerkId.nullable().optional(),
  created_at: clerkTime,
  updated_at: clerkTime,
});

/** The fields of Clerk's `OrganizationMembershipJSON` we store: it has no top-level user or organization id. */
const ClerkMembershipSchema = z.object({
  id: clerkId,
  role: storedText(MAX_ROLE_LENGTH).min(1),
  created_at: clerkTime,
  updated_at: clerkTime,
  organization: ClerkOrganizationSchema,
  public_user_data: z.object({ user_id: clerkId }),
});

const DeletedOrganizationSchema = z.object({ id: clerkId });

const EnvelopeSchema = z.object({ type: storedText(MAX_EVENT_TYPE_LENGTH).min(1), data: z.object({}) });

export interface ClerkUser {
  id: string;
  /** The primary address, lower-cased; null when the primary id points at nothing. */
  primaryEmail: string | null;
  username: string | null;
  /** Clerk's `data.updated_at`, in ms: the version of this state. */
  updatedAt: number;
  /** What is stored as Clerk sends it, each in a users column of its own (provisioning/users/kind.ts `COPIED`). */
  profile: ClerkUserProfile;
}

export interface ClerkUserProfile {
  firstName: string | null;
  lastName: string | null;
  imageUrl: string | null;
}

export interface ClerkOrganization {
  id: string;
  name: string;
  slug: string | null;
  imageUrl: string | null;
  createdBy: string | null;
  /** Clerk's times, in ms; `updatedAt` is the version of this state. */
  createdAt: number;
  updatedAt: number;
}

export interface ClerkMembership {
  id: string;
  organizationId: string;
  userId: string;
  /** Clerk's role key as sent (`org:admin`, `org:member`, custom `org:…`, legacy `admin`/`basic_member`). */
  role: string;
  createdAt: number;
  updatedAt: number;
  /** The organization as embedded in the membership: inserted when not stored, never overwriting a stored one. */
  organization: ClerkOrganization;
}

export type ClerkEvent =
  | { type: "user.created" | "user.updated"; user: ClerkUser }
  | { type: "user.deleted"; userId: string }
  | { type: "organization.created" | "organization.updated"; organization: ClerkOrganization }
  | { type: "organization.deleted"; organizationId: string }
  | {
      type: "organizationMembership.created" | "organizationMembership.updated" | "organizationMembership.deleted";
      membership: ClerkMembership;
    }
  /** Every `subscription.*` and `subscriptionItem.*` name: its items (one for an item event), applied by status. */
  | BillingEvent
  | ClerkTeamEvent
  | { type: "ignored"; eventType: string };

/** The Clerk ids an event is about (for logs): never names or e-mail addresses. */
export function eventIds(event: ClerkEvent): {
  userId?: string;
  organizationId?: string;
  membershipId?: string;
  subscriptionItemIds?: string[];
  /** An invitation's, role's or permission's id. */
  objectId?: string;
} {
  if (isTeamEvent(event)) return teamEventIds(event);
  switch (event.type) {
    case "user.created":
    case "user.updated":
      return { userId: event.user.id };
    case "user.deleted":
      return { userId: event.userId };
    case "organization.created":
    case "organization.updated":
      return { organizationId: event.organization.id };
    case "organization.deleted":
      return { organizationId: event.organizationId };
    case "ignored":
      return {};
    case "billing":
      return billingIds(event.items);
    default:
      return {
        userId: event.membership.userId,
        organizationId: event.membership.organizationId,
        membershipId: event.membership.id,
      };
  }
}

const isTeamEvent = (event: ClerkEvent): event is ClerkTeamEvent =>
  "invitation" in event || "role" in event || "permission" in event || "roleId" in event || "permissionId" in event;

/** Narrows a verified payload to the events we act on; anything else is `ignored`. */
export function parseClerkEvent(payload: unknown): ClerkEvent {
  const { type } = parseOrThrow(EnvelopeSchema, payload, "");
  // The envelope is valid, so `data` is an object; the schemas below read it from the payload itself.
  const data = (payload as { data: unknown }).data;
  switch (type) {
    case "user.created":
    case "user.updated":
      return { type, user: parseClerkUser(data) };
    case "user.deleted":
      return { type, userId: parseOrThrow(DeletedObjectSchema, data, "data").id };
    case "organization.created":
    case "organization.updated":
      return { type, organization: parseClerkOrganization(data) };
    case "organization.deleted":
      return { type, organizationId: parseOrThrow(DeletedOrganizationSchema, data, "data").id };
    case "organizationMembership.created":
    case "organizationMembership.updated":
    case "organizationMembership.deleted":
      return { type, membership: parseClerkMembership(data) };
    default:
      return billingEvent(type, data) ?? parseClerkTeamEvent(type, data) ?? { type: "ignored", eventType: type };
  }
}

/**
 * A Clerk `UserJSON` (a webhook's `data`, or a Backend API user's `raw`) to the user we provision: one mapping for
 * every path. Throws `invalid_payload` naming the field (`data.…`).
 */
export function parseClerkUser(data: unknown): ClerkUser {
  return toClerkUser(parseOrThrow(ClerkUserSchema, data, "data"));
}

function toClerkUser(data: z.infer<typeof ClerkUserSchema>): ClerkUser {
  const primary = data.email_addresses.find((address) => address.id === data.primary_email_address_id);
  return {
    id: data.id,
    primaryEmail: primary ? primary.email_address.trim().toLowerCase() : null,
    username: data.username ?? null,
    updatedAt: data.updated_at,
    profile: { firstName: data.first_name ?? null, lastName: data.last_name ?? null, imageUrl: data.image_url ?? null },
  };
}

/** A Clerk `OrganizationJSON` (a webhook's `data`, or a Backend API organization's `raw`). */
export function parseClerkOrganization(data: unknown): ClerkOrganization {
  return toClerkOrganization(parseOrThrow(ClerkOrganizationSchema, data, "data"));
}

/** A Clerk `OrganizationMembershipJSON` (a webhook's `data`, or a Backend API membership's `raw`). */
export function parseClerkMembership(data: unknown): ClerkMembership {
  const parsed = parseOrThrow(ClerkMembershipSchema, data, "data");
  return {
    id: parsed.id,
    organizationId: parsed.organization.id,
    userId: parsed.public_user_data.user_id,
    role: parsed.role,
    createdAt: parsed.created_at,
    updatedAt: parsed.updated_at,
    organization: toClerkOrganization(parsed.organization),
  };
}

function toClerkOrganization(data: z.infer<typeof ClerkOrganizationSchema>): ClerkOrganization {
  return {
    id: data.id,
    name: data.name,
    slug: data.slug ?? null,
    imageUrl: data.image_url ?? null,
    createdBy: data.created_by ?? null,
    createdAt: data.created_at,
    updatedAt: data.updated_at,
  };
}
