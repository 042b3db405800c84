WITH input AS (
    SELECT i.*, v.clerk_updated_at, v.deleted_at,
      v.deleted_at IS NULL AND (v.clerk_updated_at IS NULL OR v.clerk_updated_at < i.updated_at) AS newer
    FROM (SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[]) WITH ORDINALITY
      AS i("id", "updated_at", "key", "name", "description", "created_at", "permission_keys", "delivery_id", "event_type", "received_at", "position")) i
    LEFT JOIN LATERAL (SELECT v.clerk_updated_at, v.deleted_at FROM "clerk_role_versions" v
      WHERE v."role_id" = i.id LIMIT 1) v ON true
    WHERE i.delivery_id IS NULL OR (SELECT 1 FROM "clerk_deliveries" d WHERE d.delivery_id = i.delivery_id LIMIT 1) IS NULL
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
    SELECT i.id, i.delivery_id, i.event_type, i.received_at, NULL::text AS user_id, CASE
        WHEN i.id IN (SELECT id FROM written WHERE created) THEN 'created'
        WHEN i.id IN (SELECT id FROM written) THEN 'updated'
        WHEN i.deleted_at IS NOT NULL THEN 'deleted'
        WHEN i.clerk_updated_at = i.updated_at THEN 'unchanged'
        ELSE 'stored_newer' END AS result
    FROM input i
  ), recorded AS (
    INSERT INTO "clerk_deliveries" (delivery_id, event_type, clerk_user_id, outcome, reason, received_at)
    SELECT s.delivery_id, s.event_type::text, s.user_id, s.outcome, s.reason, s.received_at::timestamptz
    FROM (SELECT delivery_id, user_id, CASE WHEN result IN ('created', 'updated')
      THEN 'provisioned' ELSE 'stale' END AS outcome, NULL::text AS reason, event_type, received_at FROM results) s WHERE s.delivery_id IS NOT NULL
    ON CONFLICT (delivery_id) DO NOTHING
    RETURNING delivery_id
  )
  SELECT r.id, CASE WHEN r.delivery_id NOT IN (SELECT delivery_id FROM recorded) THEN 'duplicate'
      ELSE r.result END AS result
  FROM results r
