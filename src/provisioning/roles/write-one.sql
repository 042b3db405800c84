WITH input AS (
    SELECT i.*, v.clerk_updated_at, v.deleted_at,
      v.deleted_at IS NULL AND (v.clerk_updated_at IS NULL OR v.clerk_updated_at < i.updated_at) AS newer
    FROM (SELECT $1::text AS "id", $2::bigint AS "updated_at", $3::text AS "key", $4::text AS "name", $5::text AS "description", $6::bigint AS "created_at", $7::text AS "permission_keys", $8::text AS "delivery_id", 1::bigint AS position) i
    LEFT JOIN LATERAL (SELECT v.clerk_updated_at, v.deleted_at FROM "clerk_role_versions" v
      WHERE v."role_id" = i.id LIMIT 1) v ON true
    WHERE i.delivery_id IS NULL OR (SELECT 1 FROM "clerk_deliveries" d WHERE d.delivery_id = i.delivery_id LIMIT 1) IS NULL
  ), version AS (
    INSERT INTO "clerk_role_versions" ("role_id", "clerk_updated_at")
    SELECT i.id, i.updated_at FROM input i
    WHERE i.newer
    ON CONFLICT ("role_id") DO UPDATE SET clerk_updated_at = excluded.clerk_updated_at
      WHERE "clerk_role_versions"."deleted_at" IS NULL AND "clerk_role_versions"."clerk_updated_at" < excluded.clerk_updated_at
    RETURNING "role_id" AS id
  ), written AS (
    INSERT INTO "roles" ("id", "key", "name", "description", "permissions", created_at, updated_at)
    SELECT o."id", o."key", o."name", o."description", o."permissions", ('epoch'::timestamptz + o."created_at" * interval '1 millisecond'), ('epoch'::timestamptz + o."updated_at" * interval '1 millisecond')
    FROM (SELECT i.*, ARRAY(SELECT jsonb_array_elements_text(i.permission_keys::jsonb)) AS permissions FROM input i JOIN version USING (id)) o
    ON CONFLICT (id) DO UPDATE SET "key" = excluded."key", "name" = excluded."name", "description" = excluded."description", "permissions" = excluded."permissions",
      created_at = excluded.created_at, updated_at = excluded.updated_at
    RETURNING id, (xmax = 0) AS created
  ), results AS (
    SELECT i.id, i.delivery_id, NULL::text AS user_id, CASE
        WHEN w.id IS NOT NULL THEN CASE WHEN w.created THEN 'created' ELSE 'updated' END
        WHEN i.deleted_at IS NOT NULL THEN 'deleted'
        WHEN i.clerk_updated_at = i.updated_at THEN 'unchanged'
        ELSE 'stored_newer' END AS result
    FROM input i LEFT JOIN written w ON w.id = i.id
  ), recorded AS (
    INSERT INTO "clerk_deliveries" (delivery_id, event_type, clerk_user_id, outcome, reason, received_at)
    SELECT s.delivery_id, $9::text, s.user_id, s.outcome, s.reason, $10::timestamptz
    FROM (SELECT delivery_id, user_id, CASE WHEN result IN ('created', 'updated')
      THEN 'provisioned' ELSE 'stale' END AS outcome, NULL::text AS reason FROM results) s WHERE s.delivery_id IS NOT NULL
    ON CONFLICT (delivery_id) DO NOTHING
    RETURNING delivery_id
  )
  SELECT $11::text AS id, CASE WHEN $12::text IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM recorded) THEN 'duplicate' ELSE (SELECT result FROM results) END AS result
