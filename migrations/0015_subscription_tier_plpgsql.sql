-- The tier derivation of migration 0012, unchanged, in PL/pgSQL: a SQL function with SET search_path is never
-- inlined, and called from a trigger it was parsed and planned again in every transaction (about 160 µs of
-- PostgreSQL CPU on each new user, half again the cost of the whole write). PL/pgSQL keeps its plan for the session.
-- Still VOLATILE: each call reads a fresh snapshot (see 0012).
CREATE OR REPLACE FUNCTION private.subscription_tier(payer_type text, payer_id text) RETURNS text
  LANGUAGE plpgsql VOLATILE SET search_path = '' AS $fn$
BEGIN
  RETURN coalesce((
    SELECT s.plan_slug FROM public.subscription_items s
    WHERE s.payer_type = subscription_tier.payer_type AND s.payer_id = subscription_tier.payer_id
      AND (s.status IN ('active', 'past_due')
        OR (s.status = 'canceled' AND (s.period_end IS NULL OR s.period_end > now())))
    ORDER BY s.updated_at DESC, s.period_start DESC NULLS LAST, s.id DESC
    LIMIT 1), 'free');
END
$fn$;
--> statement-breakpoint
-- A user or organization first stored takes the tier of the items that arrived before it: once per statement, for
-- the rows it inserted that have items (rare), instead of a row trigger on every attempted insert (an upsert's
-- conflicting rows and a membership page's ON CONFLICT DO NOTHING organizations included).
CREATE OR REPLACE FUNCTION private.initial_subscription_tiers() RETURNS trigger
  LANGUAGE plpgsql SET search_path = '' AS $fn$
BEGIN
  IF TG_ARGV[0] = 'user' THEN
    UPDATE public.users u SET subscription_tier = t.tier
    FROM (SELECT n.id, private.subscription_tier('user', n.id) AS tier FROM stored n
          WHERE EXISTS (SELECT 1 FROM public.subscription_items s WHERE s.payer_type = 'user' AND s.payer_id = n.id)) t
    WHERE u.id = t.id AND u.subscription_tier IS DISTINCT FROM t.tier;
  ELSE
    UPDATE public.organizations o SET subscription_tier = t.tier
    FROM (SELECT n.id, private.subscription_tier('organization', n.id) AS tier FROM stored n
          WHERE EXISTS (SELECT 1 FROM public.subscription_items s
            WHERE s.payer_type = 'organization' AND s.payer_id = n.id)) t
    WHERE o.id = t.id AND o.subscription_tier IS DISTINCT FROM t.tier;
  END IF;
  RETURN NULL;
END
$fn$;
--> statement-breakpoint
DROP TRIGGER users_initial_subscription_tier ON public.users;
--> statement-breakpoint
DROP TRIGGER organizations_initial_subscription_tier ON public.organizations;
--> statement-breakpoint
DROP FUNCTION private.initial_subscription_tier();
--> statement-breakpoint
CREATE TRIGGER users_initial_subscription_tiers AFTER INSERT ON public.users
  REFERENCING NEW TABLE AS stored FOR EACH STATEMENT EXECUTE FUNCTION private.initial_subscription_tiers('user');
--> statement-breakpoint
CREATE TRIGGER organizations_initial_subscription_tiers AFTER INSERT ON public.organizations
  REFERENCING NEW TABLE AS stored FOR EACH STATEMENT EXECUTE FUNCTION private.initial_subscription_tiers('organization');
--> statement-breakpoint
-- A new function: executable by PUBLIC by default, and a trigger's function is nobody's to call.
REVOKE EXECUTE ON FUNCTION private.initial_subscription_tiers() FROM PUBLIC;
