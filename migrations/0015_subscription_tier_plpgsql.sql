-- The tier derivation of migration 0012, unchanged, in PL/pgSQL: a SQL function with SET search_path is never
-- inlined, and called from the users' and organizations' BEFORE INSERT trigger it was parsed and planned again in
-- every transaction (about 160 µs of PostgreSQL CPU on each new user, half again the cost of the whole write).
-- PL/pgSQL keeps its plan for the session. Still VOLATILE: each call reads a fresh snapshot (see 0012).
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
