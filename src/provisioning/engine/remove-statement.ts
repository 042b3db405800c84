import { sql } from "drizzle-orm";
import type { CallPolicy } from "../../db/call.js";
import { type BoundStatement, defineStatement, type RunStatement, runTransaction } from "../../db/query.js";
import type { Db } from "../../db/types.js";
import { type DeliveryStamp, notRecorded, recordDeliveries } from "../deliveries.js";
import { type Columns, inputRows, rowValues } from "./rows-input.js";
import type { RemovalSpec, Values, VersionTable } from "./spec.js";

export type RemoveResult = "deleted" | "stale" | "duplicate";

/**
 * A removal's first statement, in both shapes (pages of `sync --prune` carry a delivery id per row too): the
 * tombstones of the rows not delivered yet (a tombstone is set once and kept forever: nothing brings the object
 * back), each row's result (`deleted` now, `stale` when tombstoned already, `duplicate`) and its delivery record.
 */
export function removeStatements<Key>(versions: VersionTable, removal: RemovalSpec<Key>) {
  const columns: Columns = { id: "text", ...removal.columns, delivery_id: "text" };
  const carried = Object.entries(versions.carries ?? {});
  const names = [versions.key, ...carried.map(([, column]) => column)].map((column) => sql.identifier(column.name));
  const values = [sql`id`, ...carried.map(([input]) => sql.identifier(input))];
  const clerkUpdatedAt = "updated_at" in removal.columns ? sql`updated_at` : sql`0`;
  const statement = (shape: "one" | "many") =>
    defineStatement<Values>(
      (v) => sql`WITH input AS (${inputRows(columns, v, shape)}
    ), fresh AS (
      SELECT i.* FROM input i WHERE i.delivery_id IS NULL OR ${notRecorded}
    ), version AS (
      INSERT INTO ${versions.table} (${sql.join(names, sql`, `)}, clerk_updated_at, deleted_at)
      SELECT ${sql.join(values, sql`, `)}, ${clerkUpdatedAt}, now() FROM fresh ORDER BY id
      ON CONFLICT (${sql.identifier(versions.key.name)}) DO UPDATE SET deleted_at = now() WHERE ${versions.deletedAt} IS NULL
      RETURNING ${sql.identifier(versions.key.name)} AS id
    ), results AS (
      SELECT f.id, f.delivery_id, ${removal.deliveryUser} AS user_id,
        CASE WHEN v.id IS NOT NULL THEN 'deleted' ELSE 'stale' END AS result
      FROM fresh f LEFT JOIN version v USING (id)
    ), ${recordDeliveries(sql`SELECT delivery_id, user_id, result AS outcome, ${v.reason}::text AS reason FROM results`, v)}
    SELECT i.id, CASE WHEN i.delivery_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM recorded x WHERE x.delivery_id = i.delivery_id)
      THEN 'duplicate' ELSE r.result END AS result
    FROM input i LEFT JOIN results r USING (id)`,
    );
  const one = statement("one");
  const many = statement("many");
  const tombstone = (keys: readonly Key[], stamp?: DeliveryStamp): BoundStatement => {
    const seen = new Set<string>();
    const rows = keys.flatMap((key, i) => {
      const row = removal.values(key);
      if (seen.has(row.id)) return [];
      seen.add(row.id);
      return [{ ...row, delivery_id: stamp?.deliveryIds[i] ?? null }];
    });
    const common = {
      eventType: stamp?.eventType ?? null,
      receivedAt: stamp?.receivedAt.toISOString() ?? null,
      reason: stamp?.reason ?? null,
    };
    const [only] = rows;
    return rows.length === 1 && only ? one({ ...only, ...common }) : many({ ...rowValues(columns, rows), ...common });
  };
  return { tombstone, text: { one: one({}).text, many: many({}).text } };
}

/**
 * A removal: `tombstone` (taking the version rows' locks, recording each delivery; rows `(id, result)`), then
 * `remove` of the ids it tombstoned, in a second statement whose fresh snapshot sees every row committed by a writer
 * that held a version lock before us. One transaction (`target`'s when it is one).
 */
export function tombstoneThenDelete(
  target: Db | RunStatement,
  tombstone: BoundStatement,
  remove: (ids: string[]) => BoundStatement,
  policy: CallPolicy,
): Promise<{ id: string; result: RemoveResult }[]> {
  const work = async (run: RunStatement) => {
    const rows = await run<{ id: string; result: RemoveResult }>(tombstone);
    const deleted = rows.filter((row) => row.result === "deleted").map((row) => row.id);
    if (deleted.length > 0) await run(remove(deleted));
    return rows;
  };
  return typeof target === "function" ? work(target) : runTransaction(target, work, policy);
}
