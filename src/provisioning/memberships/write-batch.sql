WITH input AS (
    SELECT i.*, v.clerk_updated_at, v.deleted_at,
      v.deleted_at IS NULL AND (v.clerk_updated_at IS NULL OR v.clerk_updated_at < i.updated_at) AS newer
    FROM (SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[]) WITH ORDINALITY
      AS i("id", "updated_at", "role", "organization_id", "user_id", "created_at", "org_created_at", "org_updated_at", "org_name", "org_slug", "org_image_url", "org_created_by", "delivery_id", "event_type", "received_at", "position")) i
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
    SELECT i.id, i.delivery_id, i.event_type, i.received_at, i.user_id AS user_id, CASE
        WHEN i.id IN (SELECT id FROM written WHERE created) THEN 'created'
        WHEN i.id IN (SELECT id FROM written) THEN 'updated'
        WHEN i.deleted_at IS NOT NULL OR i.newer AND NOT (i.organization_id IN (SELECT organization_id FROM org_lock) AND i.user_id IN (SELECT user_id FROM user_lock)) THEN 'deleted'
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
