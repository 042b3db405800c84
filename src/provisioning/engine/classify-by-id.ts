import { type SQL, sql } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";
import { BACKGROUND } from "../../db/call.js";
import { defineStatement, runStatement } from "../../db/query.js";
import type { Db } from "../../db/types.js";
import { addInto, type Counts } from "../../outcome.js";

/** A kind whose rows are written by id alone: its versions, its table, and a further reason a row is `deleted`. */
export interface ById<Row> {
  versions: PgTable;
  versionKey: PgColumn;
  table: PgTable;
  /** Of `i` (`id`, `updated_at`, `parent`): tombstoned with its parent (an invitation's organization). */
  parentGone?: SQL;
  parentOf?: (row: Row) => string;
  idOf: (row: Row) => string;
  updatedAtOf: (row: Row) => number;
}

/** `--dry-run` of a kind written by id (roles, permissions, invitations): what a page would come to, read only. */
export function classifyById<Row>(kind: ById<Row>) {
  const statement = defineStatement<Record<"ids" | "updatedAts" | "parents", unknown>>(
    (v) => sql`SELECT outcome, count(*)::int AS n FROM (
    SELECT CASE
      WHEN ver.deleted_at IS NOT NULL${kind.parentGone ? sql` OR ${kind.parentGone}` : sql``} THEN 'skipped:deleted'
      WHEN ver.clerk_updated_at = i.updated_at THEN 'unchanged'
      WHEN ver.clerk_updated_at > i.updated_at THEN 'skipped:stored_newer'
      WHEN EXISTS (SELECT 1 FROM ${kind.table} t WHERE t.id = i.id) THEN 'updated' ELSE 'created' END AS outcome
    FROM unnest(${v.ids}::text[], ${v.updatedAts}::bigint[], ${v.parents}::text[]) AS i(id, updated_at, parent)
    LEFT JOIN ${kind.versions} ver ON ver.${sql.identifier(kind.versionKey.name)} = i.id) c
  GROUP BY outcome`,
  );
  return async (db: Db, rows: readonly Row[]): Promise<Counts> => {
    const counts: Counts = {};
    if (rows.length === 0) return counts;
    const bound = statement({
      ids: rows.map(kind.idOf),
      updatedAts: rows.map(kind.updatedAtOf),
      parents: rows.map((row) => kind.parentOf?.(row) ?? null),
    });
    for (const { outcome, n } of await runStatement<{ outcome: string; n: number }>(db, bound, BACKGROUND)) {
      addInto(counts, outcome, n);
    }
    return counts;
  };
}
