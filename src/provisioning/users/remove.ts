import { sql } from "drizzle-orm";
import { BACKGROUND, type CallPolicy, REQUEST } from "../../db/call.js";
import { defineStatement, type RunStatement, runTransaction } from "../../db/query.js";
import { clerkUserVersions } from "../../db/schema.js";
import type { Db } from "../../db/types.js";
import type { RemoveResult } from "../batch.js";
import { type Columns, inputRows, rowValues } from "../rows-input.js";
import { notRecorded, recordDeliveries, removeDependents, tombstoneOnConflict } from "./statement.js";
import type { DeliveryStamp } from "./verb.js";

/** The verb that removes Clerk users, for every caller: the webhook's `user.deleted` and `sync --prune`. */

export type { RemoveResult };

const tombstoneColumns = { user_id: "text", delivery_id: "text" } as const satisfies Columns;

/**
 * Tombstones first (taking the version rows' locks; a tombstone is kept forever, so nothing brings the user back),
 * recording each delivery; `removeDependents` then deletes in a second statement, whose fresh snapshot sees any
 * row committed by a writer that held a version lock before us.
 */
const tombstoneStatement = (shape: "one" | "many") =>
  defineStatement<Record<keyof typeof tombstoneColumns | "eventType" | "receivedAt" | "reason", unknown>>(
    (v) => sql`WITH input AS (${inputRows(tombstoneColumns, v, shape)}
    ), fresh AS (
      SELECT i.* FROM input i WHERE i.delivery_id IS NULL OR ${notRecorded}
    ), version AS (
      INSERT INTO ${clerkUserVersions} (user_id, clerk_updated_at, deleted_at)
      SELECT user_id, 0, now() FROM fresh ORDER BY user_id
      ${tombstoneOnConflict}
      RETURNING user_id
    ), ${recordDeliveries(
      sql`SELECT f.delivery_id, f.user_id, CASE WHEN v.user_id IS NOT NULL THEN 'deleted' ELSE 'stale' END AS outcome,
        ${v.reason}::text AS reason FROM fresh f LEFT JOIN version v USING (user_id)`,
      v,
    )}
    SELECT i.user_id, CASE WHEN i.delivery_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM recorded x WHERE x.delivery_id = i.delivery_id) THEN 'duplicate'
      WHEN v.user_id IS NOT NULL THEN 'deleted' ELSE 'stale' END AS result
    FROM input i LEFT JOIN version v USING (user_id)`,
  );
const tombstoneOne = tombstoneStatement("one");
const tombstoneMany = tombstoneStatement("many");

export function tombstoneUsersStatement(ids: readonly string[], stamp?: DeliveryStamp & { reason?: string }) {
  const values = ids.map((id, i) => ({ user_id: id, delivery_id: stamp?.deliveryIds[i] ?? null }));
  const common = {
    eventType: stamp?.eventType ?? null,
    receivedAt: stamp?.receivedAt.toISOString() ?? null,
    reason: stamp?.reason ?? null,
  };
  const [only] = values;
  return ids.length === 1 && only
    ? tombstoneOne({ ...only, ...common })
    : tombstoneMany({ ...rowValues(tombstoneColumns, values), ...common });
}

/** Removes users (and everything of theirs) as a `user.deleted` does, in one transaction; inside `run`'s if given. */
export async function removeUsers(
  target: Db | RunStatement,
  ids: readonly string[],
  options: { stamp?: DeliveryStamp & { reason?: string }; policy?: CallPolicy } = {},
): Promise<{ userId: string; result: RemoveResult }[]> {
  if (ids.length === 0) return [];
  const work = async (run: RunStatement) => {
    const rows = await run<{ user_id: string; result: RemoveResult }>(tombstoneUsersStatement(ids, options.stamp));
    const deleted = rows.filter((row) => row.result === "deleted").map((row) => row.user_id);
    if (deleted.length > 0) await run(removeDependents(deleted));
    return rows.map((row) => ({ userId: row.user_id, result: row.result }));
  };
  if (typeof target === "function") return work(target);
  return runTransaction(target, work, options.policy ?? (ids.length === 1 ? REQUEST : BACKGROUND));
}
