import { newClerkId } from "./sample-organization-events.js";

export const TEAM_TYPES = [
  "organizationInvitation.created",
  "organizationInvitation.accepted",
  "organizationInvitation.revoked",
  "role.created",
  "role.updated",
  "role.deleted",
  "permission.created",
  "permission.updated",
  "permission.deleted",
] as const;
export type TeamSampleType = (typeof TEAM_TYPES)[number];

export interface TeamSampleOptions {
  organizationId: string;
  userId: string;
  email: string;
  /** The invitation's role, or the role's key. */
  role: string;
  /** The invitation's, role's or permission's id (default: a new one). */
  objectId: string | undefined;
  /** The permission's key, or the role's permission keys. */
  permissions: string[];
}

/** Invitation, role and permission events in the shape of Clerk's published examples (updated_at: now). */
export function sampleTeamEvent(type: TeamSampleType, options: TeamSampleOptions) {
  const now = Date.now();
  const envelope = {
    event_attributes: { http_request: { client_ip: "127.0.0.1", user_agent: "clerk-provisioner send-event" } },
    instance_id: "ins_send_event",
    object: "event",
    timestamp: now,
    type,
  };
  const [family, verb] = type.split(".");
  const times = { created_at: now, updated_at: now };
  const permission = (key: string, id = newClerkId("perm")) => ({
    object: "permission",
    id,
    key,
    name: key,
    description: `Sample permission ${key}`,
    type: key.startsWith("org:sys_") ? "system" : "custom",
    ...times,
  });
  if (family === "organizationInvitation") {
    const data = {
      object: "organization_invitation",
      id: options.objectId ?? newClerkId("orginv"),
      email_address: options.email,
      role: options.role,
      organization_id: options.organizationId,
      status: verb === "created" ? "pending" : verb,
      public_metadata: {},
      private_metadata: {},
      expires_at: now + 7 * 24 * 3600 * 1000,
      ...(verb === "accepted" ? { user_id: options.userId } : {}),
      ...times,
    };
    return { ...envelope, data };
  }
  const id = options.objectId ?? newClerkId(family === "role" ? "role" : "perm");
  if (verb === "deleted") return { ...envelope, data: { object: family, id, deleted: true } };
  if (family === "permission")
    return { ...envelope, data: permission(options.permissions[0] ?? "org:example:read", id) };
  const data = {
    object: "role",
    id,
    key: options.role,
    name: options.role,
    description: "Sample role",
    is_creator_eligible: false,
    permissions: options.permissions.map((key) => permission(key)),
    ...times,
  };
  return { ...envelope, data };
}
