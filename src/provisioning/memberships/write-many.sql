WITH input AS (
    SELECT i.*, v.clerk_updated_at, v.deleted_at,
      v.deleted_at IS NULL AND (v.clerk_updated_at IS NULL OR v.clerk_updated_at < i.updated_at) AS newer
    FROM (SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::text[], $10::text[], $11::text[], $12::text[]) WITH ORDINALITY
      AS i("id", "updated_at", "role", "organization_id", "user_id", "created_at", "org_created_at", "org_updated_at", "org_name", "org_slug", "org_image_url", "org_created_by", "position")) i
    LEFT JOIN LATERAL (SELECT v.clerk_updated_at, v.deleted_at FROM "clerk_membership_versions" v
      WHERE v."membership_id" = i.id LIMIT 1) v ON true
  ), org_lock AS (
    INSERT INTO "clerk_organization_versions" (organization_id, clerk_updated_at)
    SELECT DISTINCT ON (organization_id) organization_id, org_updated_at FROM input i
    WHERE i.newer OR (SELECT 1 FROM "organizations" o WHERE o.id = i.organization_id LIMIT 1) IS NULL
    ORDER BY organization_id
    ON CONFLICT (organization_id) DO UPDATE SET organization_id = excluded.organization_id
      WHERE "clerk_organization_versions"."deleted_at" IS NULL
    RETURNING organization_id
  ), org_row AS (
    INSERT INTO "organizations" ("id", "name", "slug", "image_url", "created_by", created_at, updated_at)
    SELECT o."org_id", o."org_name", o."org_slug", o."org_image_url", o."org_created_by", ('epoch'::timestamptz + o."org_created_at" * interval '1 millisecond'), ('epoch'::timestamptz + o."org_updated_at" * interval '1 millisecond')
    FROM (SELECT DISTINCT ON (i.organization_id) i.organization_id AS org_id, i.*
      FROM input i JOIN org_lock USING (organization_id) ORDER BY i.organization_id) o
    ON CONFLICT (id) DO NOTHING
  ), user_lock AS (
    INSERT INTO "clerk_user_versions" (user_id, clerk_updated_at)
    SELECT DISTINCT i.user_id, 0::bigint FROM input i JOIN org_lock USING (organization_id) WHERE i.newer
    ORDER BY i.user_id
    ON CONFLICT (user_id) DO UPDATE SET user_id = excluded.user_id WHERE "clerk_user_versions"."deleted_at" IS NULL
    RETURNING user_id
  ), version AS (
    INSERT INTO "clerk_membership_versions" ("membership_id", "organization_id", "user_id", "clerk_updated_at")
    SELECT i.id, i."organization_id", i."user_id", i.updated_at FROM input i
    WHERE i.newer AND (i.organization_id IN (SELECT organization_id FROM org_lock) AND i.user_id IN (SELECT user_id FROM user_lock)) IS TRUE
    ORDER BY i.id
    ON CONFLICT ("membership_id") DO UPDATE SET clerk_updated_at = excluded.clerk_updated_at
      WHERE "clerk_membership_versions"."deleted_at" IS NULL AND "clerk_membership_versions"."clerk_updated_at" < excluded.clerk_updated_at
    RETURNING "membership_id" AS id
  ), written AS (
    INSERT INTO "organization_memberships" ("id", "organization_id", "user_id", "role", created_at, updated_at)
    SELECT o."id", o."organization_id", o."user_id", o."role", ('epoch'::timestamptz + o."created_at" * interval '1 millisecond'), ('epoch'::timestamptz + o."updated_at" * interval '1 millisecond')
    FROM (SELECT i.* FROM input i JOIN version USING (id) ORDER BY i.organization_id, i.user_id) o
    ON CONFLICT ON CONSTRAINT unique_organization_member DO UPDATE SET id = excluded.id, "role" = excluded."role",
      created_at = excluded.created_at, updated_at = excluded.updated_at
      WHERE "organization_memberships"."updated_at" < excluded.updated_at
    RETURNING id, (xmax = 0) AS created
  ), results AS (
    SELECT i.id, CASE
        WHEN i.id IN (SELECT id FROM written WHERE created) THEN 'created'
        WHEN i.id IN (SELECT id FROM written) THEN 'updated'
        WHEN i.deleted_at IS NOT NULL OR i.newer AND NOT (i.organization_id IN (SELECT organization_id FROM org_lock) AND i.user_id IN (SELECT user_id FROM user_lock)) THEN 'deleted'
        WHEN i.clerk_updated_at = i.updated_at THEN 'unchanged'
        ELSE 'stored_newer' END AS result
    FROM input i
  )
  SELECT id, result FROM results WHERE result <> 'unchanged'
