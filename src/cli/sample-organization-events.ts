import { randomBytes } from "node:crypto";

export const ORGANIZATION_TYPES = [
  "organization.created",
  "organization.updated",
  "organization.deleted",
  "organizationMembership.created",
  "organizationMembership.updated",
  "organizationMembership.deleted",
] as const;
export type OrganizationSampleType = (typeof ORGANIZATION_TYPES)[number];

export interface OrganizationSampleIds {
  organizationId: string;
  userId: string;
  membershipId: string;
  role: string;
}

export const newClerkId = (prefix: string) => `${prefix}_${randomBytes(12).toString("hex")}`;

/** Organization and membership events in the shape of Clerk's published examples (updated_at: now). */
export function sampleOrganizationEvent(type: OrganizationSampleType, ids: OrganizationSampleIds) {
  const now = Date.now();
  const envelope = {
    event_attributes: { http_request: { client_ip: "127.0.0.1", user_agent: "clerk-provisioner send-event" } },
    instance_id: "ins_send_event",
    object: "event",
    timestamp: now,
    type,
  };
  const organization = {
    object: "organization",
    id: ids.organizationId,
    name: "Example Team",
    slug: `example-team-${ids.organizationId.slice(-6).toLowerCase()}`,
    image_url: "https://img.clerk.com/xxxxxx",
    has_image: false,
    max_allowed_memberships: 5,
    admin_delete_enabled: true,
    public_metadata: {},
    created_by: ids.userId,
    created_at: now,
    updated_at: now,
  };
  if (type === "organization.deleted") {
    return { ...envelope, data: { object: "organization", id: ids.organizationId, deleted: true } };
  }
  if (type === "organization.created" || type === "organization.updated") return { ...envelope, data: organization };
  return {
    ...envelope,
    data: {
      object: "organization_membership",
      id: ids.membershipId,
      role: ids.role,
      permissions: [],
      public_metadata: {},
      organization,
      public_user_data: {
        user_id: ids.userId,
        first_name: "Example",
        last_name: "User",
        image_url: "https://img.clerk.com/xxxxxx",
        has_image: false,
        identifier: "example@example.com",
      },
      created_at: now,
      updated_at: now,
    },
  };
}
