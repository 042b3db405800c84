import { type SQL, sql } from "drizzle-orm";
import { BACKGROUND, type CallPolicy, REQUEST } from "../db/call.js";
import { type BoundStatement, defineStatement, type RunStatement, runStatement, runTransaction } from "../db/query.js";
import type { Db } from "../db/types.js";
import { type Columns, inputRows, rowValues } from "./rows-input.js";
import { notRecorded, recordDeliveries } from "./users/statement.js";
import type { DeliveryStamp } from "./users/verb.js";

/**
 * What the batch-shaped verbs of organizations.ts and memberships.ts share with each other (users.ts and
 * remove-users.ts are shaped the same way): a batch of one binds scalars, a page arrays; each input row comes back
 * with its result; removals tombstone first and delete in a second statement.
 */

/** Clerk's ms timestamps as timestamptz, exactly (no float rounding). */
export const fromClerkTime = (ms: SQL) => sql`('epoch'::timestamptz + ${ms} * interval '1 millisecond')`;

/**
 * The statement's answer, one row per input row: `(id, result)`, `duplicate` when the row's delivery id was
 * recorded before (or by a concurrent copy that committed first). Needs `input`, `results (<key>, result)` and
 * `recorded` (user-sql.ts `recordDeliveries`).
 */
export const resultPerRow = (key: string) => sql`SELECT i.${sql.identifier(key)} AS id, CASE
      WHEN i.delivery_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM recorded x WHERE x.delivery_id = i.delivery_id)
      THEN 'duplicate' ELSE r.result END AS result
  FROM input i LEFT JOIN results r USING (${sql.identifier(key)})`;

/** The values every batch statement binds besides its rows. */
export const stampValues = (stamp: (DeliveryStamp & { reason?: string }) | undefined) => ({
  eventType: stamp?.eventType ?? null,
  receivedAt: stamp?.receivedAt.toISOString() ?? null,
  reason: stamp?.reason ?? null,
});

/** Binds `values` (rows of `columns`) to the statement of its shape: scalars for one row, arrays for more. */
export function bindBatch<C extends Columns, V extends object>(
  columns: C,
  statements: { one: (values: V) => BoundStatement; many: (values: V) => BoundStatement },
  values: readonly { [K in keyof C]: unknown }[],
  common: object,
): BoundStatement {
  const [only] = values;
  return values.length === 1 && only
    ? statements.one({ ...only, ...common } as V)
    : statements.many({ ...rowValues(columns, values), ...common } as V);
}

/** Each row with the delivery id of its place in `stamp` (null without one). */
export const withDeliveries = <T>(rows: readonly T[], stamp: DeliveryStamp | undefined): Stamped<T>[] =>
  rows.map((row, i) => ({ row, deliveryId: stamp?.deliveryIds[i] ?? null }));

export interface Stamped<T> {
  row: T;
  deliveryId: string | null;
}

/** One entry per key, the newest `updatedAt` kept (a listing can return a row twice when offsets shift). */
export function newestPerKey<T extends { updatedAt: number }>(
  entries: readonly Stamped<T>[],
  key: (row: T) => string,
): Stamped<T>[] {
  const byKey = new Map<string, Stamped<T>>();
  for (const entry of entries) {
    const held = byKey.get(key(entry.row));
    if (!held || held.row.updatedAt < entry.row.updatedAt) byKey.set(key(entry.row), entry);
  }
  return [...byKey.values()];
}

/** Runs one statement of a verb: on `target`'s transaction when it is one, else on the pool under `policy`. */
export function runBatch<T>(target: Db | RunStatement, statement: BoundStatement, policy: CallPolicy): Promise<T[]> {
  return typeof target === "function" ? target<T>(statement) : runStatement<T>(target, statement, policy);
}

export type RemoveResult = "deleted" | "stale" | "duplicate";

/**
 * A removal's first statement, in both shapes: `version(fresh)` inserts the tombstones of the rows not delivered yet
 * (`RETURNING … AS id`: those tombstoned now); each row's result is `deleted` or `stale` (already tombstoned), and
 * its delivery recorded (`user_id`: the column of `columns` naming the Clerk user, if any).
 */
export function tombstoneStatements<C extends Columns>(columns: C, userId: SQL, version: SQL) {
  const statement = (shape: "one" | "many") =>
    defineStatement<Record<keyof C | "eventType" | "receivedAt" | "reason", unknown>>(
      (v) => sql`WITH input AS (${inputRows(columns, v, shape)}
    ), fresh AS (
      SELECT i.* FROM input i WHERE i.delivery_id IS NULL OR ${notRecorded}
    ), version AS (${version}
    ), results AS (
      SELECT f.id, f.delivery_id, ${userId} AS user_id,
        CASE WHEN v.id IS NOT NULL THEN 'deleted' ELSE 'stale' END AS result
      FROM fresh f LEFT JOIN version v USING (id)
    ), ${recordDeliveries(sql`SELECT delivery_id, user_id, result AS outcome, ${v.reason}::text AS reason FROM results`, v)}
    ${resultPerRow("id")}`,
    );
  return { one: statement("one"), many: statement("many") };
}

/** A removal of `values` (rows of `columns`, distinct ids) by `tombstones`, then `remove` of those tombstoned now. */
export function removeBatch<C extends Columns>(
  target: Db | RunStatement,
  batch: {
    columns: C;
    tombstones: ReturnType<typeof tombstoneStatements<C>>;
    values: readonly { [K in keyof C]: unknown }[];
    remove: (ids: string[]) => BoundStatement;
  },
  options: { stamp?: DeliveryStamp & { reason?: string }; policy?: CallPolicy },
): Promise<{ id: string; result: RemoveResult }[]> {
  if (batch.values.length === 0) return Promise.resolve([]);
  const tombstone = bindBatch(batch.columns, batch.tombstones, batch.values, stampValues(options.stamp));
  const policy = options.policy ?? (batch.values.length === 1 ? REQUEST : BACKGROUND);
  return tombstoneThenDelete(target, tombstone, batch.remove, policy);
}

/**
 * A removal: `tombstone` (taking the version rows' locks, recording each delivery; rows `(id, result)`), then
 * `remove` of the ids it tombstoned, in a second statement whose fresh snapshot sees every row committed by a writer
 * that held a version lock before us. One transaction (`target`'s when it is one).
 */
function tombstoneThenDelete(
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
