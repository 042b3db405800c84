import { sql } from "drizzle-orm";
import { bigint, boolean, check, index, pgPolicy, pgTable, text, timestamp, unique } from "drizzle-orm/pg-core";
import { authenticatedRole } from "drizzle-orm/supabase";
import { STORED_OUTCOMES } from "../outcome.js";
import { clerkUserId, myOrganizationIds, notPending } from "./policies.js";

export * from "./schema-sync.js";
export * from "./schema-teams.js";

/*
 * Row-level security for Supabase's Data API (anyone with the anon key reaches `public`): a Clerk session, seen
 * through Supabase's Clerk third-party auth as `auth.jwt()`, may read its own user and workspace and rename that
 * workspace (column grants in 0001_supabase_roles.sql); `anon` gets nothing; a pending session nothing at all
 * (policies.ts `notPending`). The service connects as the owner.
 */

const timestamps = {
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
};

export const users = pgTable(
  "users",
  {
    id: text("id").primaryKey(),
    email: text("email").notNull(),
    username: text("username").notNull(),
    firstName: text("first_name"),
    lastName: text("last_name"),
    avatarUrl: text("avatar_url"),
    subscriptionTier: text("subscription_tier").notNull().default("free"),
    storageUsed: bigint("storage_used", { mode: "number" }).notNull().default(0),
    storageLimit: bigint("storage_limit", { mode: "number" }).notNull().default(2147483648),
    ...timestamps,
  },
  (t) => [
    unique("users_email_unique").on(t.email),
    unique("users_username_unique").on(t.username),
    check(
      "valid_email",
      sql`${t.email} ~ '^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:]]+$' AND ${t.email} = lower(${t.email})`,
    ),
    check("valid_username", sql`${t.username} ~ '^[a-zA-Z0-9_]{3,30}$'`),
    check("valid_storage_used", sql`${t.storageUsed} >= 0`),
    check("valid_storage_limit", sql`${t.storageLimit} > 0`),
    index("idx_users_created_at").on(t.createdAt),
    pgPolicy("users_select_own", { for: "select", to: authenticatedRole, using: sql`${t.id} = ${clerkUserId}` }),
    notPending("users"),
  ],
);

export const workspaces = pgTable(
  "workspaces",
  {
    id: text("id").primaryKey().default(sql`gen_random_uuid()::text`),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    name: text("name").notNull().default("My Workspace"),
    ...timestamps,
  },
  (t) => [
    unique("unique_user_workspace").on(t.userId),
    check("valid_workspace_name", sql`char_length(${t.name}) BETWEEN 1 AND 100 AND ${t.name} = btrim(${t.name})`),
    index("idx_workspaces_created_at").on(t.createdAt),
    pgPolicy("workspaces_select_own", {
      for: "select",
      to: authenticatedRole,
      using: sql`${t.userId} = ${clerkUserId}`,
    }),
    pgPolicy("workspaces_update_own", {
      for: "update",
      to: authenticatedRole,
      using: sql`${t.userId} = ${clerkUserId}`,
      withCheck: sql`${t.userId} = ${clerkUserId}`,
    }),
    notPending("workspaces"),
  ],
);

/**
 * The newest Clerk state applied per user id, and its tombstone. It outlives the `users` row, so a late or
 * replayed event can neither undo a newer one nor resurrect a deleted user. Its row lock serialises all events of
 * one user.
 */
export const clerkUserVersions = pgTable("clerk_user_versions", {
  userId: text("user_id").primaryKey(),
  clerkUpdatedAt: bigint("clerk_updated_at", { mode: "number" }).notNull(),
  deletedAt: timestamp("deleted_at", { withTimezone: true }),
}).enableRLS();

/**
 * Clerk Organizations (team workspaces) and their memberships, mirrored from Clerk: `created_at`/`updated_at` are
 * Clerk's. A membership's `updated_at` is what orders two facts about one organization and user (a newer membership id
 * replaces an older one in place). No foreign key to `users`: a membership can arrive before its user.
 */
export const organizations = pgTable(
  "organizations",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    slug: text("slug"),
    imageUrl: text("image_url"),
    createdBy: text("created_by"),
    /** The plan of the organization's Clerk Billing items (`private.subscription_tier`, docs/billing.md). */
    subscriptionTier: text("subscription_tier").notNull().default("free"),
    ...timestamps,
  },
  (t) => [
    pgPolicy("organizations_select_member", {
      for: "select",
      to: authenticatedRole,
      using: sql`${t.id} IN (SELECT ${myOrganizationIds})`,
    }),
    notPending("organizations"),
  ],
);

