import { sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { type ClerkInvitation, parseClerkInvitation } from "../../clerk/team-events.js";
import { defineStatement } from "../../db/query.js";
import { clerkInvitationVersions, clerkOrganizationVersions, organizationInvitations } from "../../db/schema.js";
import { type CopiedTable, fromClerkTime, writeCopied } from "../engine/copied-rows.js";
import { defineKind } from "../engine/define-kind.js";
import { classifyInvitations } from "./classify.js";

/**
 * Organization invitations (`organizationInvitation.created/.accepted/.revoked`). Why the rules hold:
 *
 * - Every invitation write takes its organization's version-row lock first (inserting a version row at 0 for an
 *   organization not stored yet, as memberships do for users), and writes nothing once that organization is
 *   tombstoned. `organization.deleted` tombstones the same row first and deletes the organization's invitations in
 *   its second statement, so an invitation either commits before it (and is deleted) or sees the tombstone.
 * - Per invitation id, Clerk's `updated_at` orders the facts (the engine's version row). Clerk never turns an
 *   accepted or revoked invitation pending again; the upsert's guard keeps it so even if a stale listing or a
 *   replay claims a newer `pending`.
 */

type InvitationField = "emailAddress" | "role" | "status" | "userId";
const COPIED = {
  emailAddress: organizationInvitations.emailAddress,
  role: organizationInvitations.role,
  status: organizationInvitations.status,
  userId: organizationInvitations.userId,
} as const satisfies Record<InvitationField, PgColumn>;

const invitationRows: CopiedTable = {
  table: organizationInvitations,
  keys: { id: organizationInvitations.id, organization_id: organizationInvitations.organizationId },
  copied: Object.fromEntries(
    [...Object.values(COPIED), organizationInvitations.expiresAt].map((column) => [column.name, column]),
  ),
};

/** The organization's lock, never taken once it is tombstoned. */
const organizationLock = sql`org_lock AS (
    INSERT INTO ${clerkOrganizationVersions} (organization_id, clerk_updated_at)
    SELECT DISTINCT organization_id, 0::bigint FROM input ORDER BY organization_id
    ON CONFLICT (organization_id) DO UPDATE SET organization_id = excluded.organization_id
      WHERE ${clerkOrganizationVersions.deletedAt} IS NULL
    RETURNING organization_id
  ), `;

const locked = sql`i.organization_id IN (SELECT organization_id FROM org_lock)`;

/** An invitation to remove (sync --prune): its id and organization. */
export interface InvitationKey {
  id: string;
  organizationId: string;
}

const deleteInvitations = defineStatement<{ ids: string[] }>(
  (v) => sql`DELETE FROM ${organizationInvitations} WHERE ${organizationInvitations.id} = ANY(${v.ids}::text[])`,
);

export const invitationKind = defineKind<ClerkInvitation, InvitationField, InvitationKey>({
  name: "invitations",
  noun: "invitation",
  fromClerk: (raw) => ({ row: parseClerkInvitation(raw) }),
  classify: classifyInvitations,
  versions: {
    table: clerkInvitationVersions,
    key: clerkInvitationVersions.id,
    clerkUpdatedAt: clerkInvitationVersions.clerkUpdatedAt,
    deletedAt: clerkInvitationVersions.deletedAt,
  },
  copied: COPIED,
  copiedOf: (row, field) => row[field],
  inputs: {
    organization_id: { type: "text", of: (row) => row.organizationId },
    created_at: { type: "bigint", of: (row) => row.createdAt },
    expires_at_ms: { type: "bigint", of: (row) => row.expiresAt },
  },
  idOf: (row) => row.id,
  updatedAtOf: (row) => row.updatedAt,
  rules: {
    before: organizationLock,
    versionGuard: locked,
    writes: (_, shape) =>
      writeCopied(invitationRows, shape, {
        conflict: sql`(id)`,
        order: sql`i.id`,
        computed: sql`, ${fromClerkTime(sql`i.expires_at_ms`)} AS expires_at`,
        guard: sql`${organizationInvitations.status} = 'pending' OR excluded.status <> 'pending'`,
      }),
    gone: sql`NOT (${locked})`,
    deliveryUser: sql`i.user_id`,
  },
  removal: {
    columns: {},
    values: (key) => ({ id: key.id }),
    deliveryUser: sql`NULL::text`,
    remove: (ids) => deleteInvitations({ ids }),
  },
});
