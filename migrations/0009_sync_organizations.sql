CREATE TABLE "sync_run_objects" (
	"run_id" bigint NOT NULL,
	"kind" text NOT NULL,
	"object_id" text NOT NULL,
	CONSTRAINT "sync_run_objects_run_id_kind_object_id_pk" PRIMARY KEY("run_id","kind","object_id")
);
--> statement-breakpoint
ALTER TABLE "sync_run_objects" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "sync_runs" ADD COLUMN "phase" text DEFAULT 'users' NOT NULL;--> statement-breakpoint
ALTER TABLE "sync_runs" ADD COLUMN "organization_offset" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "sync_runs" ADD COLUMN "organization_total" integer;--> statement-breakpoint
ALTER TABLE "sync_runs" ADD COLUMN "membership_offset" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "sync_runs" ADD COLUMN "membership_total" integer;--> statement-breakpoint
ALTER TABLE "sync_run_objects" ADD CONSTRAINT "sync_run_objects_run_id_sync_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."sync_runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
-- A new table in public: what Supabase's default privileges granted anon/authenticated on it is revoked, and the
-- row-level security design's grants (migration 0008) given again. sync_run_objects is the service's alone.
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
