WITH input AS (
    SELECT i.*, v.clerk_updated_at, v.deleted_at,
      v.deleted_at IS NULL AND (v.clerk_updated_at IS NULL OR v.clerk_updated_at < i.updated_at) AS newer
    FROM (SELECT $1::text AS "id", $2::bigint AS "updated_at", $3::text AS "plan_slug", $4::text AS "plan_id", $5::text AS "status", $6::boolean AS "is_free_trial", $7::text AS "payer_type", $8::text AS "payer_id", $9::bigint AS "period_start", $10::bigint AS "period_end", $11::bigint AS "created_at", $12::text AS "delivery_id", 1::bigint AS position) i
    LEFT JOIN LATERAL (SELECT v.clerk_updated_at, v.deleted_at FROM "clerk_subscription_item_versions" v
      WHERE v."subscription_item_id" = i.id LIMIT 1) v ON true
    WHERE i.delivery_id IS NULL OR (SELECT 1 FROM "clerk_deliveries" d WHERE d.delivery_id = i.delivery_id LIMIT 1) IS NULL
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
    ON CONFLICT ("subscription_item_id") DO UPDATE SET clerk_updated_at = excluded.clerk_updated_at
      WHERE "clerk_subscription_item_versions"."deleted_at" IS NULL AND "clerk_subscription_item_versions"."clerk_updated_at" < excluded.clerk_updated_at
    RETURNING "subscription_item_id" AS id
  ), written AS (
    INSERT INTO "subscription_items" ("id", "payer_type", "payer_id", "plan_slug", "plan_id", "status", "is_free_trial", "period_start", "period_end", "created_at", "updated_at")
    SELECT i."id", i."payer_type", i."payer_id", i."plan_slug", i."plan_id", i."status", i."is_free_trial", ('epoch'::timestamptz + i."period_start" * interval '1 millisecond'), ('epoch'::timestamptz + i."period_end" * interval '1 millisecond'), ('epoch'::timestamptz + i."created_at" * interval '1 millisecond'), ('epoch'::timestamptz + i."updated_at" * interval '1 millisecond')
    FROM input i JOIN version USING (id)
    ON CONFLICT (id) DO UPDATE SET "plan_slug" = excluded."plan_slug", "plan_id" = excluded."plan_id", "status" = excluded."status", "is_free_trial" = excluded."is_free_trial", "period_start" = excluded."period_start", "period_end" = excluded."period_end", "created_at" = excluded."created_at", "updated_at" = excluded."updated_at"
    RETURNING id, (xmax = 0) AS created
  ), results AS (
    SELECT i.id, i.delivery_id, CASE WHEN i.payer_type = 'user' THEN i.payer_id END AS user_id, CASE
        WHEN w.id IS NOT NULL THEN CASE WHEN w.created THEN 'created' ELSE 'updated' END
        WHEN i.deleted_at IS NOT NULL OR i.newer AND NOT (CASE i.payer_type WHEN 'user' THEN i.payer_id IN (SELECT payer_id FROM user_lock)
      ELSE i.payer_id IN (SELECT payer_id FROM org_lock) END) THEN 'deleted'
        WHEN i.clerk_updated_at = i.updated_at THEN 'unchanged'
        ELSE 'stored_newer' END AS result
    FROM input i LEFT JOIN written w ON w.id = i.id
  ), recorded AS (
    INSERT INTO "clerk_deliveries" (delivery_id, event_type, clerk_user_id, outcome, reason, received_at)
    SELECT s.delivery_id, $13::text, s.user_id, s.outcome, s.reason, $14::timestamptz
    FROM (SELECT delivery_id, user_id, CASE WHEN result IN ('created', 'updated')
      THEN 'provisioned' ELSE 'stale' END AS outcome, NULL::text AS reason FROM results) s WHERE s.delivery_id IS NOT NULL
    ON CONFLICT (delivery_id) DO NOTHING
    RETURNING delivery_id
  )
  SELECT $15::text AS id, CASE WHEN $16::text IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM recorded) THEN 'duplicate' ELSE (SELECT result FROM results) END AS result
