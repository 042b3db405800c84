import { sql } from "drizzle-orm";
import { bigint, check, index, pgPolicy, pgTable, text, timestamp, unique } from "drizzle-orm/pg-core";
import { authenticatedRole } from "drizzle-orm/supabase";

/**
 * Row-level security for Supabase's Data API (anyone with the anon key reaches `public`): a Clerk session, seen
 * through Supabase's Clerk third-party auth as `auth.jwt()`, may read its own user and workspace and rename that
 * workspace (column grants in 0001_supabase_roles.sql); `anon` gets nothing. The service connects as the owner.
 */
const clerkUserId = sql`(select auth.jwt() ->> 'sub')`;

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

/** Every verified delivery, by svix id: the idempotency key and the audit trail. */
export const clerkDeliveries = pgTable("clerk_deliveries", {
  svixId: text("svix_id").primaryKey(),
  eventType: text("event_type").notNull(),
  clerkUserId: text("clerk_user_id"),
  outcome: text("outcome").notNull(),
  reason: text("reason"),
  receivedAt: timestamp("received_at", { withTimezone: true }).notNull(),
  processedAt: timestamp("processed_at", { withTimezone: true }).notNull().defaultNow(),
}).enableRLS();
