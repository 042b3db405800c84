import { sql } from "drizzle-orm";
import {
  type ClerkMembership,
  type ClerkOrganization,
  parseClerkMembership,
  parseClerkOrganization,
} from "../clerk/events.js";
import { BACKGROUND } from "../db/call.js";
import { defineStatement, type RunStatement, runTransaction } from "../db/query.js";
import { syncRunObjects, syncRuns } from "../db/schema.js";
import type { Db } from "../db/types.js";
import { isServiceError } from "../errors.js";
import { addInto, COUNT_KEY, type Counts } from "../outcome.js";
import { deliveryIds } from "../provisioning/deliveries.js";
import { KINDS } from "../provisioning/kinds.js";
import type { MembershipKey } from "../provisioning/memberships/kind.js";
import { addCounts } from "./users-page.js";

/**
 * `npm run sync`'s writes for organizations and memberships: a page applied by the webhook's verbs and the run's
 * bookkeeping (counts under `organizations:` / `memberships:`, the listed ids kept for pruning, the kind's cursor)
 * in one transaction, so an interrupted run resumes exactly after the last page that committed.
 */

export type ObjectKind = "organizations" | "memberships";

/**
 * As a users' page (sync-page.ts: no JIT, no wait for the WAL flush), and a plan for each page: the organization and
 * membership statements keep the webhook's duplicate filter, whose guessed selectivity can make a generic plan nest
 * loops over a page.
 */
const pageSettings = defineStatement<Record<string, never>>(
  () =>
    sql`SELECT set_config('jit', 'off', true), set_config('synchronous_commit', 'off', true),
      set_config('plan_cache_mode', 'force_custom_plan', true)`,
)({});

interface Rows {
  organizations: ClerkOrganization;
  memberships: ClerkMembership;
}

const parse = {
  organizations: parseClerkOrganization,
  memberships: parseClerkMembership,
} satisfies { [K in ObjectKind]: (raw: unknown) => Rows[K] };

export interface PreparedObjects<K extends ObjectKind> {
  rows: Rows[K][];
  /** The page's ids not seen before by this invocation. */
  ids: string[];
  /** Counts decided before the database (rows Clerk sent that we cannot read). */
  extraCounts: Counts;
  failures: { id: string; reason: string }[];
}

/** A page of Clerk's JSON, parsed as the webhook parses it; ids already seen by this invocation are dropped. */
export function prepareObjects<K extends ObjectKind>(
  kind: K,
  listed: readonly unknown[],
  seen: Set<string>,
): PreparedObjects<K> {
  const page: PreparedObjects<K> = { rows: [], ids: [], extraCounts: {}, failures: [] };
  for (const raw of listed) {
    const rawId = (typeof raw === "object" && raw !== null ? raw : {}) as { id?: unknown };
    const id = typeof rawId.id === "string" && rawId.id.length > 0 ? rawId.id : undefined;
    if (id !== undefined) {
      if (seen.has(id)) continue;
      seen.add(id);
      page.ids.push(id);
    }
    try {
      page.rows.push(parse[kind](raw) as Rows[K]);
    } catch (error) {
      if (!isServiceError(error, "invalid_payload")) throw error;
      addInto(page.extraCounts, "failed:invalid_payload");
      page.failures.push({ id: id ?? "(no id)", reason: `invalid_payload (${error.message})` });
    }
  }
  return page;
}

const prefixed = (kind: ObjectKind, counts: Counts) => {
  const out: Counts = {};
  for (const [key, n] of Object.entries(counts)) out[`${kind}:${key}`] = n;
  return out;
};

/** The kind's page bookkeeping: counts added, listed ids kept, its cursor advanced (a null cursor stays). */
const bookkeepingStatement = (offset: "organization_offset" | "membership_offset", total: string) =>
  defineStatement<Record<"runId" | "kind" | "counts" | "seenIds" | "nextOffset" | "total", unknown>>(
    (v) => sql`WITH seen AS (
    INSERT INTO ${syncRunObjects} (run_id, kind, object_id)
    SELECT ${v.runId}::bigint, ${v.kind}::text, s.id FROM unnest(${v.seenIds}::text[]) AS s(id)
    ON CONFLICT DO NOTHING
  )
  UPDATE ${syncRuns} SET
    counts = ${addCounts(sql`${syncRuns.counts}`, sql`${v.counts}::text::jsonb`)},
    ${sql.identifier(offset)} = COALESCE(${v.nextOffset}::int, ${sql.identifier(offset)}),
    ${sql.identifier(total)} = COALESCE(${v.total}::int, ${sql.identifier(total)}),
    updated_at = now()
  WHERE ${syncRuns.id} = ${v.runId}::bigint`,
  );
const bookkeeping = {
  organizations: bookkeepingStatement("organization_offset", "organization_total"),
  memberships: bookkeepingStatement("membership_offset", "membership_total"),
};

export interface ObjectTail {
  runId: number;
  seenIds: readonly string[];
  nextOffset: number | null;
  total: number | null;
}

const record = (run: RunStatement, kind: ObjectKind, tail: ObjectTail, counts: Counts) =>
  run(bookkeeping[kind]({ ...tail, kind, counts: JSON.stringify(prefixed(kind, counts)), seenIds: [...tail.seenIds] }));

/** Applies one page of a sync run in one transaction; returns the page's counts (its unreadable rows included). */
export function applyObjectsPage<K extends ObjectKind>(
  db: Db,
  kind: K,
  page: PreparedObjects<K>,
  tail: ObjectTail,
): Promise<Counts> {
  return runTransaction(
    db,
    async (run) => {
      await run(pageSettings);
      const written =
        kind === "organizations"
          ? await KINDS.organizations.write(run, page.rows as ClerkOrganization[])
          : await KINDS.memberships.write(run, page.rows as ClerkMembership[]);
      const counts: Counts = { ...page.extraCounts };
      for (const { result } of written) if (result !== "duplicate") addInto(counts, COUNT_KEY[result]);
      await record(run, kind, tail, counts);
      return counts;
    },
    BACKGROUND,
  );
}

/**
 * Organizations (by id) or memberships (by key) gone from Clerk, removed as their `.deleted` event removes them
 * (each recorded as a delivery `sync-prune:<id>`, reason `pruned`) and counted in the run, in one transaction.
 * Returns the ids actually pruned (not already tombstoned).
 */
export async function pruneObjects(
  db: Db,
  gone: { kind: "organizations"; ids: readonly string[] } | { kind: "memberships"; keys: readonly MembershipKey[] },
  runId: number,
): Promise<string[]> {
  const ids = gone.kind === "organizations" ? gone.ids : gone.keys.map((k) => k.id);
  if (ids.length === 0) return [];
  return runTransaction(
    db,
    async (run) => {
      await run(pageSettings);
      const stamp = { deliveryIds: ids.map(deliveryIds.prune), receivedAt: new Date(), reason: "pruned" };
      const removed =
        gone.kind === "organizations"
          ? await KINDS.organizations.remove(run, gone.ids, { stamp: { ...stamp, eventType: "organization.deleted" } })
          : await KINDS.memberships.remove(run, gone.keys, {
              stamp: { ...stamp, eventType: "organizationMembership.deleted" },
            });
      const pruned = removed.filter((r) => r.result === "deleted").map((r) => r.id);
      await record(run, gone.kind, { runId, seenIds: [], nextOffset: null, total: null }, { pruned: pruned.length });
      return pruned;
    },
    BACKGROUND,
  );
}
