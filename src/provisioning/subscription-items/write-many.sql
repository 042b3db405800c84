WITH input AS (
    SELECT i.*, v.clerk_updated_at, v.deleted_at,
      v.deleted_at IS NULL AND (v.clerk_updated_at IS NULL OR v.clerk_updated_at < i.updated_at) AS newer
    FROM (SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[]::boolean[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[]) WITH ORDINALITY
      AS i("id", "updated_at", "plan_slug", "plan_id", "status", "is_free_trial", "payer_type", "payer_id", "period_start", "period_end", "created_at", "position")) i
    LEFT JOIN LATERAL (SELECT v.clerk_updated_at, v.deleted_at FROM "clerk_subscription_item_versions" v
      WHERE v."subscription_item_id" = i.id LIMIT 1) v ON true
  ), org_lock AS (
    INSERT INTO "clerk_organization_versions" (organization_id, clerk_updated_at)
    SELECT DISTINCT payer_id, 0::bigint FROM input WHERE newer AND payer_type = 'organization' ORDER BY payer_id
    ON CONFLICT (organization_id) DO UPDATE SET organization_id = excluded.organization_id
      WHERE "clerk_organization_versions"."deleted_at" IS NULL
    RETURNING organization_id AS payer_id
  ), user_lock AS (
    INSERT INTO "clerk_user_versions" (user_id, clerk_updated_at)
    SELECT DISTINCT payer_id, 0::bigint FROM input WHERE newer AND payer_type = 'user' ORDER BY payer_id
    ON CONFLICT (user_id) DO UPDATE SET user_id = excluded.user_id WHERE "clerk_user_versions"."deleted_at" IS NULL
    RETURNING user_id AS payer_id
  ), version AS (
    INSERT INTO "clerk_subscription_item_versions" ("subscription_item_id", "payer_type", "payer_id", "clerk_updated_at")
    SELECT i.id, i."payer_type", i."payer_id", i.updated_at FROM input i
    WHERE i.newer AND ((CASE i.payer_type WHEN 'user' THEN i.payer_id IN (SELECT payer_id FROM user_lock)
      ELSE i.payer_id IN (SELECT payer_id FROM org_lock) END)) IS TRUE
    ORDER BY i.id
    ON CONFLICT ("subscription_item_id") DO UPDATE SET clerk_updated_at = excluded.clerk_updated_at
      WHERE "clerk_subscription_item_versions"."deleted_at" IS NULL AND "clerk_subscription_item_versions"."clerk_updated_at" < excluded.clerk_updated_at
    RETURNING "subscription_item_id" AS id
  ), written AS (
    INSERT INTO "subscription_items" ("id", "payer_type", "payer_id", "plan_slug", "plan_id", "status", "is_free_trial", "period_start", "period_end", "created_at", "updated_at")
    SELECT i."id", i."payer_type", i."payer_id", i."plan_slug", i."plan_id", i."status", i."is_free_trial", ('epoch'::timestamptz + i."period_start" * interval '1 millisecond'), ('epoch'::timestamptz + i."period_end" * interval '1 millisecond'), ('epoch'::timestamptz + i."created_at" * interval '1 millisecond'), ('epoch'::timestamptz + i."updated_at" * interval '1 millisecond')
    FROM input i JOIN version USING (id)
    ORDER BY i.id
    ON CONFLICT (id) DO UPDATE SET "plan_slug" = excluded."plan_slug", "plan_id" = excluded."plan_id", "status" = excluded."status", "is_free_trial" = excluded."is_free_trial", "period_start" = excluded."period_start", "period_end" = excluded."period_end", "created_at" = excluded."created_at", "updated_at" = excluded."updated_at"
    RETURNING id, (xmax = 0) AS created
  ), results AS (
    SELECT i.id, CASE
        WHEN i.id IN (SELECT id FROM written WHERE created) THEN 'created'
        WHEN i.id IN (SELECT id FROM written) THEN 'updated'
        WHEN i.deleted_at IS NOT NULL OR i.newer AND NOT (CASE i.payer_type WHEN 'user' THEN i.payer_id IN (SELECT payer_id FROM user_lock)
      ELSE i.payer_id IN (SELECT payer_id FROM org_lock) END) THEN 'deleted'
        WHEN i.clerk_updated_at = i.updated_at THEN 'unchanged'
        ELSE 'stored_newer' END AS result
    FROM input i
  )
  SELECT id, result FROM results WHERE result <> 'unchanged'
