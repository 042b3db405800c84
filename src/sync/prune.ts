import { type ClerkDirectory, MAX_IDS_PER_LOOKUP } from "../clerk/backend-api.js";
import type { Db } from "../db/types.js";
import type { MembershipKey } from "../provisioning/memberships/kind.js";
import { pruneObjects } from "./objects-page.js";
import {
  type RunRow,
  type SyncKind,
  storedCount,
  storedMemberships,
  storedOrganizationIds,
  storedUserIds,
} from "./runs.js";
import { pruneUsers } from "./users-page.js";

/**
 * `npm run sync -- --prune`, after a complete listing of every kind: what is stored here but was not listed is
 * confirmed absent with Clerk (a deletion during the listing shifts later offsets, and what was created since is not
 * in it), then removed as its `.deleted` event removes it. A run that would remove more of any kind than the limit
 * removes nothing at all: most likely `CLERK_SECRET_KEY` belongs to another instance.
 */

export interface PruneReport {
  /** Stored here, not in the listing. */
  candidates: number;
  /** Of them, confirmed absent from Clerk. */
  gone: number;
  /** The ids removed (dry run: that would be removed), sorted. */
  ids: string[];
  /** Set when more than `limit` would have been removed: nothing was (of any kind). */
  refused?: { limit: number };
}

const PRUNE_CHUNK = 500;

interface PruneContext {
  db: Db;
  directory: ClerkDirectory;
  /** Per kind (default: 10 % of those stored, at least 10). */
  maxPrune: number | undefined;
  run: RunRow | undefined;
  /** What this invocation listed (a dry run has no run to remember it). */
  listed: Record<SyncKind, Set<string>>;
  notice: (message: string) => void;
}

const limitOf = async (ctx: PruneContext, kind: SyncKind) =>
  ctx.maxPrune ?? Math.max(10, Math.ceil((await storedCount(ctx.db, kind)) * 0.1));

/** Confirms `candidates` with Clerk in lookups of 100, stopping once more than `limit` are gone. */
async function confirmGone<T>(
  candidates: readonly T[],
  limit: number,
  present: (chunk: readonly T[]) => Promise<Set<string>>,
  id: (candidate: T) => string,
): Promise<T[]> {
  const gone: T[] = [];
  for (let i = 0; i < candidates.length && gone.length <= limit; i += MAX_IDS_PER_LOOKUP) {
    const chunk = candidates.slice(i, i + MAX_IDS_PER_LOOKUP);
    const found = await present(chunk);
    for (const candidate of chunk) if (!found.has(id(candidate))) gone.push(candidate);
  }
  return gone;
}

const idsOf = (listed: unknown[]) =>
  new Set(listed.map((raw) => (raw as { id?: unknown }).id).filter((id): id is string => typeof id === "string"));

async function goneUsers(ctx: PruneContext, limit: number) {
  const candidates = ctx.run
    ? await storedUserIds(ctx.db, ctx.run.id)
    : (await storedUserIds(ctx.db)).filter((id) => !ctx.listed.users.has(id));
  if (candidates.length > 0) ctx.notice(`pruning: checking ${candidates.length} users not in the listing with Clerk`);
  const gone = await confirmGone(
    candidates,
    limit,
    async (chunk) => idsOf(await ctx.directory.usersById(chunk)),
    String,
  );
  return { candidates: candidates.length, gone };
}

async function goneOrganizations(ctx: PruneContext, limit: number) {
  const candidates = ctx.run
    ? await storedOrganizationIds(ctx.db, ctx.run.id)
    : (await storedOrganizationIds(ctx.db)).filter((id) => !ctx.listed.organizations.has(id));
  if (candidates.length > 0) ctx.notice(`pruning: checking ${candidates.length} organizations not in the listing`);
  const present = async (chunk: readonly string[]) => idsOf(await ctx.directory.organizationsById(chunk));
  return { candidates: candidates.length, gone: await confirmGone(candidates, limit, present, String) };
}

