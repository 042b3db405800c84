CREATE TABLE "sync_run_cursors" (
	"run_id" bigint NOT NULL,
	"kind" text NOT NULL,
	"next_offset" integer NOT NULL,
	"total" integer,
	CONSTRAINT "sync_run_cursors_run_id_kind_pk" PRIMARY KEY("run_id","kind")
);
--> statement-breakpoint
ALTER TABLE "sync_run_cursors" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "sync_run_seen" (
	"run_id" bigint NOT NULL,
	"kind" text NOT NULL,
	"id" text NOT NULL,
	CONSTRAINT "sync_run_seen_run_id_kind_id_pk" PRIMARY KEY("run_id","kind","id")
);
--> statement-breakpoint
ALTER TABLE "sync_run_seen" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "sync_run_cursors" ADD CONSTRAINT "sync_run_cursors_run_id_sync_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."sync_runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sync_run_seen" ADD CONSTRAINT "sync_run_seen_run_id_sync_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."sync_runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
-- An unfinished run stays resumable: each kind's cursor and the ids a pruning run has listed move to the new
-- tables before the old columns and tables go.
INSERT INTO "sync_run_cursors" ("run_id", "kind", "next_offset", "total")
SELECT r.id, c.kind, c.next_offset, c.total
FROM "sync_runs" r CROSS JOIN LATERAL (VALUES
  ('users', r.next_offset, r.total),
  ('organizations', r.organization_offset, r.organization_total),
  ('memberships', r.membership_offset, r.membership_total)) AS c(kind, next_offset, total)
WHERE r.status IN ('running', 'interrupted', 'failed');--> statement-breakpoint
INSERT INTO "sync_run_seen" ("run_id", "kind", "id")
SELECT s.run_id, 'users', s.user_id FROM "sync_run_users" s JOIN "sync_runs" r ON r.id = s.run_id
WHERE r.status IN ('running', 'interrupted', 'failed')
UNION ALL
SELECT o.run_id, o.kind, o.object_id FROM "sync_run_objects" o JOIN "sync_runs" r ON r.id = o.run_id
WHERE r.status IN ('running', 'interrupted', 'failed');--> statement-breakpoint
-- Counts keyed the same way for every kind: the users' (unprefixed until now) get `users:`.
UPDATE "sync_runs" SET "counts" = (
  SELECT COALESCE(jsonb_object_agg(
    CASE WHEN c.key LIKE 'organizations:%' OR c.key LIKE 'memberships:%' THEN c.key ELSE 'users:' || c.key END,
    c.value), '{}'::jsonb)
  FROM jsonb_each("counts") c);--> statement-breakpoint
DROP TABLE "sync_run_objects" CASCADE;--> statement-breakpoint
DROP TABLE "sync_run_users" CASCADE;--> statement-breakpoint
ALTER TABLE "sync_runs" DROP COLUMN "next_offset";--> statement-breakpoint
ALTER TABLE "sync_runs" DROP COLUMN "total";--> statement-breakpoint
ALTER TABLE "sync_runs" DROP COLUMN "organization_offset";--> statement-breakpoint
ALTER TABLE "sync_runs" DROP COLUMN "organization_total";--> statement-breakpoint
ALTER TABLE "sync_runs" DROP COLUMN "membership_offset";--> statement-breakpoint
ALTER TABLE "sync_runs" DROP COLUMN "membership_total";--> statement-breakpoint
-- New tables in public: what Supabase's default privileges granted anon/authenticated on them is revoked, and the
-- row-level security design's grants (migration 0008) given again. sync_run_cursors and sync_run_seen are the
-- service's alone.
SELECT private.lock_down_privileges();
--> statement-breakpoint
GRANT SELECT ON users, workspaces TO authenticated;
--> statement-breakpoint
GRANT UPDATE (name) ON workspaces TO authenticated;
--> statement-breakpoint
GRANT SELECT ON organizations, organization_memberships TO authenticated;
--> statement-breakpoint
GRANT USAGE ON SCHEMA private TO authenticated;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION private.my_organization_ids() TO authenticated;
