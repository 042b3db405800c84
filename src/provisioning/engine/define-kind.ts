import type { PgColumn } from "drizzle-orm/pg-core";
import { BACKGROUND, type CallPolicy, REQUEST } from "../../db/call.js";
import { toDatabaseError } from "../../db/errors.js";
import { type BoundStatement, defineStatement, type RunStatement, runStatement } from "../../db/query.js";
import type { Db } from "../../db/types.js";
import type { RowResult } from "../../outcome.js";
import type { DeliveryStamp } from "../deliveries.js";
import { type RemoveResult, removeStatements, tombstoneThenDelete } from "./remove-statement.js";
import { type Columns, columnsOf, columnTypeOf, inputRows, rowOf } from "./rows-input.js";
import type { KindSpec, Shape, Values } from "./spec.js";
import { upsertStatement } from "./upsert-statement.js";

export type { RemoveResult };

export interface WriteOptions {
  /** The delivery to record (a batch of one). */
  stamp?: DeliveryStamp;
  /** Default: REQUEST for one row, BACKGROUND for a page. */
  policy?: CallPolicy;
}

export interface Written<R> {
  id: string;
  result: R;
}

/** A kind: what it declared, and the verbs the engine made from it. */
export interface Kind<Row, Key>
  extends Pick<KindSpec<Row, string, Key>, "name" | "noun" | "fromClerk" | "idOf" | "classify"> {
  /** Writes rows (created/updated unless stale); one statement, on `target`'s transaction when it is one. */
  write(target: Db | RunStatement, rows: readonly Row[], options?: WriteOptions): Promise<Written<RowResult>[]>;
  /** Removes as the kind's `.deleted` event does: tombstones first, then deletes, in one transaction. */
  remove(target: Db | RunStatement, keys: readonly Key[], options?: WriteOptions): Promise<Written<RemoveResult>[]>;
  /** The write's statement for `rows` (distinct keys) at `attempt` (the benchmark's ceiling runs it). */
  writeStatement(rows: readonly Row[], stamp?: DeliveryStamp, attempt?: number): BoundStatement;
  /** The removal's two statements (the benchmark's ceiling runs them). */
  removeStatements(
    keys: readonly Key[],
    stamp?: DeliveryStamp,
  ): { tombstone: BoundStatement; remove(ids: string[]): BoundStatement };
  /** Each statement's text, for review (`*.sql` beside the kind). */
  sql: Record<"write-one" | "write-many" | "tombstone-one" | "tombstone-many", string>;
}

const policyFor = (rows: number, options: WriteOptions) => options.policy ?? (rows === 1 ? REQUEST : BACKGROUND);

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

/** The write's two statements, and the binding of rows to the one of their shape. */
function writeStatements<Row, Field extends string, Key>(spec: KindSpec<Row, Field, Key>) {
  const { columns, fields } = inputsOf(spec);
  const oneColumns: Columns = { ...columns, delivery_id: "text" };
  const statement = (shape: Shape) =>
    defineStatement<Values>((v) =>
      upsertStatement(inputRows(shape === "one" ? oneColumns : columns, v, shape), v, shape, spec),
    );
  const one = statement("one");
  const many = statement("many");
  const bind = (rows: readonly Row[], stamp?: DeliveryStamp, attempt = 1): BoundStatement => {
    if (stamp && rows.length !== 1) throw new Error("a delivery is recorded with a batch of one");
    const common = {
      ...spec.attemptValues?.(attempt),
      eventType: stamp?.eventType ?? null,
      receivedAt: stamp?.receivedAt.toISOString() ?? null,
    };
    const [only] = rows;
    return rows.length === 1 && only
      ? one({ ...rowOf(columns, fields, only), delivery_id: stamp?.deliveryIds[0] ?? null, ...common })
      : many({ ...columnsOf(columns, fields, rows), ...common });
  };
  return { bind, text: { one: one({}).text, many: many({}).text } };
}

export function defineKind<Row, Field extends string, Key>(spec: KindSpec<Row, Field, Key>): Kind<Row, Key> {
  const writing = writeStatements(spec);
  const writeStatement = writing.bind;
  const removal = removeStatements(spec.versions, spec.removal);

  const write: Kind<Row, Key>["write"] = async (target, rows, options = {}) => {
    if (rows.length === 0) return [];
    const distinct = newestPer(rows, spec.distinctBy ?? [spec.idOf], spec.updatedAtOf);
    const bind = (attempt: number) => writeStatement(distinct, options.stamp, attempt);
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
    return distinct.map((row) => ({ id: spec.idOf(row), result: results.get(spec.idOf(row)) ?? "unchanged" }));
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
    write,
    remove,
    writeStatement,
    removeStatements: (keys, stamp) => ({ tombstone: removal.tombstone(keys, stamp), remove: spec.removal.remove }),
    sql: {
      "write-one": writing.text.one,
      "write-many": writing.text.many,
      "tombstone-one": removal.text.one,
      "tombstone-many": removal.text.many,
    },
  };
}
