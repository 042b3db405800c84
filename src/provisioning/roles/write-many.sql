WITH input AS (
    SELECT i.*, v.clerk_updated_at, v.deleted_at,
      v.deleted_at IS NULL AND (v.clerk_updated_at IS NULL OR v.clerk_updated_at < i.updated_at) AS newer
    FROM (SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[]) WITH ORDINALITY
      AS i("id", "updated_at", "key", "name", "description", "created_at", "permission_keys", "position")) i
    LEFT JOIN LATERAL (SELECT v.clerk_updated_at, v.deleted_at FROM "clerk_role_versions" v
      WHERE v."role_id" = i.id LIMIT 1) v ON true
  ), version AS (
    INSERT INTO "clerk_role_versions" ("role_id", "clerk_updated_at")
    SELECT i.id, i.updated_at FROM input i
    WHERE i.newer
    ORDER BY i.id
    ON CONFLICT ("role_id") DO UPDATE SET clerk_updated_at = excluded.clerk_updated_at
      WHERE "clerk_role_versions"."deleted_at" IS NULL AND "clerk_role_versions"."clerk_updated_at" < excluded.clerk_updated_at
    RETURNING "role_id" AS id
  ), written AS (
    INSERT INTO "roles" ("id", "key", "name", "description", "permissions", created_at, updated_at)
    SELECT o."id", o."key", o."name", o."description", o."permissions", ('epoch'::timestamptz + o."created_at" * interval '1 millisecond'), ('epoch'::timestamptz + o."updated_at" * interval '1 millisecond')
    FROM (SELECT i.*, ARRAY(SELECT jsonb_array_elements_text(i.permission_keys::jsonb)) AS permissions FROM input i JOIN version USING (id) ORDER BY i.id) o
    ON CONFLICT (id) DO UPDATE SET "key" = excluded."key", "name" = excluded."name", "description" = excluded."description", "permissions" = excluded."permissions",
      created_at = excluded.created_at, updated_at = excluded.updated_at
    RETURNING id, (xmax = 0) AS created
  ), results AS (
    SELECT i.id, CASE
        WHEN i.id IN (SELECT id FROM written WHERE created) THEN 'created'
        WHEN i.id IN (SELECT id FROM written) THEN 'updated'
        WHEN i.deleted_at IS NOT NULL THEN 'deleted'
        WHEN i.clerk_updated_at = i.updated_at THEN 'unchanged'
        ELSE 'stored_newer' END AS result
    FROM input i
  )
  SELECT id, result FROM results WHERE result <> 'unchanged'
