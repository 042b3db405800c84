ALTER TABLE "clerk_deliveries" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "clerk_user_versions" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "users" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "workspaces" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "users_select_own" ON "users" AS PERMISSIVE FOR SELECT TO "authenticated" USING ("users"."id" = (select auth.jwt() ->> 'sub'));--> statement-breakpoint
CREATE POLICY "workspaces_select_own" ON "workspaces" AS PERMISSIVE FOR SELECT TO "authenticated" USING ("workspaces"."user_id" = (select auth.jwt() ->> 'sub'));--> statement-breakpoint
CREATE POLICY "workspaces_update_own" ON "workspaces" AS PERMISSIVE FOR UPDATE TO "authenticated" USING ("workspaces"."user_id" = (select auth.jwt() ->> 'sub')) WITH CHECK ("workspaces"."user_id" = (select auth.jwt() ->> 'sub'));