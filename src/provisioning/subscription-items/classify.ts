import { sql } from "drizzle-orm";
import type { ClerkSubscriptionItem } from "../../clerk/billing-events.js";
import { BACKGROUND } from "../../db/call.js";
import { defineStatement, runStatement } from "../../db/query.js";
import {
  clerkOrganizationVersions,
  clerkSubscriptionItemVersions,
  clerkUserVersions,
  subscriptionItems,
} from "../../db/schema.js";
import type { Db } from "../../db/types.js";
import { addInto, type Counts } from "../../outcome.js";

/** `--dry-run`: what a page of subscription items would come to, read only. */
const classifyStatement = defineStatement<Record<"ids" | "payerTypes" | "payerIds" | "updatedAts", unknown>>(
  (v) => sql`SELECT outcome, count(*)::int AS n FROM (
    SELECT CASE
      WHEN ver.deleted_at IS NOT NULL
        OR (i.payer_type = 'user' AND EXISTS (SELECT 1 FROM ${clerkUserVersions} u
          WHERE u.user_id = i.payer_id AND u.deleted_at IS NOT NULL))
        OR (i.payer_type = 'organization' AND EXISTS (SELECT 1 FROM ${clerkOrganizationVersions} o
          WHERE o.organization_id = i.payer_id AND o.deleted_at IS NOT NULL))
        THEN 'skipped:deleted'
      WHEN ver.clerk_updated_at = i.updated_at THEN 'unchanged'
      WHEN ver.clerk_updated_at > i.updated_at THEN 'skipped:stored_newer'
      WHEN EXISTS (SELECT 1 FROM ${subscriptionItems} s WHERE s.id = i.id) THEN 'updated' ELSE 'created' END AS outcome
    FROM unnest(${v.ids}::text[], ${v.payerTypes}::text[], ${v.payerIds}::text[], ${v.updatedAts}::bigint[])
      AS i(id, payer_type, payer_id, updated_at)
    LEFT JOIN ${clerkSubscriptionItemVersions} ver ON ver.subscription_item_id = i.id) c
  GROUP BY outcome`,
);

export async function classifySubscriptionItems(db: Db, rows: readonly ClerkSubscriptionItem[]): Promise<Counts> {
  const counts: Counts = {};
  if (rows.length === 0) return counts;
  const statement = classifyStatement({
    ids: rows.map((r) => r.id),
    payerTypes: rows.map((r) => r.payerType),
    payerIds: rows.map((r) => r.payerId),
    updatedAts: rows.map((r) => r.updatedAt),
  });
  for (const { outcome, n } of await runStatement<{ outcome: string; n: number }>(db, statement, BACKGROUND)) {
    addInto(counts, outcome, n);
  }
  return counts;
}
