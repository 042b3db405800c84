import { randomBytes } from "node:crypto";
import { organizationFixture } from "./clerk-organizations.js";

const unique = () => randomBytes(8).toString("hex");
export const newInvitationId = () => `orginv_${unique()}`;
export const newRoleId = () => `role_${unique()}`;
export const newPermissionId = () => `perm_${unique()}`;

const base = (name: string) => organizationFixture(`openapi.${name}`).data as Record<string, unknown>;

export interface InvitationOptions {
  id?: string;
  organizationId: string;
  emailAddress?: string;
  role?: string;
  status?: string;
  userId?: string | null;
  updatedAt?: number;
}

/** A Clerk `OrganizationInvitationJSON` built on the OpenAPI example. */
export function clerkInvitation(options: InvitationOptions): Record<string, unknown> {
  const invitation: Record<string, unknown> = {
    ...base("organizationInvitation.created"),
    id: options.id ?? newInvitationId(),
    organization_id: options.organizationId,
    email_address: options.emailAddress ?? `invitee-${unique()}@example.com`,
    role: options.role ?? "org:member",
    status: options.status ?? "pending",
    created_at: 1_700_000_000_000,
    updated_at: options.updatedAt ?? 1_700_000_000_000,
  };
  if (options.userId) invitation.user_id = options.userId;
  return invitation;
}

/** A Clerk `PermissionJSON`. */
export function clerkPermission(options: { id?: string; key: string; updatedAt?: number }): Record<string, unknown> {
  return {
    ...base("permission.created"),
    id: options.id ?? newPermissionId(),
    key: options.key,
    created_at: 1_700_000_000_000,
    updated_at: options.updatedAt ?? 1_700_000_000_000,
  };
}

/** A Clerk `RoleJSON` carrying `permissions` (keys). */
export function clerkRole(options: {
  id?: string;
  key: string;
  permissions: string[];
  updatedAt?: number;
}): Record<string, unknown> {
  return {
    ...base("role.created"),
    id: options.id ?? newRoleId(),
    key: options.key,
    permissions: options.permissions.map((key) => clerkPermission({ key })),
    created_at: 1_700_000_000_000,
    updated_at: options.updatedAt ?? 1_700_000_000_000,
  };
}
