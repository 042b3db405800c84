ALTER TABLE "organization_memberships" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "organizations" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "organization_memberships_select_member" ON "organization_memberships" AS PERMISSIVE FOR SELECT TO "authenticated" USING ("organization_memberships"."organization_id" IN (SELECT private.my_organization_ids()));--> statement-breakpoint
CREATE POLICY "organizations_select_member" ON "organizations" AS PERMISSIVE FOR SELECT TO "authenticated" USING ("organizations"."id" IN (SELECT private.my_organization_ids()));