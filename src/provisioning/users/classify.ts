import { sql } from "drizzle-orm";
import { BACKGROUND } from "../../db/call.js";
import { defineStatement, runStatement } from "../../db/query.js";
import { clerkUserVersions, users } from "../../db/schema.js";
import type { Db } from "../../db/types.js";
import { addInto, type Counts } from "../../outcome.js";
import type { UserRow } from "./row.js";

/** `--dry-run`: what a page would come to, read only (an e-mail held by another user shows as a failure). */
const classifyStatement = defineStatement<Record<"ids" | "updatedAts" | "emails", unknown>>(
  (v) => sql`SELECT outcome, count(*)::int AS n FROM (
    SELECT CASE
      WHEN ver.deleted_at IS NOT NULL THEN 'skipped:deleted'
      WHEN ver.clerk_updated_at = i.updated_at THEN 'unchanged'
      WHEN ver.clerk_updated_at > i.updated_at THEN 'skipped:stored_newer'
      WHEN EXISTS (SELECT 1 FROM ${users} u WHERE u.email = i.email AND u.id <> i.user_id) THEN 'failed:email_conflict'
      WHEN EXISTS (SELECT 1 FROM ${users} u WHERE u.id = i.user_id) THEN 'updated' ELSE 'created' END AS outcome
    FROM unnest(${v.ids}::text[], ${v.updatedAts}::bigint[], ${v.emails}::text[]) AS i(user_id, updated_at, email)
    LEFT JOIN ${clerkUserVersions} ver ON ver.user_id = i.user_id) c
  GROUP BY outcome`,
);

export async function classifyUsers(db: Db, rows: readonly UserRow[]): Promise<Counts> {
  const counts: Counts = {};
  if (rows.length === 0) return counts;
  const statement = classifyStatement({
    ids: rows.map((r) => r.userId),
    updatedAts: rows.map((r) => r.updatedAt),
    emails: rows.map((r) => r.email),
  });
  for (const { outcome, n } of await runStatement<{ outcome: string; n: number }>(db, statement, BACKGROUND)) {
    addInto(counts, outcome, n);
  }
  return counts;
}
