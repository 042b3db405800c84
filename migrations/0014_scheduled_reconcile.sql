CREATE TABLE "sync_marks" (
	"kind" text PRIMARY KEY NOT NULL,
	"clerk_updated_at" bigint NOT NULL,
	"run_id" bigint,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "sync_marks" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "sync_runs" ADD COLUMN "incremental" boolean DEFAULT false NOT NULL;--> statement-breakpoint
-- A new table in public: what Supabase's default privileges granted anon/authenticated on it is revoked, and the
-- row-level security design's grants (those of 0013) given again. sync_marks is the service's alone.
SELECT private.lock_down_privileges();
--> statement-breakpoint
GRANT SELECT ON users, workspaces TO authenticated;
--> statement-breakpoint
GRANT UPDATE (name) ON workspaces TO authenticated;
--> statement-breakpoint
GRANT SELECT ON organizations, organization_memberships, subscription_items TO authenticated;
--> statement-breakpoint
GRANT USAGE ON SCHEMA private TO authenticated;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION private.my_organization_ids() TO authenticated;
--> statement-breakpoint
GRANT SELECT ON organization_invitations, roles, permissions, organization_seats TO authenticated;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION private.active_organization_id(), private.has_org_role(text, text),
  private.has_org_permission(text, text) TO authenticated;
