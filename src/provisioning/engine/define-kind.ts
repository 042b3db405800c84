import type { PgColumn } from "drizzle-orm/pg-core";
import { BACKGROUND, type CallPolicy, REQUEST } from "../../db/call.js";
import { toDatabaseError } from "../../db/errors.js";
import { type BoundStatement, defineStatement, type RunStatement, runStatement } from "../../db/query.js";
import type { Db } from "../../db/types.js";
import type { RowResult } from "../../outcome.js";
import {
  DELIVERY_COLUMNS,
  type DeliveryStamp,
  deliveryColumns,
  type RowDelivery,
  stampDeliveries,
} from "../deliveries.js";
import { type RemoveResult, removeStatements, tombstoneThenDelete } from "./remove-statement.js";
import { type Columns, columnsOf, columnTypeOf, inputRows, rowOf } from "./rows-input.js";
import type { KindSpec, Values } from "./spec.js";
import { type Form, shapeOf, upsertStatement } from "./upsert-statement.js";

export type { RemoveResult };

export interface WriteOptions {
  /** The delivery to record (a batch of one). */
  stamp?: DeliveryStamp;
  /** One delivery per row, each recorded (coalesced deliveries: rows of distinct keys, see `keysOf`). */
  deliveries?: readonly RowDelivery[];
  /** Default: REQUEST for one row or rows carrying deliveries (someone waits for the answer), BACKGROUND for a page. */
  policy?: CallPolicy;
}

export interface Written<R> {
  id: string;
  result: R;
}

/** A kind: what it declared, and the verbs the engine made from it. */
export interface Kind<Row, Key>
  extends Pick<KindSpec<Row, string, Key>, "name" | "noun" | "fromClerk" | "idOf" | "classify"> {
  /** The keys a statement may touch once each (the id, and the kind's `distinctBy`). */
  keysOf(row: Row): string[];
  updatedAtOf(row: Row): number;
  /** The id a removal of `key` tombstones. */
  removedIdOf(key: Key): string;
  /** Writes rows (created/updated unless stale); one statement, on `target`'s transaction when it is one. */
  write(target: Db | RunStatement, rows: readonly Row[], options?: WriteOptions): Promise<Written<RowResult>[]>;
  /** Removes as the kind's `.deleted` event does: tombstones first, then deletes, in one transaction. */
  remove(target: Db | RunStatement, keys: readonly Key[], options?: WriteOptions): Promise<Written<RemoveResult>[]>;
  /** The write's statement for `rows` (distinct keys) at `attempt` (the benchmark's ceiling runs it). */
  writeStatement(rows: readonly Row[], deliveries?: readonly RowDelivery[], attempt?: number): BoundStatement;
  /** The removal's two statements (the benchmark's ceiling runs them). */
  removeStatements(
    keys: readonly Key[],
    stamp?: DeliveryStamp,
  ): { tombstone: BoundStatement; remove(ids: string[]): BoundStatement };
  /** Each statement's text, for review (`*.sql` beside the kind). */
  sql: Record<"write-one" | "write-many" | "write-batch" | "tombstone-one" | "tombstone-many", string>;
}

const policyFor = (rows: number, options: WriteOptions) =>
  options.policy ?? (rows === 1 || options.deliveries ? REQUEST : BACKGROUND);

/** Of `rows`, the newest per key of each of `keys` (a listing can return a row twice; one statement touches a row once). */
function newestPer<Row>(
  rows: readonly Row[],
  keys: readonly ((row: Row) => string)[],
  updatedAt: (row: Row) => number,
) {
  if (rows.length < 2) return rows;
  let distinct = rows;
  for (const key of keys) {
    const byKey = new Map<string, Row>();
    for (const row of distinct) {
      const held = byKey.get(key(row));
      if (!held || updatedAt(held) < updatedAt(row)) byKey.set(key(row), row);
    }
    if (byKey.size < distinct.length) distinct = [...byKey.values()];
  }
  return distinct;
}

/** The write's input columns (the id, `updated_at`, the copied fields, the kind's inputs) and how a row gives each. */
function inputsOf<Row, Field extends string, Key>(spec: KindSpec<Row, Field, Key>) {
  const columns: Columns = { id: "text", updated_at: "bigint" };
  const fields: Record<string, (row: Row) => unknown> = { id: spec.idOf, updated_at: spec.updatedAtOf };
  for (const [field, column] of Object.entries(spec.copied) as [Field, PgColumn][]) {
    columns[column.name] = columnTypeOf(column);
    fields[column.name] = (row) => spec.copiedOf(row, field);
  }
  for (const [input, { type, of }] of Object.entries(spec.inputs)) {
    columns[input] = type;
    fields[input] = of;
  }
  return { columns, fields };
}

