CREATE TABLE "clerk_subscription_item_versions" (
	"subscription_item_id" text PRIMARY KEY NOT NULL,
	"payer_type" text NOT NULL,
	"payer_id" text NOT NULL,
	"clerk_updated_at" bigint NOT NULL,
	"deleted_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "clerk_subscription_item_versions" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "subscription_items" (
	"id" text PRIMARY KEY NOT NULL,
	"payer_type" text NOT NULL,
	"payer_id" text NOT NULL,
	"plan_slug" text NOT NULL,
	"plan_id" text,
	"status" text NOT NULL,
	"is_free_trial" boolean NOT NULL,
	"period_start" timestamp with time zone,
	"period_end" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "valid_payer_type" CHECK ("subscription_items"."payer_type" IN ('user', 'organization'))
);
--> statement-breakpoint
ALTER TABLE "subscription_items" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "organizations" ADD COLUMN "subscription_tier" text DEFAULT 'free' NOT NULL;--> statement-breakpoint
CREATE INDEX "idx_subscription_items_payer" ON "subscription_items" USING btree ("payer_type","payer_id");--> statement-breakpoint
CREATE POLICY "subscription_items_select_own" ON "subscription_items" AS PERMISSIVE FOR SELECT TO "authenticated" USING (("subscription_items"."payer_type" = 'user' AND "subscription_items"."payer_id" = (select auth.jwt() ->> 'sub'))
        OR ("subscription_items"."payer_type" = 'organization' AND "subscription_items"."payer_id" IN (SELECT private.my_organization_ids())));--> statement-breakpoint
CREATE POLICY "subscription_items_not_pending" ON "subscription_items" AS RESTRICTIVE FOR ALL TO "authenticated" USING (coalesce((select auth.jwt() ->> 'sts'), 'active') <> 'pending');--> statement-breakpoint
-- A payer's tier: the plan slug of its granting item with the latest updated_at (ties: the later period_start,
-- then the greater id); granting is active or past_due, or canceled until its period ends (Clerk keeps the plan's
-- features until then). No granting item: 'free'. VOLATILE, so that inside a trigger each call reads a fresh
-- snapshot: the items a concurrent writer committed while this one waited for the payer's lock are counted.
CREATE OR REPLACE FUNCTION private.subscription_tier(payer_type text, payer_id text) RETURNS text
  LANGUAGE sql VOLATILE SET search_path = '' AS $fn$
    SELECT coalesce((
      SELECT s.plan_slug FROM public.subscription_items s
      WHERE s.payer_type = subscription_tier.payer_type AND s.payer_id = subscription_tier.payer_id
        AND (s.status IN ('active', 'past_due')
          OR (s.status = 'canceled' AND (s.period_end IS NULL OR s.period_end > now())))
      ORDER BY s.updated_at DESC, s.period_start DESC NULLS LAST, s.id DESC
      LIMIT 1), 'free')
$fn$;
--> statement-breakpoint
-- After any statement that writes items: each payer it touched gets its tier again (one UPDATE per statement).
CREATE OR REPLACE FUNCTION private.refresh_subscription_tiers() RETURNS trigger
  LANGUAGE plpgsql SET search_path = '' AS $fn$
BEGIN
  UPDATE public.users u SET subscription_tier = t.tier
  FROM (SELECT p.payer_id, private.subscription_tier('user', p.payer_id) AS tier
        FROM (SELECT DISTINCT c.payer_id FROM changed c WHERE c.payer_type = 'user') p) t
  WHERE u.id = t.payer_id AND u.subscription_tier IS DISTINCT FROM t.tier;
  UPDATE public.organizations o SET subscription_tier = t.tier
  FROM (SELECT p.payer_id, private.subscription_tier('organization', p.payer_id) AS tier
        FROM (SELECT DISTINCT c.payer_id FROM changed c WHERE c.payer_type = 'organization') p) t
  WHERE o.id = t.payer_id AND o.subscription_tier IS DISTINCT FROM t.tier;
  RETURN NULL;
END
$fn$;
--> statement-breakpoint
CREATE TRIGGER subscription_items_tier_after_insert AFTER INSERT ON public.subscription_items
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION private.refresh_subscription_tiers();
--> statement-breakpoint
CREATE TRIGGER subscription_items_tier_after_update AFTER UPDATE ON public.subscription_items
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION private.refresh_subscription_tiers();
--> statement-breakpoint
CREATE TRIGGER subscription_items_tier_after_delete AFTER DELETE ON public.subscription_items
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION private.refresh_subscription_tiers();
--> statement-breakpoint
-- A user or organization first stored takes the tier of the items that arrived before it.
CREATE OR REPLACE FUNCTION private.initial_subscription_tier() RETURNS trigger
  LANGUAGE plpgsql SET search_path = '' AS $fn$
BEGIN
  NEW.subscription_tier := private.subscription_tier(TG_ARGV[0], NEW.id);
  RETURN NEW;
END
$fn$;
--> statement-breakpoint
CREATE TRIGGER users_initial_subscription_tier BEFORE INSERT ON public.users
  FOR EACH ROW EXECUTE FUNCTION private.initial_subscription_tier('user');
--> statement-breakpoint
CREATE TRIGGER organizations_initial_subscription_tier BEFORE INSERT ON public.organizations
  FOR EACH ROW EXECUTE FUNCTION private.initial_subscription_tier('organization');
--> statement-breakpoint
-- New tables in public: what Supabase's default privileges granted anon/authenticated on them is revoked, and the
-- row-level security design's grants (migration 0008) given again; members read their payers' items.
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
GRANT ALL ON subscription_items, clerk_subscription_item_versions TO service_role;
