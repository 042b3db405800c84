-- The deliveries table's key holds Svix's ids and the service's own (jit:…, sync:…, sync-prune:…): delivery_id.
ALTER TABLE "clerk_deliveries" RENAME COLUMN "svix_id" TO "delivery_id";--> statement-breakpoint
ALTER TABLE "clerk_deliveries" ADD CONSTRAINT "valid_outcome" CHECK ("clerk_deliveries"."outcome" IN ('provisioned', 'stale', 'deleted', 'skipped', 'ignored', 'failed'));
