-- What Supabase provides, created only where it is missing (plain PostgreSQL, PGlite), so the same migrations and
-- the same row-level security policies run and are tested everywhere. On Supabase every statement here is a no-op
-- except the grants, which narrow Supabase's default "ALL to anon, authenticated" on our tables.
DO $$
DECLARE
  role_name text;
BEGIN
  FOREACH role_name IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
      BEGIN
        IF role_name = 'service_role' THEN
          EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT BYPASSRLS', role_name);
        ELSE
          EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT', role_name);
        END IF;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL; -- roles are cluster-wide: another database's migration made it a moment ago
      END;
    END IF;
  END LOOP;
END
$$;
--> statement-breakpoint
CREATE SCHEMA IF NOT EXISTS auth;
--> statement-breakpoint
DO $$
BEGIN
  IF to_regprocedure('auth.jwt()') IS NULL THEN
    -- Supabase's own definition (supabase/auth migrations): the claims PostgREST puts in the request settings.
    CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $fn$
      SELECT coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
      )::jsonb
    $fn$;
  END IF;
END
$$;
--> statement-breakpoint
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION auth.jwt() TO anon, authenticated, service_role;
--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
--> statement-breakpoint
REVOKE ALL ON users, workspaces, clerk_deliveries, clerk_user_versions FROM anon, authenticated;
--> statement-breakpoint
GRANT SELECT ON users, workspaces TO authenticated;
--> statement-breakpoint
GRANT UPDATE (name) ON workspaces TO authenticated;
--> statement-breakpoint
GRANT ALL ON users, workspaces, clerk_deliveries, clerk_user_versions TO service_role;
