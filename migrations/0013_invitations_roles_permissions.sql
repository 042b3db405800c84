CREATE TABLE "clerk_invitation_versions" (
	"invitation_id" text PRIMARY KEY NOT NULL,
	"clerk_updated_at" bigint NOT NULL,
	"deleted_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "clerk_invitation_versions" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "clerk_permission_versions" (
	"permission_id" text PRIMARY KEY NOT NULL,
	"clerk_updated_at" bigint NOT NULL,
	"deleted_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "clerk_permission_versions" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "clerk_role_versions" (
	"role_id" text PRIMARY KEY NOT NULL,
	"clerk_updated_at" bigint NOT NULL,
	"deleted_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "clerk_role_versions" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "organization_invitations" (
	"id" text PRIMARY KEY NOT NULL,
	"organization_id" text NOT NULL,
	"email_address" text NOT NULL,
	"role" text NOT NULL,
	"status" text NOT NULL,
	"user_id" text,
	"expires_at" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "valid_invitation_email" CHECK ("organization_invitations"."email_address" = lower("organization_invitations"."email_address"))
);
--> statement-breakpoint
ALTER TABLE "organization_invitations" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "permissions" (
	"id" text PRIMARY KEY NOT NULL,
	"key" text NOT NULL,
	"name" text,
	"description" text,
	"type" text,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "permissions_key_unique" UNIQUE("key")
);
--> statement-breakpoint
ALTER TABLE "permissions" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "roles" (
	"id" text PRIMARY KEY NOT NULL,
	"key" text NOT NULL,
	"name" text,
	"description" text,
	"permissions" text[] DEFAULT '{}'::text[] NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "roles_key_unique" UNIQUE("key")
);
--> statement-breakpoint
ALTER TABLE "roles" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE INDEX "idx_organization_invitations_organization_status" ON "organization_invitations" USING btree ("organization_id","status");--> statement-breakpoint
CREATE POLICY "organization_memberships_not_pending" ON "organization_memberships" AS RESTRICTIVE FOR ALL TO "authenticated" USING (coalesce((select auth.jwt() ->> 'sts'), 'active') <> 'pending') WITH CHECK (coalesce((select auth.jwt() ->> 'sts'), 'active') <> 'pending');--> statement-breakpoint
CREATE POLICY "organizations_not_pending" ON "organizations" AS RESTRICTIVE FOR ALL TO "authenticated" USING (coalesce((select auth.jwt() ->> 'sts'), 'active') <> 'pending') WITH CHECK (coalesce((select auth.jwt() ->> 'sts'), 'active') <> 'pending');--> statement-breakpoint
CREATE POLICY "users_not_pending" ON "users" AS RESTRICTIVE FOR ALL TO "authenticated" USING (coalesce((select auth.jwt() ->> 'sts'), 'active') <> 'pending') WITH CHECK (coalesce((select auth.jwt() ->> 'sts'), 'active') <> 'pending');--> statement-breakpoint
CREATE POLICY "workspaces_not_pending" ON "workspaces" AS RESTRICTIVE FOR ALL TO "authenticated" USING (coalesce((select auth.jwt() ->> 'sts'), 'active') <> 'pending') WITH CHECK (coalesce((select auth.jwt() ->> 'sts'), 'active') <> 'pending');--> statement-breakpoint
CREATE POLICY "organization_invitations_select_member" ON "organization_invitations" AS PERMISSIVE FOR SELECT TO "authenticated" USING ("organization_invitations"."organization_id" IN (SELECT private.my_organization_ids()));--> statement-breakpoint
CREATE POLICY "organization_invitations_not_pending" ON "organization_invitations" AS RESTRICTIVE FOR ALL TO "authenticated" USING (coalesce((select auth.jwt() ->> 'sts'), 'active') <> 'pending') WITH CHECK (coalesce((select auth.jwt() ->> 'sts'), 'active') <> 'pending');--> statement-breakpoint
CREATE POLICY "permissions_select_authenticated" ON "permissions" AS PERMISSIVE FOR SELECT TO "authenticated" USING (true);--> statement-breakpoint
CREATE POLICY "permissions_not_pending" ON "permissions" AS RESTRICTIVE FOR ALL TO "authenticated" USING (coalesce((select auth.jwt() ->> 'sts'), 'active') <> 'pending') WITH CHECK (coalesce((select auth.jwt() ->> 'sts'), 'active') <> 'pending');--> statement-breakpoint
CREATE POLICY "roles_select_authenticated" ON "roles" AS PERMISSIVE FOR SELECT TO "authenticated" USING (true);--> statement-breakpoint
CREATE POLICY "roles_not_pending" ON "roles" AS RESTRICTIVE FOR ALL TO "authenticated" USING (coalesce((select auth.jwt() ->> 'sts'), 'active') <> 'pending') WITH CHECK (coalesce((select auth.jwt() ->> 'sts'), 'active') <> 'pending');--> statement-breakpoint
-- Seats: members and pending invitations of each organization in one query. security_invoker: it reads the tables
-- as the caller, so their row-level security applies (a member sees their organizations' seats, nobody else any).
CREATE VIEW "organization_seats" WITH (security_invoker = true) AS
  SELECT o.id AS organization_id,
    (SELECT count(*) FROM public.organization_memberships m WHERE m.organization_id = o.id)::int AS members,
    (SELECT count(*) FROM public.organization_invitations i
      WHERE i.organization_id = o.id AND i.status = 'pending')::int AS pending_invitations
  FROM public.organizations o;
--> statement-breakpoint
-- The helpers of the app's own policies (docs/sql.md). Security definer: they read the stored memberships and roles
-- as their owner, whatever the caller may read; empty search_path: every name is schema-qualified. A pending session
-- (`sts = 'pending'`) is signed out for them: no organization, no role, no permission.
CREATE OR REPLACE FUNCTION private.my_organization_ids() RETURNS SETOF text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $fn$
    SELECT m.organization_id FROM public.organization_memberships m
    WHERE m.user_id = (SELECT auth.jwt() ->> 'sub')
      AND coalesce((SELECT auth.jwt() ->> 'sts'), 'active') <> 'pending'
$fn$;
--> statement-breakpoint
-- The token's active organization: `o.id` in v2 session tokens, `org_id` in v1.
CREATE OR REPLACE FUNCTION private.active_organization_id() RETURNS text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $fn$
    SELECT CASE WHEN coalesce(c ->> 'sts', 'active') = 'pending' THEN NULL
      ELSE coalesce(nullif(c -> 'o' ->> 'id', ''), nullif(c ->> 'org_id', '')) END
    FROM (SELECT auth.jwt() AS c) claims
$fn$;
--> statement-breakpoint
-- A role key and its other spelling: Clerk's `org:admin` / `org:member` and the legacy `admin` / `basic_member`
-- (any other `org:x` and `x`).
CREATE OR REPLACE FUNCTION private.role_spellings(role text) RETURNS text[]
  LANGUAGE sql IMMUTABLE SET search_path = '' AS $fn$
    SELECT ARRAY[$1, CASE $1 WHEN 'org:member' THEN 'basic_member' WHEN 'basic_member' THEN 'org:member'
      ELSE CASE WHEN $1 LIKE 'org:%' THEN substr($1, 5) ELSE 'org:' || $1 END END]
$fn$;
--> statement-breakpoint
-- Whether the session's user is a member of `organization_id` with `role` (by the stored membership, through
-- unique_organization_member's index; never the token's role claim).
CREATE OR REPLACE FUNCTION private.has_org_role(organization_id text, role text) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $fn$
    SELECT coalesce((SELECT auth.jwt() ->> 'sts'), 'active') <> 'pending' AND EXISTS (
      SELECT 1 FROM public.organization_memberships m
      WHERE m.organization_id = $1 AND m.user_id = (SELECT auth.jwt() ->> 'sub')
        AND m.role = ANY (private.role_spellings($2)))
