import { sql } from "drizzle-orm";
import { bigint, check, index, pgPolicy, pgTable, text, timestamp } from "drizzle-orm/pg-core";
import { authenticatedRole } from "drizzle-orm/supabase";
import { myOrganizationIds, notPending } from "./policies.js";

/**
 * Organization invitations, roles and permissions, mirrored from Clerk (`created_at`/`updated_at` are Clerk's), and
 * the version tables that order their deliveries. The view `organization_seats` and the SQL helpers of the app's
 * own policies (`private.has_org_permission`, …) are hand-written in their migration (docs/sql.md).
 */

const clerkTimes = {
  createdAt: timestamp("created_at", { withTimezone: true }).notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull(),
};

/** No foreign key to `organizations`: an invitation can arrive before its organization (removed with it). */
export const organizationInvitations = pgTable(
  "organization_invitations",
  {
    id: text("id").primaryKey(),
    organizationId: text("organization_id").notNull(),
    emailAddress: text("email_address").notNull(),
    role: text("role").notNull(),
    status: text("status").notNull(),
    /** Who accepted it. */
    userId: text("user_id"),
    expiresAt: timestamp("expires_at", { withTimezone: true }),
    ...clerkTimes,
  },
  (t) => [
    check("valid_invitation_email", sql`${t.emailAddress} = lower(${t.emailAddress})`),
    index("idx_organization_invitations_organization_status").on(t.organizationId, t.status),
    pgPolicy("organization_invitations_select_member", {
      for: "select",
      to: authenticatedRole,
      using: sql`${t.organizationId} IN (SELECT ${myOrganizationIds})`,
    }),
    notPending("organization_invitations"),
  ],
);

/** Instance-wide (Clerk's organization roles): `permissions` holds the keys of the role's permissions. */
export const roles = pgTable(
  "roles",
  {
    id: text("id").primaryKey(),
    key: text("key").notNull().unique("roles_key_unique"),
    name: text("name"),
    description: text("description"),
    permissions: text("permissions").array().notNull().default(sql`'{}'::text[]`),
    ...clerkTimes,
  },
  () => [
    pgPolicy("roles_select_authenticated", { for: "select", to: authenticatedRole, using: sql`true` }),
    notPending("roles"),
  ],
);

export const permissions = pgTable(
  "permissions",
  {
    id: text("id").primaryKey(),
    key: text("key").notNull().unique("permissions_key_unique"),
    name: text("name"),
    description: text("description"),
    /** `system` or `custom`. */
    type: text("type"),
    ...clerkTimes,
  },
  () => [
    pgPolicy("permissions_select_authenticated", { for: "select", to: authenticatedRole, using: sql`true` }),
    notPending("permissions"),
  ],
);

/** Per id: the newest `updated_at` applied, and the tombstone that outlives the row (as for every kind). */
const versionsTable = (name: string, key: string) =>
  pgTable(name, {
    id: text(key).primaryKey(),
    clerkUpdatedAt: bigint("clerk_updated_at", { mode: "number" }).notNull(),
    deletedAt: timestamp("deleted_at", { withTimezone: true }),
  }).enableRLS();

export const clerkInvitationVersions = versionsTable("clerk_invitation_versions", "invitation_id");
export const clerkRoleVersions = versionsTable("clerk_role_versions", "role_id");
export const clerkPermissionVersions = versionsTable("clerk_permission_versions", "permission_id");
