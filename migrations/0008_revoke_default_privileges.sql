-- A Supabase project grants anon and authenticated ALL on every new table, sequence and function in public
-- (ALTER DEFAULT PRIVILEGES), which left sync_runs, sync_run_users and their sequence open to the Data API
-- (TRUNCATE ignores row-level security). Whatever the defaults were, anon and authenticated end with exactly what
-- the row-level security design grants them (migrations 0001, 0002) and nothing else.
--
-- NOTE for later migrations that add tables, sequences or functions in public (organizations, …): end them with
--   SELECT private.lock_down_privileges();
-- followed by every GRANT to anon / authenticated the design allows: the ones at the end of this file and the new
-- tables' own. The function revokes everything from those roles, including earlier grants.
CREATE SCHEMA IF NOT EXISTS private;
--> statement-breakpoint
REVOKE ALL ON SCHEMA private FROM PUBLIC;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION private.lock_down_privileges() RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  object record;
BEGIN
  FOR object IN
    SELECT c.oid::regclass AS name, c.relkind = 'S' AS is_sequence
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  LOOP
    IF object.is_sequence THEN
      EXECUTE format('REVOKE ALL ON SEQUENCE %s FROM anon, authenticated', object.name);
    ELSE
      EXECUTE format('REVOKE ALL ON TABLE %s FROM anon, authenticated', object.name);
    END IF;
  END LOOP;
  -- Ours, in public and private; auth.jwt() is Supabase's and stays executable.
  FOR object IN
    SELECT p.oid::regprocedure AS name
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname IN ('public', 'private') AND p.prokind IN ('f', 'p')
  LOOP
    EXECUTE format('REVOKE EXECUTE ON ROUTINE %s FROM PUBLIC, anon, authenticated', object.name);
  END LOOP;
END
$fn$;
--> statement-breakpoint
SELECT private.lock_down_privileges();
--> statement-breakpoint
GRANT SELECT ON users, workspaces TO authenticated;
--> statement-breakpoint
GRANT UPDATE (name) ON workspaces TO authenticated;
--> statement-breakpoint
GRANT SELECT ON organizations, organization_memberships TO authenticated;
--> statement-breakpoint
GRANT USAGE ON SCHEMA private TO authenticated;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION private.my_organization_ids() TO authenticated;