/** Memberships of a pruned user or organization go with it, so they are not candidates of their own. */
async function goneMemberships(ctx: PruneContext, limit: number, leaving: Set<string>) {
  const stored = ctx.run
    ? await storedMemberships(ctx.db, ctx.run.id)
    : (await storedMemberships(ctx.db)).filter((m) => !ctx.listed.memberships.has(m.id));
  const candidates = stored
    .filter((m) => !leaving.has(m.organizationId) && !leaving.has(m.userId))
    .sort((a, b) => (a.organizationId < b.organizationId ? -1 : a.organizationId > b.organizationId ? 1 : 0));
  if (candidates.length > 0) ctx.notice(`pruning: checking ${candidates.length} memberships not in the listing`);
  // Looked up per organization: a chunk is cut where its organization changes.
  const gone: MembershipKey[] = [];
  for (let i = 0; i < candidates.length && gone.length <= limit; ) {
    const organizationId = (candidates[i] as MembershipKey).organizationId;
    let end = i;
    while (
      end < candidates.length &&
      end - i < MAX_IDS_PER_LOOKUP &&
      candidates[end]?.organizationId === organizationId
    )
      end++;
    const chunk = candidates.slice(i, end);
    const found = idsOf(await ctx.directory.membershipsOf(organizationId, [...new Set(chunk.map((m) => m.userId))]));
    for (const m of chunk) if (!found.has(m.id)) gone.push(m);
    i = end;
  }
  return { candidates: candidates.length, gone };
}

/** Prunes every kind in `kinds`; nothing at all when one kind would exceed its limit. */
export async function pruneMissing(
  ctx: PruneContext,
  kinds: readonly SyncKind[],
): Promise<Partial<Record<SyncKind, PruneReport>>> {
  const has = (kind: SyncKind) => kinds.includes(kind);
  const limits = {
    users: await limitOf(ctx, "users"),
    organizations: await limitOf(ctx, "organizations"),
    memberships: await limitOf(ctx, "memberships"),
  };
  const users = has("users") ? await goneUsers(ctx, limits.users) : undefined;
  const orgs = has("organizations") ? await goneOrganizations(ctx, limits.organizations) : undefined;
  const leaving = new Set([...(users?.gone ?? []), ...(orgs?.gone ?? [])]);
  const members = has("memberships") ? await goneMemberships(ctx, limits.memberships, leaving) : undefined;
  const found = { users, organizations: orgs, memberships: members };
  const reports: Partial<Record<SyncKind, PruneReport>> = {};
  let refused = false;
  for (const kind of kinds) {
    const report = found[kind];
    if (!report) continue;
    reports[kind] = { candidates: report.candidates, gone: report.gone.length, ids: [] };
    if (report.gone.length > limits[kind]) {
      refused = true;
      reports[kind].refused = { limit: limits[kind] };
    }
  }
  if (refused) return reports;
  const goneIds = (kind: SyncKind) => (found[kind]?.gone ?? []).map((g) => (typeof g === "string" ? g : g.id));
  const { run } = ctx;
  if (!run) {
    for (const kind of kinds) if (reports[kind]) reports[kind].ids = goneIds(kind).sort();
    return reports;
  }
  const chunks = <T>(list: readonly T[]) =>
    Array.from({ length: Math.ceil(list.length / PRUNE_CHUNK) }, (_, i) =>
      list.slice(i * PRUNE_CHUNK, (i + 1) * PRUNE_CHUNK),
    );
  for (const chunk of chunks(users?.gone ?? [])) reports.users?.ids.push(...(await pruneUsers(ctx.db, chunk, run.id)));
  for (const chunk of chunks(orgs?.gone ?? [])) {
    reports.organizations?.ids.push(...(await pruneObjects(ctx.db, { kind: "organizations", ids: chunk }, run.id)));
  }
  for (const chunk of chunks(members?.gone ?? [])) {
    reports.memberships?.ids.push(...(await pruneObjects(ctx.db, { kind: "memberships", keys: chunk }, run.id)));
  }
  for (const report of Object.values(reports)) report.ids.sort();
  return reports;
}