$fn$;
--> statement-breakpoint
-- Whether the session's user's role in `organization_id` carries `permission` (the mirrored roles' permission keys;
-- the role looked up by its unique key).
CREATE OR REPLACE FUNCTION private.has_org_permission(organization_id text, permission text) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $fn$
    SELECT coalesce((SELECT auth.jwt() ->> 'sts'), 'active') <> 'pending' AND EXISTS (
      SELECT 1 FROM public.organization_memberships m
      JOIN public.roles r ON r.key = ANY (private.role_spellings(m.role))
      WHERE m.organization_id = $1 AND m.user_id = (SELECT auth.jwt() ->> 'sub')
        AND $2 = ANY (r.permissions))
$fn$;
--> statement-breakpoint
-- New tables and a view in public: what Supabase's default privileges granted is revoked, and the design's grants
-- given again (those of 0010, then the new ones).
SELECT private.lock_down_privileges();
--> statement-breakpoint
GRANT SELECT ON users, workspaces TO authenticated;
--> statement-breakpoint
GRANT UPDATE (name) ON workspaces TO authenticated;
--> statement-breakpoint
GRANT SELECT ON organizations, organization_memberships, subscription_items TO authenticated;
--> statement-breakpoint
GRANT USAGE ON SCHEMA private TO authenticated;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION private.my_organization_ids() TO authenticated;
--> statement-breakpoint
GRANT SELECT ON organization_invitations, roles, permissions, organization_seats TO authenticated;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION private.active_organization_id(), private.has_org_role(text, text),
  private.has_org_permission(text, text) TO authenticated;
