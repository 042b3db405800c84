WITH input AS (
    SELECT i.*, v.clerk_updated_at, v.deleted_at,
      v.deleted_at IS NULL AND (v.clerk_updated_at IS NULL OR v.clerk_updated_at < i.updated_at) AS newer
    FROM (SELECT $1::text AS "id", $2::bigint AS "updated_at", $3::text AS "role", $4::text AS "organization_id", $5::text AS "user_id", $6::bigint AS "created_at", $7::bigint AS "org_created_at", $8::bigint AS "org_updated_at", $9::text AS "org_name", $10::text AS "org_slug", $11::text AS "org_image_url", $12::text AS "org_created_by", $13::text AS "delivery_id", 1::bigint AS position) i
    LEFT JOIN LATERAL (SELECT v.clerk_updated_at, v.deleted_at FROM "clerk_membership_versions" v
      WHERE v."membership_id" = i.id LIMIT 1) v ON true
    WHERE i.delivery_id IS NULL OR (SELECT 1 FROM "clerk_deliveries" d WHERE d.delivery_id = i.delivery_id LIMIT 1) IS NULL
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
    ON CONFLICT ("membership_id") DO UPDATE SET clerk_updated_at = excluded.clerk_updated_at
      WHERE "clerk_membership_versions"."deleted_at" IS NULL AND "clerk_membership_versions"."clerk_updated_at" < excluded.clerk_updated_at
    RETURNING "membership_id" AS id
  ), written AS (
    INSERT INTO "organization_memberships" ("id", "organization_id", "user_id", "role", created_at, updated_at)
    SELECT o."id", o."organization_id", o."user_id", o."role", ('epoch'::timestamptz + o."created_at" * interval '1 millisecond'), ('epoch'::timestamptz + o."updated_at" * interval '1 millisecond')
    FROM (SELECT i.* FROM input i JOIN version USING (id)) o
    ON CONFLICT ON CONSTRAINT unique_organization_member DO UPDATE SET id = excluded.id, "role" = excluded."role",
      created_at = excluded.created_at, updated_at = excluded.updated_at
      WHERE "organization_memberships"."updated_at" < excluded.updated_at
    RETURNING id, (xmax = 0) AS created
  ), results AS (
    SELECT i.id, i.delivery_id, i.user_id AS user_id, CASE
        WHEN w.id IS NOT NULL THEN CASE WHEN w.created THEN 'created' ELSE 'updated' END
        WHEN i.deleted_at IS NOT NULL OR i.newer AND NOT (i.organization_id IN (SELECT organization_id FROM org_lock) AND i.user_id IN (SELECT user_id FROM user_lock)) THEN 'deleted'
        WHEN i.clerk_updated_at = i.updated_at THEN 'unchanged'
        ELSE 'stored_newer' END AS result
    FROM input i LEFT JOIN written w ON w.id = i.id
  ), recorded AS (
    INSERT INTO "clerk_deliveries" (delivery_id, event_type, clerk_user_id, outcome, reason, received_at)
    SELECT s.delivery_id, $14::text, s.user_id, s.outcome, s.reason, $15::timestamptz
    FROM (SELECT delivery_id, user_id, CASE WHEN result IN ('created', 'updated')
      THEN 'provisioned' ELSE 'stale' END AS outcome, NULL::text AS reason FROM results) s WHERE s.delivery_id IS NOT NULL
    ON CONFLICT (delivery_id) DO NOTHING
    RETURNING delivery_id
  )
  SELECT $16::text AS id, CASE WHEN $17::text IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM recorded) THEN 'duplicate' ELSE (SELECT result FROM results) END AS result
