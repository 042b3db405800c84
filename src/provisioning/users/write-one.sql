WITH input AS (
    SELECT i.*, v.clerk_updated_at, v.deleted_at,
      v.deleted_at IS NULL AND (v.clerk_updated_at IS NULL OR v.clerk_updated_at < i.updated_at) AS newer, $1::int AS skip, u.username AS stored_username, w.user_id IS NOT NULL AS housed
    FROM (SELECT $2::text AS "id", $3::bigint AS "updated_at", $4::text AS "email", $5::text AS "first_name", $6::text AS "last_name", $7::text AS "avatar_url", $8::text AS "username", $9::boolean AS "username_from_clerk", $10::text AS "username_forms", $11::text AS "delivery_id", 1::bigint AS position) i
    LEFT JOIN LATERAL (SELECT v.clerk_updated_at, v.deleted_at FROM "clerk_user_versions" v
      WHERE v."user_id" = i.id LIMIT 1) v ON true
    LEFT JOIN LATERAL (SELECT u.username FROM "users" u WHERE u.id = i.id LIMIT 1) u ON true
    LEFT JOIN LATERAL (SELECT w.user_id FROM "workspaces" w WHERE w.user_id = i.id LIMIT 1) w ON true
    WHERE i.delivery_id IS NULL OR (SELECT 1 FROM "clerk_deliveries" d WHERE d.delivery_id = i.delivery_id LIMIT 1) IS NULL
  ), version AS (
    INSERT INTO "clerk_user_versions" ("user_id", "clerk_updated_at")
    SELECT i.id, i.updated_at FROM input i
    WHERE i.newer
    ON CONFLICT ("user_id") DO UPDATE SET clerk_updated_at = excluded.clerk_updated_at
      WHERE "clerk_user_versions"."deleted_at" IS NULL AND "clerk_user_versions"."clerk_updated_at" < excluded.clerk_updated_at
    RETURNING "user_id" AS id
  ), ranked AS (
    SELECT n.*, CASE WHEN n.needs_name
      THEN 0 END AS rank
    FROM (
      SELECT i.*,
        i.stored_username IS NULL OR (i.username_from_clerk AND i.stored_username !~ i.username_forms) AS needs_name
      FROM input i
      WHERE i.id IN (SELECT id FROM version)
    ) n
  ), named AS (
    SELECT r.*, CASE WHEN NOT r.needs_name THEN r.stored_username ELSE COALESCE(
      (SELECT c.name FROM (SELECT CASE WHEN s.n = 1 THEN r.username ELSE left(r.username, 30 - length(s.n::text)) || s.n END
          AS name FROM (SELECT generate_series(1, 100) AS n) s) c
        WHERE (SELECT 1 FROM "users" u WHERE u.username = c.name AND u.id <> r.id LIMIT 1) IS NULL
        LIMIT 1 OFFSET r.rank + r.skip),
      left(r.username, 21)
        || (100000000
          + abs(hashtextextended(r.id || ':' || r.skip, 0)) % 900000000)::text
    ) END AS new_username
    FROM ranked r
  ), written AS (
    INSERT INTO "users" (id, username, "email", "first_name", "last_name", "avatar_url")
    SELECT r.id, r.new_username, r."email", r."first_name", r."last_name", r."avatar_url"
    FROM named r
    ON CONFLICT (id) DO UPDATE SET "email" = excluded."email", "first_name" = excluded."first_name", "last_name" = excluded."last_name", "avatar_url" = excluded."avatar_url",
        username = CASE WHEN $12::boolean AND "users"."username" !~ $13::text
          THEN excluded.username ELSE "users"."username" END,
        updated_at = now()
    RETURNING id, (xmax = 0) AS created
  ), workspace AS (
    INSERT INTO "workspaces" (user_id) SELECT id FROM written
      UNION ALL SELECT id FROM input WHERE stored_username IS NOT NULL AND deleted_at IS NULL AND NOT housed
    ON CONFLICT (user_id) DO NOTHING
  ), results AS (
    SELECT i.id, i.delivery_id, i.id AS user_id, CASE
        WHEN w.id IS NOT NULL THEN CASE WHEN w.created THEN 'created' ELSE 'updated' END
        WHEN i.deleted_at IS NOT NULL THEN 'deleted'
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
