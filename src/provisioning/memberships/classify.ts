import { sql } from "drizzle-orm";
import type { ClerkMembership } from "../../clerk/events.js";
import { BACKGROUND } from "../../db/call.js";
import { defineStatement, runStatement } from "../../db/query.js";
import {
  clerkMembershipVersions,
  clerkOrganizationVersions,
  clerkUserVersions,
  organizationMemberships,
} from "../../db/schema.js";
import type { Db } from "../../db/types.js";
import { addInto, type Counts } from "../../outcome.js";

/** `--dry-run`: what a page of memberships would come to, read only. */
const classifyStatement = defineStatement<Record<"ids" | "orgIds" | "userIds" | "updatedAts", unknown>>(
  (v) => sql`SELECT outcome, count(*)::int AS n FROM (
    SELECT CASE
      WHEN ver.deleted_at IS NOT NULL
        OR EXISTS (SELECT 1 FROM ${clerkOrganizationVersions} o WHERE o.organization_id = i.organization_id
          AND o.deleted_at IS NOT NULL)
        OR EXISTS (SELECT 1 FROM ${clerkUserVersions} u WHERE u.user_id = i.user_id AND u.deleted_at IS NOT NULL)
        THEN 'skipped:deleted'
      WHEN ver.clerk_updated_at = i.updated_at THEN 'unchanged'
      WHEN ver.clerk_updated_at > i.updated_at OR m.updated_at >= 'epoch'::timestamptz + i.updated_at * interval '1 millisecond'
        THEN 'skipped:stored_newer'
      WHEN m.id IS NOT NULL THEN 'updated' ELSE 'created' END AS outcome
    FROM unnest(${v.ids}::text[], ${v.orgIds}::text[], ${v.userIds}::text[], ${v.updatedAts}::bigint[])
      AS i(id, organization_id, user_id, updated_at)
    LEFT JOIN ${clerkMembershipVersions} ver ON ver.membership_id = i.id
    LEFT JOIN ${organizationMemberships} m ON m.organization_id = i.organization_id AND m.user_id = i.user_id) c
  GROUP BY outcome`,
);

export async function classifyMemberships(db: Db, rows: readonly ClerkMembership[]): Promise<Counts> {
  const counts: Counts = {};
  if (rows.length === 0) return counts;
  const statement = classifyStatement({
    ids: rows.map((r) => r.id),
    orgIds: rows.map((r) => r.organizationId),
    userIds: rows.map((r) => r.userId),
    updatedAts: rows.map((r) => r.updatedAt),
  });
  for (const { outcome, n } of await runStatement<{ outcome: string; n: number }>(db, statement, BACKGROUND)) {
    addInto(counts, outcome, n);
  }
  return counts;
}
