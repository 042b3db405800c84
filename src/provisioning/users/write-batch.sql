WITH input AS (
    SELECT i.*, v.clerk_updated_at, v.deleted_at,
      v.deleted_at IS NULL AND (v.clerk_updated_at IS NULL OR v.clerk_updated_at < i.updated_at) AS newer, $1::int AS skip, u.username AS stored_username, w.user_id IS NOT NULL AS housed
    FROM (SELECT * FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[]::boolean[], $10::text[], $11::text[], $12::text[], $13::text[]) WITH ORDINALITY
      AS i("id", "updated_at", "email", "first_name", "last_name", "avatar_url", "username", "username_from_clerk", "username_forms", "delivery_id", "event_type", "received_at", "position")) i
    LEFT JOIN LATERAL (SELECT v.clerk_updated_at, v.deleted_at FROM "clerk_user_versions" v
      WHERE v."user_id" = i.id LIMIT 1) v ON true
    LEFT JOIN LATERAL (SELECT u.username FROM "users" u WHERE u.id = i.id LIMIT 1) u ON true
    LEFT JOIN LATERAL (SELECT w.user_id FROM "workspaces" w WHERE w.user_id = i.id LIMIT 1) w ON true
    WHERE i.delivery_id IS NULL OR (SELECT 1 FROM "clerk_deliveries" d WHERE d.delivery_id = i.delivery_id LIMIT 1) IS NULL
  ), version AS (
    INSERT INTO "clerk_user_versions" ("user_id", "clerk_updated_at")
    SELECT i.id, i.updated_at FROM input i
    WHERE i.newer
    ORDER BY i.id
    ON CONFLICT ("user_id") DO UPDATE SET clerk_updated_at = excluded.clerk_updated_at
      WHERE "clerk_user_versions"."deleted_at" IS NULL AND "clerk_user_versions"."clerk_updated_at" < excluded.clerk_updated_at
    RETURNING "user_id" AS id
  ), ranked AS (
    SELECT n.*, CASE WHEN n.needs_name
      THEN row_number() OVER (PARTITION BY n.needs_name, n.username ORDER BY n.position) - 1 END AS rank
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
  ), updated AS (
    UPDATE "users" SET "email" = r."email", "first_name" = r."first_name", "last_name" = r."last_name", "avatar_url" = r."avatar_url",
        username = CASE WHEN r.username_from_clerk AND "users"."username" !~ r.username_forms
          THEN r.new_username ELSE "users"."username" END,
        updated_at = now()
    FROM named r WHERE "users"."id" = r.id AND r.stored_username IS NOT NULL
    RETURNING "users"."id" AS id
  ), inserted AS (
    INSERT INTO "users" (id, username, "email", "first_name", "last_name", "avatar_url")
    SELECT r.id, r.new_username, r."email", r."first_name", r."last_name", r."avatar_url"
    FROM named r WHERE r.stored_username IS NULL
    ORDER BY r.id
    ON CONFLICT (id) DO UPDATE SET "email" = excluded."email", "first_name" = excluded."first_name", "last_name" = excluded."last_name", "avatar_url" = excluded."avatar_url",
        username = CASE WHEN (SELECT i.username_from_clerk FROM input i WHERE i.id = excluded.id) AND "users"."username" !~ (SELECT i.username_forms FROM input i WHERE i.id = excluded.id)
          THEN excluded.username ELSE "users"."username" END,
        updated_at = now()
    RETURNING id, (xmax = 0) AS created
  ), written AS (
    SELECT id, created FROM inserted UNION ALL SELECT id, false FROM updated
  ), workspace AS (
    INSERT INTO "workspaces" (user_id) SELECT id FROM inserted
      UNION ALL SELECT id FROM input WHERE stored_username IS NOT NULL AND deleted_at IS NULL AND NOT housed
    ON CONFLICT (user_id) DO NOTHING
  ), results AS (
    SELECT i.id, i.delivery_id, i.event_type, i.received_at, i.id AS user_id, CASE
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
