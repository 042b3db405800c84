import { sql } from "drizzle-orm";
import { BACKGROUND } from "../db/call.js";
import { defineStatement, runStatement } from "../db/query.js";
import type { Db } from "../db/types.js";
import { ServiceError } from "../errors.js";

/**
 * Retention of `clerk_deliveries`: the rows received more than N days ago (N ≥ 30) are removed. The version rows
 * (`clerk_user_versions` …) keep ordering and tombstones correct without them; what is lost is idempotency for a
 * redelivery older than N days, which Svix never sends (it gives up after ~27 hours).
 */

export const MIN_RETENTION_DAYS = 30;
export const DEFAULT_BATCH_SIZE = 5_000;
const DAY_MS = 86_400_000;

/** One batch: `size` of the rows received before the cutoff, removed. */
const batchStatement = defineStatement<{ cutoff: string; size: number }>(
  (v) => sql`DELETE FROM clerk_deliveries WHERE delivery_id IN (
    SELECT delivery_id FROM clerk_deliveries WHERE received_at < ${v.cutoff}::timestamptz LIMIT ${v.size}::int
  ) RETURNING 1`,
);

export interface PruneOptions {
  olderThanDays: number;
  /** Rows a statement (default 5,000). */
  batchSize?: number | undefined;
  now?: Date;
  /** Stops after the batch being removed (Ctrl-C): `interrupted`. */
  signal?: AbortSignal;
}

/** Removes, batch by batch (each its own transaction), the deliveries received before `now - olderThanDays`: how many. */
export async function pruneDeliveries(db: Db, options: PruneOptions): Promise<number> {
  if (!(options.olderThanDays >= MIN_RETENTION_DAYS)) {
    throw new ServiceError("usage", `--older-than-days must be at least ${MIN_RETENTION_DAYS}`);
  }
  const size = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const cutoff = new Date((options.now ?? new Date()).getTime() - options.olderThanDays * DAY_MS).toISOString();
  let removed = 0;
  for (;;) {
    if (options.signal?.aborted) {
      const done = `${removed.toLocaleString("en-US")} removed`;
      throw new ServiceError("interrupted", `interrupted after a batch (${done}); run it again for the rest`);
    }
    const batch = await runStatement(db, batchStatement({ cutoff, size }), BACKGROUND);
    removed += batch.length;
    if (batch.length < size) return removed;
  }
}
