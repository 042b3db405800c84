import type { ClerkDirectory } from "../clerk/backend-api.js";
import type { Db } from "../db/types.js";
import { isServiceError } from "../errors.js";
import { replayChunk } from "./apply.js";
import { chunked, type Selected, select } from "./selection.js";
import { judge, label, wouldBe } from "./verdicts.js";

/**
 * `npm run replay`: re-runs deliveries recorded as `skipped` or `failed` (a user without a usable e-mail; from
 * `npm run sync`, an e-mail held by another user or a payload we could not read) once an operator fixed the cause.
 *
 * Each is replayed with its user's current state, fetched from the Clerk Backend API (100 users per request), not
 * with a stored copy of the payload: the cause is often fixed in Clerk (an address added, a primary changed), which
 * only the current state shows; the version rule keeps it from undoing anything newer; a tombstoned user stays
 * deleted; and `clerk_deliveries` keeps holding no personal data. The delivery row gets the replay's outcome
 * (`provisioned`, `stale`, or still `skipped`/`failed` with the new reason) and `replayed_at`.
 */

export interface ReplayOptions {
  /** Only this delivery (`delivery_id`). */
  id?: string | undefined;
  /** Report what a replay would do; change nothing. */
  dryRun: boolean;
  signal: AbortSignal;
  onProgress?: (progress: { done: number; total: number }) => void;
}

export interface ReplayedDelivery {
  deliveryId: string;
  userId: string;
  /** `skipped:no_usable_email`, `failed:email_conflict`, … */
  before: string;
  /**
   * `provisioned`, `stale`, still `skipped:…` / `failed:…` (dry run: what it would be), or `duplicate`: another
   * replay took this delivery meanwhile.
   */
  after: string;
}

export interface ReplayResult {
  status: "completed" | "interrupted";
  /** Deliveries selected for replay. */
  selected: number;
  /** Deliveries by their outcome after the replay. */
  counts: Record<string, number>;
  /** At most 1,000, in replay order. */
  deliveries: ReplayedDelivery[];
}

const MAX_LISTED = 1_000;

export async function replayDeliveries(
  { db, directory }: { db: Db; directory: ClerkDirectory },
  options: ReplayOptions,
): Promise<ReplayResult> {
  const selected = await select(db, options.id);
  const result: ReplayResult = { status: "completed", selected: selected.length, counts: {}, deliveries: [] };
  const record = (delivery: Selected, after: string) => {
    result.counts[after] = (result.counts[after] ?? 0) + 1;
    if (result.deliveries.length < MAX_LISTED) {
      const { deliveryId, userId } = delivery;
      result.deliveries.push({ deliveryId, userId, before: label(delivery.outcome, delivery.reason), after });
    }
  };
  let done = 0;
  for (const chunk of chunked(selected)) {
    if (options.signal.aborted) {
      result.status = "interrupted";
      break;
    }
    try {
      const verdicts = await judge(db, directory, chunk);
      const after = options.dryRun ? await wouldBe(db, chunk, verdicts) : await replayChunk(db, chunk, verdicts);
      for (const delivery of chunk) record(delivery, after.get(delivery.deliveryId) ?? "duplicate");
    } catch (error) {
      if (!isServiceError(error, "interrupted")) throw error;
      result.status = "interrupted";
      break;
    }
    done += chunk.length;
    options.onProgress?.({ done, total: selected.length });
  }
  return result;
}
