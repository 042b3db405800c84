import { z } from "zod";
import {
  clerkId,
  clerkTime,
  MAX_EMAIL_LENGTH,
  MAX_NAME_LENGTH,
  MAX_ROLE_LENGTH,
  nullableText,
  parseOrThrow,
  storedText,
} from "./fields.js";

/**
 * Organization invitations, roles and permissions (`organizationInvitation.*`, `role.*`, `permission.*`): the fields
 * stored, bounded like every other payload (clerk/fields.ts). Payload shapes: ../shared/reference/clerk-billing.md.
 */

const MAX_DESCRIPTION_LENGTH = 2048;
/** Invitation statuses are short words (`pending`, `accepted`, `revoked`, and whatever Clerk adds). */
const MAX_STATUS_LENGTH = 64;
/** Permissions of one role: Clerk's system permissions and an instance's custom ones, far fewer than this. */
const MAX_ROLE_PERMISSIONS = 500;

const ClerkInvitationSchema = z.object({
  id: clerkId,
  organization_id: clerkId,
  email_address: storedText(MAX_EMAIL_LENGTH).min(1),
  role: storedText(MAX_ROLE_LENGTH).min(1),
  status: storedText(MAX_STATUS_LENGTH).min(1),
  user_id: clerkId.nullable().optional(),
  expires_at: clerkTime.nullable().optional(),
  created_at: clerkTime,
  updated_at: clerkTime,
});

const ClerkPermissionSchema = z.object({
  id: clerkId,
  key: storedText(MAX_ROLE_LENGTH).min(1),
  name: nullableText(MAX_NAME_LENGTH),
  description: nullableText(MAX_DESCRIPTION_LENGTH),
  type: nullableText(MAX_STATUS_LENGTH),
  created_at: clerkTime,
  updated_at: clerkTime,
});

const ClerkRoleSchema = z.object({
  id: clerkId,
  key: storedText(MAX_ROLE_LENGTH).min(1),
  name: nullableText(MAX_NAME_LENGTH),
  description: nullableText(MAX_DESCRIPTION_LENGTH),
  permissions: z.array(z.object({ key: storedText(MAX_ROLE_LENGTH).min(1) })).max(MAX_ROLE_PERMISSIONS),
  created_at: clerkTime,
  updated_at: clerkTime,
});

const DeletedSchema = z.object({ id: clerkId });

export interface ClerkInvitation {
  id: string;
  organizationId: string;
  /** Lower-cased, as users' addresses are. */
  emailAddress: string;
  role: string;
  status: string;
  /** Who accepted it. */
  userId: string | null;
  expiresAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface ClerkRole {
  id: string;
  key: string;
  name: string | null;
  description: string | null;
  /** The keys of its permissions. */
  permissions: string[];
  createdAt: number;
  updatedAt: number;
}

export interface ClerkPermission {
  id: string;
  key: string;
  name: string | null;
  description: string | null;
  type: string | null;
  createdAt: number;
  updatedAt: number;
}

export type ClerkTeamEvent =
  | {
      type: "organizationInvitation.created" | "organizationInvitation.accepted" | "organizationInvitation.revoked";
      invitation: ClerkInvitation;
    }
  | { type: "role.created" | "role.updated"; role: ClerkRole }
  | { type: "role.deleted"; roleId: string }
  | { type: "permission.created" | "permission.updated"; permission: ClerkPermission }
  | { type: "permission.deleted"; permissionId: string };

/** An `organizationInvitation.*`, `role.*` or `permission.*` event; undefined for any other type. */
export function parseClerkTeamEvent(type: string, data: unknown): ClerkTeamEvent | undefined {
  switch (type) {
    case "organizationInvitation.created":
    case "organizationInvitation.accepted":
    case "organizationInvitation.revoked":
      return { type, invitation: parseClerkInvitation(data) };
    case "role.created":
    case "role.updated":
      return { type, role: parseClerkRole(data) };
    case "role.deleted":
      return { type, roleId: parseOrThrow(DeletedSchema, data, "data").id };
    case "permission.created":
    case "permission.updated":
      return { type, permission: parseClerkPermission(data) };
    case "permission.deleted":
      return { type, permissionId: parseOrThrow(DeletedSchema, data, "data").id };
    default:
      return undefined;
  }
}

/** The Clerk ids an event is about, for logs (never an e-mail address). */
export function teamEventIds(event: ClerkTeamEvent): { organizationId?: string; objectId: string } {
  if ("invitation" in event) return { organizationId: event.invitation.organizationId, objectId: event.invitation.id };
  if ("role" in event) return { objectId: event.role.id };
  if ("permission" in event) return { objectId: event.permission.id };
  return { objectId: "roleId" in event ? event.roleId : event.permissionId };
}

/** A Clerk `OrganizationInvitationJSON` (a webhook's `data`, or a Backend API invitation's `raw`). */
export function parseClerkInvitation(data: unknown): ClerkInvitation {
  const parsed = parseOrThrow(ClerkInvitationSchema, data, "data");
  return {
    id: parsed.id,
    organizationId: parsed.organization_id,
    emailAddress: parsed.email_address.trim().toLowerCase(),
    role: parsed.role,
    status: parsed.status,
    userId: parsed.user_id ?? null,
    expiresAt: parsed.expires_at ?? null,
    createdAt: parsed.created_at,
    updatedAt: parsed.updated_at,
  };
}

/** A Clerk `RoleJSON` (its `permissions` are `PermissionJSON`s: their keys are kept). */
export function parseClerkRole(data: unknown): ClerkRole {
  const parsed = parseOrThrow(ClerkRoleSchema, data, "data");
  return {
    id: parsed.id,
    key: parsed.key,
    name: parsed.name ?? null,
    description: parsed.description ?? null,
    permissions: [...new Set(parsed.permissions.map((permission) => permission.key))],
    createdAt: parsed.created_at,
    updatedAt: parsed.updated_at,
  };
}

/** A Clerk `PermissionJSON`. */
export function parseClerkPermission(data: unknown): ClerkPermission {
  const parsed = parseOrThrow(ClerkPermissionSchema, data, "data");
  return {
    id: parsed.id,
    key: parsed.key,
    name: parsed.name ?? null,
    description: parsed.description ?? null,
    type: parsed.type ?? null,
    createdAt: parsed.created_at,
    updatedAt: parsed.updated_at,
  };
}
