WITH input AS (SELECT * FROM unnest($1::text[], $2::text[]) WITH ORDINALITY
      AS i("id", "delivery_id", "position")
    ), fresh AS (
      SELECT i.* FROM input i WHERE i.delivery_id IS NULL OR (SELECT 1 FROM "clerk_deliveries" d WHERE d.delivery_id = i.delivery_id LIMIT 1) IS NULL
    ), version AS (
      INSERT INTO "clerk_invitation_versions" ("invitation_id", clerk_updated_at, deleted_at)
      SELECT id, 0, now() FROM fresh ORDER BY id
      ON CONFLICT ("invitation_id") DO UPDATE SET deleted_at = now() WHERE "clerk_invitation_versions"."deleted_at" IS NULL
      RETURNING "invitation_id" AS id
    ), results AS (
      SELECT f.id, f.delivery_id, NULL::text AS user_id,
        CASE WHEN v.id IS NOT NULL THEN 'deleted' ELSE 'stale' END AS result
      FROM fresh f LEFT JOIN version v USING (id)
    ), recorded AS (
    INSERT INTO "clerk_deliveries" (delivery_id, event_type, clerk_user_id, outcome, reason, received_at)
    SELECT s.delivery_id, $3::text, s.user_id, s.outcome, s.reason, $4::timestamptz
    FROM (SELECT delivery_id, user_id, result AS outcome, $5::text AS reason FROM results) s WHERE s.delivery_id IS NOT NULL
    ON CONFLICT (delivery_id) DO NOTHING
    RETURNING delivery_id
  )
    SELECT i.id, CASE WHEN i.delivery_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM recorded x WHERE x.delivery_id = i.delivery_id)
      THEN 'duplicate' ELSE r.result END AS result
    FROM input i LEFT JOIN results r USING (id)
