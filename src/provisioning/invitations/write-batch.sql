WITH input AS (
    SELECT i.*, v.clerk_updated_at, v.deleted_at,
      v.deleted_at IS NULL AND (v.clerk_updated_at IS NULL OR v.clerk_updated_at < i.updated_at) AS newer
    FROM (SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::text[], $11::text[], $12::text[]) WITH ORDINALITY
      AS i("id", "updated_at", "email_address", "role", "status", "user_id", "organization_id", "created_at", "expires_at_ms", "delivery_id", "event_type", "received_at", "position")) i
    LEFT JOIN LATERAL (SELECT v.clerk_updated_at, v.deleted_at FROM "clerk_invitation_versions" v
      WHERE v."invitation_id" = i.id LIMIT 1) v ON true
    WHERE i.delivery_id IS NULL OR (SELECT 1 FROM "clerk_deliveries" d WHERE d.delivery_id = i.delivery_id LIMIT 1) IS NULL
  ), org_lock AS (
    INSERT INTO "clerk_organization_versions" (organization_id, clerk_updated_at)
    SELECT DISTINCT organization_id, 0::bigint FROM input ORDER BY organization_id
    ON CONFLICT (organization_id) DO UPDATE SET organization_id = excluded.organization_id
      WHERE "clerk_organization_versions"."deleted_at" IS NULL
    RETURNING organization_id
  ), version AS (
    INSERT INTO "clerk_invitation_versions" ("invitation_id", "clerk_updated_at")
    SELECT i.id, i.updated_at FROM input i
    WHERE i.newer AND (i.organization_id IN (SELECT organization_id FROM org_lock)) IS TRUE
    ORDER BY i.id
    ON CONFLICT ("invitation_id") DO UPDATE SET clerk_updated_at = excluded.clerk_updated_at
      WHERE "clerk_invitation_versions"."deleted_at" IS NULL AND "clerk_invitation_versions"."clerk_updated_at" < excluded.clerk_updated_at
    RETURNING "invitation_id" AS id
  ), written AS (
    INSERT INTO "organization_invitations" ("id", "organization_id", "email_address", "role", "status", "user_id", "expires_at", created_at, updated_at)
    SELECT o."id", o."organization_id", o."email_address", o."role", o."status", o."user_id", o."expires_at", ('epoch'::timestamptz + o."created_at" * interval '1 millisecond'), ('epoch'::timestamptz + o."updated_at" * interval '1 millisecond')
    FROM (SELECT i.*, ('epoch'::timestamptz + i.expires_at_ms * interval '1 millisecond') AS expires_at FROM input i JOIN version USING (id) ORDER BY i.id) o
    ON CONFLICT (id) DO UPDATE SET "email_address" = excluded."email_address", "role" = excluded."role", "status" = excluded."status", "user_id" = excluded."user_id", "expires_at" = excluded."expires_at",
      created_at = excluded.created_at, updated_at = excluded.updated_at
      WHERE "organization_invitations"."status" = 'pending' OR excluded.status <> 'pending'
    RETURNING id, (xmax = 0) AS created
  ), results AS (
    SELECT i.id, i.delivery_id, i.event_type, i.received_at, i.user_id AS user_id, CASE
        WHEN i.id IN (SELECT id FROM written WHERE created) THEN 'created'
        WHEN i.id IN (SELECT id FROM written) THEN 'updated'
        WHEN i.deleted_at IS NOT NULL OR NOT (i.organization_id IN (SELECT organization_id FROM org_lock)) THEN 'deleted'
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
