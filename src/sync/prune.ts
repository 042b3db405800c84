import type { ClerkDirectory } from "../clerk/backend-api.js";
import type { Db } from "../db/types.js";
import type { KindName } from "../provisioning/kinds.js";
import type { Found } from "./gone.js";
import { SYNC_KINDS } from "./kinds.js";

/**
 * `npm run sync -- --prune`, after a complete listing of every kind: what is stored here but was not listed is
 * confirmed absent with Clerk, then removed as its `.deleted` event removes it (gone.ts). A run that would remove
 * more of any kind than the limit removes nothing at all: most likely `CLERK_SECRET_KEY` belongs to another instance.
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

export interface PruneOptions {
  db: Db;
  directory: ClerkDirectory;
  /** Per kind (default: 10 % of those stored, at least 10). */
  maxPrune: number | undefined;
  /** The pruning run (a dry run has none: it only reports). */
  runId: number | undefined;
  /** What this invocation listed, by kind. */
  listed: Record<KindName, Set<string>>;
  notice: (message: string) => void;
}

/** Prunes every kind in `kinds` (in order: a membership of a user or organization pruned goes with it). */
export async function pruneMissing(
  options: PruneOptions,
  kinds: readonly KindName[],
): Promise<Partial<Record<KindName, PruneReport>>> {
  const { db, runId } = options;
  const found: Partial<Record<KindName, Found>> = {};
  const reports: Partial<Record<KindName, PruneReport>> = {};
  const leaving = new Set<string>();
  for (const name of kinds) {
    const { prune } = SYNC_KINDS[name];
    if (!prune) continue;
    const limit = options.maxPrune ?? Math.max(10, Math.ceil((await prune.count(db)) * 0.1));
    const kind = await prune.find({ ...options, listed: options.listed[name] }, limit, leaving);
    for (const id of kind.gone) leaving.add(id);
    found[name] = kind;
    reports[name] = { candidates: kind.candidates, gone: kind.gone.length, ids: [] };
    if (kind.gone.length > limit) reports[name].refused = { limit };
  }
  if (Object.values(reports).some((report) => report.refused)) return reports;
  for (const name of kinds) {
    const report = reports[name];
    const kind = found[name];
    if (!report || !kind) continue;
    report.ids = runId === undefined ? [...kind.gone].sort() : await kind.remove(db, runId);
  }
  return reports;
}
