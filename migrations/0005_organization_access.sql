-- Who may read organizations (row-level security policies in 0006): the organization ids the session's user is a
-- member of, by the stored memberships (not the token's active organization). A security definer function in a
-- schema the Data API does not expose: it reads organization_memberships as its owner, so a policy on that very table
-- can use it without recursing into its own policy. Empty search_path: every name below is schema-qualified.
CREATE SCHEMA IF NOT EXISTS private;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION private.my_organization_ids() RETURNS SETOF text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $fn$
    SELECT m.organization_id FROM public.organization_memberships m
    WHERE m.user_id = (SELECT auth.jwt() ->> 'sub')
$fn$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION private.my_organization_ids() FROM PUBLIC, anon;
--> statement-breakpoint
GRANT USAGE ON SCHEMA private TO authenticated;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION private.my_organization_ids() TO authenticated;
--> statement-breakpoint
REVOKE ALL ON organizations, organization_memberships, clerk_organization_versions, clerk_membership_versions
  FROM anon, authenticated;
--> statement-breakpoint
GRANT SELECT ON organizations, organization_memberships TO authenticated;
--> statement-breakpoint
GRANT ALL ON organizations, organization_memberships, clerk_organization_versions, clerk_membership_versions
  TO service_role;
