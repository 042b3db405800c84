import { type SQL, sql } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";
import type { Shape } from "./spec.js";

/** Clerk's ms timestamps as timestamptz, exactly (no float rounding). */
export const fromClerkTime = (ms: SQL) => sql`('epoch'::timestamptz + ${ms} * interval '1 millisecond')`;

/** A table whose rows hold Clerk's fields as sent, and Clerk's own `created_at`/`updated_at`. */
export interface CopiedTable {
  table: PgTable;
  /** Input column → table column: the copied fields (updated by a newer state) … */
  copied: Record<string, PgColumn>;
  /** … and the identifying ones (the id, a membership's organization and user), inserted and never changed. */
  keys: Record<string, PgColumn>;
}

const columnNames = (table: CopiedTable) =>
  [...Object.values(table.keys), ...Object.values(table.copied)].map((column) => sql.identifier(column.name));

/** `INSERT INTO <table> (…) SELECT … FROM (select) o`: the rows of `select`, whose columns are named by `prefix` + input column. */
export function insertCopied(table: CopiedTable, select: SQL, prefix = "") {
  const inputs = [...Object.keys(table.keys), ...Object.keys(table.copied)];
  const from = (input: string) => sql`o.${sql.identifier(`${prefix}${input}`)}`;
  return sql`INSERT INTO ${table.table} (${sql.join(columnNames(table), sql`, `)}, created_at, updated_at)
    SELECT ${sql.join(inputs.map(from), sql`, `)}, ${fromClerkTime(from("created_at"))}, ${fromClerkTime(from("updated_at"))}
    FROM (${select}) o`;
}

/**
 * `written`: the rows whose version moved, inserted, or updated in place on `conflict` (a newer state replaces the
 * copied fields and Clerk's times; `also`: further assignments; `guard`: when the stored row may be replaced;
 * `computed`: further columns of the inserted rows, made from `i` (`, <expression> AS <input column>`), for values
 * the input carries in another type: an array, a time).
 */
export function writeCopied(
  table: CopiedTable,
  shape: Shape,
  options: { conflict: SQL; order: SQL; also?: SQL; guard?: SQL; computed?: SQL },
) {
  const assignments = Object.values(table.copied).map(
    (column) => sql`${sql.identifier(column.name)} = excluded.${sql.identifier(column.name)}`,
  );
  return sql`written AS (
    ${insertCopied(table, sql`SELECT i.*${options.computed ?? sql``} FROM input i JOIN version USING (id)${shape === "many" ? sql` ORDER BY ${options.order}` : sql``}`)}
    ON CONFLICT ${options.conflict} DO UPDATE SET ${options.also ? sql`${options.also}, ` : sql``}${sql.join(assignments, sql`, `)},
      created_at = excluded.created_at, updated_at = excluded.updated_at${
        options.guard
          ? sql`
      WHERE ${options.guard}`
          : sql``
      }
    RETURNING id, (xmax = 0) AS created
  )`;
}
