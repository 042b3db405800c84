import { type SQL, sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";

/** A batch statement's input columns and their PostgreSQL types. */
export type ColumnType = "text" | "bigint" | "int" | "boolean";
export type Columns = Record<string, ColumnType>;

/** The input type that carries a value of `column` (a copied column's own type). */
export function columnTypeOf(column: PgColumn): ColumnType {
  const type = column.getSQLType();
  if (type === "text" || type === "bigint" || type === "boolean") return type;
  if (type === "integer") return "int";
  throw new Error(`rows-input: no input type for ${column.name} (${type})`);
}

/**
 * The `input` rows of a batch statement, in one of two shapes rendering the same columns (and `position`, the row's
 * place in the batch): `one`, a row of scalar parameters; `many`, arrays `unnest`ed into rows, one parameter a
 * column, so that a page of 500 is one round trip.
 */
export function inputRows(columns: Columns, v: Record<string, unknown>, shape: "one" | "many"): SQL {
  const names = Object.keys(columns);
  if (shape === "one") {
    const fields = names.map((name) => sql`${v[name]}::${sql.raw(columns[name] ?? "text")} AS ${sql.identifier(name)}`);
    return sql`SELECT ${sql.join(fields, sql`, `)}, 1::bigint AS position`;
  }
  // Booleans travel as 't'/'f' text: postgres.js would declare a JS boolean array as a scalar `bool` parameter.
  const arrays = names.map((name) =>
    columns[name] === "boolean"
      ? sql`${v[name]}::text[]::boolean[]`
      : sql`${v[name]}::${sql.raw(`${columns[name]}[]`)}`,
  );
  return sql`SELECT * FROM unnest(${sql.join(arrays, sql`, `)}) WITH ORDINALITY
      AS i(${sql.join(
        [...names, "position"].map((name) => sql.identifier(name)),
        sql`, `,
      )})`;
}

/** Per-row values as the column arrays `inputRows(…, "many")` binds. */
export function rowValues<C extends Columns>(
  columns: C,
  rows: readonly { [K in keyof C]: unknown }[],
): { [K in keyof C]: unknown[] } {
  const fields = {} as { [K in keyof C]: (row: { [K in keyof C]: unknown }) => unknown };
  for (const name of Object.keys(columns) as (keyof C)[]) fields[name] = (row) => row[name];
  return columnsOf(columns, fields, rows);
}

/** Each column's value for one row, read by `fields` (the `one` shape's scalars). */
export function rowOf<C extends Columns, R>(
  columns: C,
  fields: { [K in keyof C]: (row: R) => unknown },
  row: R,
): { [K in keyof C]: unknown } {
  const values = {} as { [K in keyof C]: unknown };
  for (const name of Object.keys(columns) as (keyof C)[]) values[name] = fields[name](row);
  return values;
}

/** Each column's values over `rows`, read by `fields`, as the arrays `inputRows(…, "many")` binds. */
export function columnsOf<C extends Columns, R>(
  columns: C,
  fields: { [K in keyof C]: (row: R) => unknown },
  rows: readonly R[],
): { [K in keyof C]: unknown[] } {
  const arrays = {} as { [K in keyof C]: unknown[] };
  for (const name of Object.keys(columns) as (keyof C)[]) {
    const field = fields[name];
    arrays[name] = columns[name] === "boolean" ? rows.map((row) => (field(row) ? "t" : "f")) : rows.map(field);
  }
  return arrays;
}
