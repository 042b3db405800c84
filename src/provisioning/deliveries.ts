/**
 * Ids of the deliveries the service records itself, beside Svix's `msg_…` ids in `clerk_deliveries.delivery_id`:
 * each is made from what it records, so the same fact recorded twice is one delivery, and none can collide with
 * Svix's.
 */
export const deliveryIds = {
  /** `/v1/me` provisioning a user just in time: the same Clerk state (id, `updated_at`) is one delivery. */
  justInTime: (objectId: string, updatedAt: number) => `jit:${objectId}:${updatedAt}`,
  /** `npm run sync` recording a user it skipped or could not write, once per Clerk state. */
  sync: (objectId: string, updatedAt: number) => `sync:${objectId}:${updatedAt}`,
  /** `npm run sync -- --prune` removing what Clerk no longer has. */
  prune: (objectId: string) => `sync-prune:${objectId}`,
};