export const organizationMemberships = pgTable(
  "organization_memberships",
  {
    id: text("id").primaryKey(),
    organizationId: text("organization_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    userId: text("user_id").notNull(),
    role: text("role").notNull(),
    ...timestamps,
  },
  (t) => [
    unique("unique_organization_member").on(t.organizationId, t.userId),
    index("idx_organization_memberships_user_id").on(t.userId),
    pgPolicy("organization_memberships_select_member", {
      for: "select",
      to: authenticatedRole,
      using: sql`${t.organizationId} IN (SELECT ${myOrganizationIds})`,
    }),
    notPending("organization_memberships"),
  ],
);

/**
 * The newest Clerk state applied per organization, and its tombstone (`organization.deleted`). Every write touching
 * an organization or its memberships takes this row's lock first, so they are serialised with its deletion.
 */
export const clerkOrganizationVersions = pgTable("clerk_organization_versions", {
  organizationId: text("organization_id").primaryKey(),
  clerkUpdatedAt: bigint("clerk_updated_at", { mode: "number" }).notNull(),
  deletedAt: timestamp("deleted_at", { withTimezone: true }),
}).enableRLS();

/**
 * Per membership id: the newest `updated_at` applied, and its tombstone (`organizationMembership.deleted`), which
 * outlives the membership row: a late event of a deleted membership id never brings it back.
 */
export const clerkMembershipVersions = pgTable("clerk_membership_versions", {
  membershipId: text("membership_id").primaryKey(),
  organizationId: text("organization_id").notNull(),
  userId: text("user_id").notNull(),
  clerkUpdatedAt: bigint("clerk_updated_at", { mode: "number" }).notNull(),
  deletedAt: timestamp("deleted_at", { withTimezone: true }),
}).enableRLS();

/**
 * Clerk Billing's subscription items (`csub_item_…`), each of one payer: a user or an organization (no foreign key:
 * an item can arrive before its payer). `created_at`/`updated_at` are Clerk's. A payer's tier
 * (`users.subscription_tier`, `organizations.subscription_tier`) is derived from its items by
 * `private.subscription_tier` (the subscription_items migration), recomputed by triggers whenever items are written
 * and when the payer is first stored.
 */
export const subscriptionItems = pgTable(
  "subscription_items",
  {
    id: text("id").primaryKey(),
    payerType: text("payer_type").notNull(),
    payerId: text("payer_id").notNull(),
    planSlug: text("plan_slug").notNull(),
    planId: text("plan_id"),
    status: text("status").notNull(),
    isFreeTrial: boolean("is_free_trial").notNull(),
    periodStart: timestamp("period_start", { withTimezone: true }),
    periodEnd: timestamp("period_end", { withTimezone: true }),
    ...timestamps,
  },
  (t) => [
    check("valid_payer_type", sql`${t.payerType} IN ('user', 'organization')`),
    index("idx_subscription_items_payer").on(t.payerType, t.payerId),
    pgPolicy("subscription_items_select_own", {
      for: "select",
      to: authenticatedRole,
      using: sql`(${t.payerType} = 'user' AND ${t.payerId} = ${clerkUserId})
        OR (${t.payerType} = 'organization' AND ${t.payerId} IN (SELECT ${myOrganizationIds}))`,
    }),
    pgPolicy("subscription_items_not_pending", {
      as: "restrictive",
      for: "all",
      to: authenticatedRole,
      using: sql`coalesce((select auth.jwt() ->> 'sts'), 'active') <> 'pending'`,
    }),
  ],
);

/**
 * Per subscription item: the newest `updated_at` applied, whose it is (payer), and a tombstone. Items are locked
 * after their payer's version row (`clerk_user_versions` / `clerk_organization_versions`), whose tombstone keeps a
 * deleted payer's late items out.
 */
export const clerkSubscriptionItemVersions = pgTable("clerk_subscription_item_versions", {
  subscriptionItemId: text("subscription_item_id").primaryKey(),
  payerType: text("payer_type").notNull(),
  payerId: text("payer_id").notNull(),
  clerkUpdatedAt: bigint("clerk_updated_at", { mode: "number" }).notNull(),
  deletedAt: timestamp("deleted_at", { withTimezone: true }),
}).enableRLS();

/** Every verified delivery by id (Svix's `msg_…`, or ours: provisioning/deliveries.ts): idempotency key, audit trail. */
export const clerkDeliveries = pgTable(
  "clerk_deliveries",
  {
    deliveryId: text("delivery_id").primaryKey(),
    eventType: text("event_type").notNull(),
    clerkUserId: text("clerk_user_id"),
    outcome: text("outcome").notNull(),
    reason: text("reason"),
    receivedAt: timestamp("received_at", { withTimezone: true }).notNull(),
    processedAt: timestamp("processed_at", { withTimezone: true }).notNull().defaultNow(),
    /** When `npm run replay` last re-ran this (skipped or failed) delivery; its outcome and reason are the replay's. */
    replayedAt: timestamp("replayed_at", { withTimezone: true }),
  },
  (t) => [
    check("valid_outcome", sql`${t.outcome} IN (${sql.raw(STORED_OUTCOMES.map((o) => `'${o}'`).join(", "))})`),
    index("idx_clerk_deliveries_received_at").on(t.receivedAt),
  ],
).enableRLS();
