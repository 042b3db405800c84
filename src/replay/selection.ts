import { and, asc, eq, inArray, isNotNull } from "drizzle-orm";
import { MAX_IDS_PER_LOOKUP } from "../clerk/backend-api.js";
import { BACKGROUND, callDatabase } from "../db/call.js";
import { clerkDeliveries } from "../db/schema.js";
import type { Db } from "../db/types.js";
import { ServiceError } from "../errors.js";

/** `npm run replay`'s choice of deliveries: every `skipped` and `failed` one naming a user, or the one asked for. */

export interface Selected {
  deliveryId: string;
  userId: string;
  outcome: string;
  reason: string | null;
}

const notReplayable = (message: string) => new ServiceError("not_replayable", message);

export async function select(db: Db, id: string | undefined): Promise<Selected[]> {
  const columns = {
    deliveryId: clerkDeliveries.deliveryId,
    userId: clerkDeliveries.clerkUserId,
    outcome: clerkDeliveries.outcome,
    reason: clerkDeliveries.reason,
  };
  const open = inArray(clerkDeliveries.outcome, ["skipped", "failed"]);
  if (id === undefined) {
    const rows = await callDatabase(BACKGROUND, () =>
      db
        .select(columns)
        .from(clerkDeliveries)
        .where(and(open, isNotNull(clerkDeliveries.clerkUserId)))
        .orderBy(asc(clerkDeliveries.receivedAt), asc(clerkDeliveries.deliveryId)),
    );
    return rows.map((row) => ({ ...row, userId: row.userId ?? "" }));
  }
  const [delivery] = await callDatabase(BACKGROUND, () =>
    db.select(columns).from(clerkDeliveries).where(eq(clerkDeliveries.deliveryId, id)),
  );
  if (!delivery) throw notReplayable(`no delivery ${id} in clerk_deliveries`);
  if (delivery.outcome !== "skipped" && delivery.outcome !== "failed") {
    throw notReplayable(`delivery ${id} is ${delivery.outcome}: only skipped and failed deliveries are replayed`);
  }
  if (!delivery.userId) throw notReplayable(`delivery ${id} names no Clerk user`);
  return [{ ...delivery, userId: delivery.userId }];
}

/** Chunks of at most 100 distinct users: one Clerk lookup and one statement each. */
export function chunked(selected: readonly Selected[]): Selected[][] {
  const chunks: Selected[][] = [];
  let users = new Set<string>();
  for (const delivery of selected) {
    if (!users.has(delivery.userId) && users.size === MAX_IDS_PER_LOOKUP) users = new Set();
    if (users.size === 0) chunks.push([]);
    users.add(delivery.userId);
    chunks[chunks.length - 1]?.push(delivery);
  }
  return chunks;
}