/** The write's three statements (upsert-statement.ts `Form`), and the binding of rows to the one of their form. */
function writeStatements<Row, Field extends string, Key>(spec: KindSpec<Row, Field, Key>) {
  const { columns, fields } = inputsOf(spec);
  const oneColumns: Columns = { ...columns, delivery_id: "text" };
  const batchColumns: Columns = { ...columns, ...DELIVERY_COLUMNS };
  const statement = (form: Form, input: Columns) =>
    defineStatement<Values>((v) => upsertStatement(inputRows(input, v, shapeOf(form)), v, form, spec));
  const one = statement("one", oneColumns);
  const page = statement("page", columns);
  const batch = statement("batch", batchColumns);
  const bind = (rows: readonly Row[], deliveries?: readonly RowDelivery[], attempt = 1): BoundStatement => {
    if (deliveries && deliveries.length !== rows.length) throw new Error("one delivery per row");
    const attemptValues = spec.attemptValues?.(attempt);
    const [only] = rows;
    const [delivery] = deliveries ?? [];
    if (rows.length === 1 && only) {
      return one({
        ...rowOf(columns, fields, only),
        ...attemptValues,
        delivery_id: delivery?.deliveryId ?? null,
        eventType: delivery?.eventType ?? null,
        receivedAt: delivery?.receivedAt.toISOString() ?? null,
      });
    }
    if (!deliveries) return page({ ...columnsOf(columns, fields, rows), ...attemptValues });
    return batch({ ...columnsOf(columns, fields, rows), ...deliveryColumns(deliveries), ...attemptValues });
  };
  return { bind, text: { one: one({}).text, many: page({}).text, batch: batch({}).text } };
}

export function defineKind<Row, Field extends string, Key>(spec: KindSpec<Row, Field, Key>): Kind<Row, Key> {
  const writing = writeStatements(spec);
  const distinctBy = spec.distinctBy ?? [spec.idOf];
  const keysOf = (row: Row) => distinctBy.map((key, i) => `${i}:${key(row)}`);
  const writeStatement = writing.bind;
  const removal = removeStatements(spec.versions, spec.removal);

  const write: Kind<Row, Key>["write"] = async (target, rows, options = {}) => {
    if (rows.length === 0) return [];
    const deliveries = options.deliveries ?? stampDeliveries(options.stamp);
    const distinct = newestPer(rows, distinctBy, spec.updatedAtOf);
    if (deliveries && distinct.length < rows.length) throw new Error("rows with deliveries must have distinct keys");
    const bind = (attempt: number) => writeStatement(distinct, deliveries, attempt);
    let written: Written<RowResult>[];
    try {
      written =
        typeof target === "function"
          ? await target<Written<RowResult>>(bind(1))
          : await runStatement<Written<RowResult>>(target, bind, policyFor(distinct.length, options), spec.retryWhen);
    } catch (error) {
      throw spec.mapError ? spec.mapError(toDatabaseError(error)) : error;
    }
    if (distinct.length === 1) return written;
    const results = new Map(written.map((row) => [row.id, row.result]));
    // A row not answered: unchanged (a page), or its delivery was recorded before (a batch of deliveries).
    const otherwise = deliveries ? "duplicate" : "unchanged";
    return distinct.map((row) => ({ id: spec.idOf(row), result: results.get(spec.idOf(row)) ?? otherwise }));
  };

  const remove: Kind<Row, Key>["remove"] = (target, keys, options = {}) => {
    if (keys.length === 0) return Promise.resolve([]);
    const tombstone = removal.tombstone(keys, options.stamp);
    return tombstoneThenDelete(target, tombstone, spec.removal.remove, policyFor(keys.length, options));
  };

  return {
    name: spec.name,
    noun: spec.noun,
    fromClerk: spec.fromClerk,
    idOf: spec.idOf,
    classify: spec.classify,
    keysOf,
    updatedAtOf: spec.updatedAtOf,
    removedIdOf: (key) => spec.removal.values(key).id,
    write,
    remove,
    writeStatement,
    removeStatements: (keys, stamp) => ({ tombstone: removal.tombstone(keys, stamp), remove: spec.removal.remove }),
    sql: {
      "write-one": writing.text.one,
      "write-many": writing.text.many,
      "write-batch": writing.text.batch,
      "tombstone-one": removal.text.one,
      "tombstone-many": removal.text.many,
    },
  };
}
