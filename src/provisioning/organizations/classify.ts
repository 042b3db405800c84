import { sql } from "drizzle-orm";
import type { ClerkOrganization } from "../../clerk/events.js";
import { BACKGROUND } from "../../db/call.js";
import { defineStatement, runStatement } from "../../db/query.js";
import { clerkOrganizationVersions, organizations } from "../../db/schema.js";
import type { Db } from "../../db/types.js";
import { addInto, type Counts } from "../../outcome.js";

/** `--dry-run`: what a page of organizations would come to, read only. */
const classifyStatement = defineStatement<Record<"ids" | "updatedAts", unknown>>(
  (v) => sql`SELECT outcome, count(*)::int AS n FROM (
    SELECT CASE
      WHEN ver.deleted_at IS NOT NULL THEN 'skipped:deleted'
      WHEN ver.clerk_updated_at = i.updated_at THEN 'unchanged'
      WHEN ver.clerk_updated_at > i.updated_at THEN 'skipped:stored_newer'
      WHEN EXISTS (SELECT 1 FROM ${organizations} o WHERE o.id = i.id) THEN 'updated' ELSE 'created' END AS outcome
    FROM unnest(${v.ids}::text[], ${v.updatedAts}::bigint[]) AS i(id, updated_at)
    LEFT JOIN ${clerkOrganizationVersions} ver ON ver.organization_id = i.id) c
  GROUP BY outcome`,
);

export async function classifyOrganizations(db: Db, rows: readonly ClerkOrganization[]): Promise<Counts> {
  const counts: Counts = {};
  if (rows.length === 0) return counts;
  const statement = classifyStatement({ ids: rows.map((r) => r.id), updatedAts: rows.map((r) => r.updatedAt) });
  for (const { outcome, n } of await runStatement<{ outcome: string; n: number }>(db, statement, BACKGROUND)) {
    addInto(counts, outcome, n);
  }
  return counts;
}
