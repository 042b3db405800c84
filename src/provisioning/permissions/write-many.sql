WITH input AS (
    SELECT i.*, v.clerk_updated_at, v.deleted_at,
      v.deleted_at IS NULL AND (v.clerk_updated_at IS NULL OR v.clerk_updated_at < i.updated_at) AS newer
    FROM (SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[]) WITH ORDINALITY
      AS i("id", "updated_at", "key", "name", "description", "type", "created_at", "position")) i
    LEFT JOIN LATERAL (SELECT v.clerk_updated_at, v.deleted_at FROM "clerk_permission_versions" v
      WHERE v."permission_id" = i.id LIMIT 1) v ON true
  ), version AS (
    INSERT INTO "clerk_permission_versions" ("permission_id", "clerk_updated_at")
    SELECT i.id, i.updated_at FROM input i
    WHERE i.newer
    ORDER BY i.id
    ON CONFLICT ("permission_id") DO UPDATE SET clerk_updated_at = excluded.clerk_updated_at
      WHERE "clerk_permission_versions"."deleted_at" IS NULL AND "clerk_permission_versions"."clerk_updated_at" < excluded.clerk_updated_at
    RETURNING "permission_id" AS id
  ), written AS (
    INSERT INTO "permissions" ("id", "key", "name", "description", "type", created_at, updated_at)
    SELECT o."id", o."key", o."name", o."description", o."type", ('epoch'::timestamptz + o."created_at" * interval '1 millisecond'), ('epoch'::timestamptz + o."updated_at" * interval '1 millisecond')
    FROM (SELECT i.* FROM input i JOIN version USING (id) ORDER BY i.id) o
    ON CONFLICT (id) DO UPDATE SET "key" = excluded."key", "name" = excluded."name", "description" = excluded."description", "type" = excluded."type",
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
