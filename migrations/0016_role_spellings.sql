-- Clerk's member role has three spellings: `org:member` (keys and v1 tokens), `member` (v2 tokens' `o.rol`) and the
-- legacy `basic_member` (memberships of older instances). 0013 mapped `org:member` and `basic_member` to each other but
-- not `member`, so has_org_role(org, 'member') was false for a member stored as `basic_member`.
CREATE OR REPLACE FUNCTION private.role_spellings(role text) RETURNS text[]
  LANGUAGE sql IMMUTABLE SET search_path = '' AS $fn$
    SELECT CASE
      WHEN $1 IN ('org:member', 'member', 'basic_member') THEN ARRAY['org:member', 'member', 'basic_member']
      WHEN $1 LIKE 'org:%' THEN ARRAY[$1, substr($1, 5)]
      ELSE ARRAY[$1, 'org:' || $1] END
$fn$;
