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

/**
 * One batch: the oldest `size` rows after the last one removed, in `(received_at, delivery_id)` order along the
 * `received_at` index, so that no batch reads the rows earlier batches removed (their dead tuples stay until a
 * vacuum). The answer is the new boundary (as text: a `Date` would drop the microseconds); no row when none is left.
 */
const batchStatement = defineStatement<{ cutoff: string; afterAt: string; afterId: string; size: number }>(
  (v) => sql`WITH batch AS (
    SELECT delivery_id, received_at FROM clerk_deliveries
    WHERE received_at < ${v.cutoff}::timestamptz
      AND (received_at, delivery_id) > (${v.afterAt}::timestamptz, ${v.afterId}::text)
    ORDER BY received_at, delivery_id LIMIT ${v.size}::int
  ), removed AS (
    DELETE FROM clerk_deliveries WHERE delivery_id = ANY (ARRAY(SELECT delivery_id FROM batch)) RETURNING 1
  )
  SELECT (SELECT count(*)::int FROM removed) AS removed, (SELECT count(*)::int FROM batch) AS walked,
    last.received_at::text AS after_at, last.delivery_id AS after_id
  FROM batch last ORDER BY last.received_at DESC, last.delivery_id DESC LIMIT 1`,
);

type BatchRow = { removed: number; walked: number; after_at: string; after_id: string };

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
  let after = { afterAt: "-infinity", afterId: "" };
  let removed = 0;
  for (;;) {
    if (options.signal?.aborted) {
      const done = `${removed.toLocaleString("en-US")} removed`;
      throw new ServiceError("interrupted", `interrupted after a batch (${done}); run it again for the rest`);
    }
    const [batch] = await runStatement<BatchRow>(db, batchStatement({ cutoff, size, ...after }), BACKGROUND);
    removed += batch?.removed ?? 0;
    if (!batch || batch.walked < size) return removed;
    after = { afterAt: batch.after_at, afterId: batch.after_id };
  }
}
