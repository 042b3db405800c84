import type { ClerkDirectory } from "../clerk/backend-api.js";
import type { Db } from "../db/types.js";
import { addInto, type Counts } from "../outcome.js";
import { KINDS } from "../provisioning/kinds.js";
import { applyObjectsPage, type ObjectKind, prepareObjects } from "./objects-page.js";
import type { ListedPage } from "./paging.js";
import type { SyncKind } from "./runs.js";
import { applySyncPage } from "./users-page.js";
import { preparePage } from "./users-prepare.js";

/** What `npm run sync` does with each kind it lists: how to ask Clerk for a page, and how to apply or classify it. */

export interface PageTail {
  runId: number;
  /** Remember the page's ids (a pruning run). */
  keepIds: boolean;
  nextOffset: number;
  total: number;
}

export interface Failure {
  id: string;
  reason: string;
}

export interface PreparedPage {
  /** The page's ids not seen before by this invocation. */
  ids: string[];
  /** Rows that could not be read. */
  failures: Failure[];
  /** Writes the page and advances the run in one transaction; its counts and the rows that could not be written. */
  apply(tail: PageTail): Promise<{ counts: Counts; failures: Failure[] }>;
  /** `--dry-run`: what the page would come to. */
  classify(): Promise<Counts>;
}

export interface KindSync {
  /** For messages: `user`, `organization`, `membership`. */
  noun: string;
  list(directory: ClerkDirectory, offset: number, limit: number): Promise<ListedPage<unknown>>;
  prepare(db: Db, items: readonly unknown[], seen: Set<string>): PreparedPage;
}

const users: KindSync = {
  noun: "user",
  list: async (directory, offset, limit) => {
    const page = await directory.listUsers(offset, limit);
    return { items: page.users, totalCount: page.totalCount };
  },
  prepare: (db, items, seen) => {
    const page = preparePage(items, seen);
    return {
      ids: page.ids,
      failures: page.failures.map((f) => ({ id: f.userId, reason: f.reason })),
      apply: async (tail) => {
        const applied = await applySyncPage(db, {
          runId: tail.runId,
          rows: page.rows,
          extraCounts: page.extraCounts,
          records: page.records,
          seenIds: tail.keepIds ? page.ids : [],
          nextOffset: tail.nextOffset,
          total: tail.total,
        });
        return {
          counts: applied.counts,
          failures: applied.failures.map((f) => ({ id: f.row.userId, reason: f.reason })),
        };
      },
      classify: async () => {
        const counts = { ...page.extraCounts };
        for (const [outcome, n] of Object.entries(await KINDS.users.classify(db, page.rows)))
          addInto(counts, outcome, n);
        return counts;
      },
    };
  },
};

const objects = (kind: ObjectKind, noun: string, list: KindSync["list"]): KindSync => ({
  noun,
  list,
  prepare: (db, items, seen) => {
    const page = prepareObjects(kind, items, seen);
    return {
      ids: page.ids,
      failures: page.failures,
      apply: async (tail) => ({
        counts: await applyObjectsPage(db, kind, page, {
          runId: tail.runId,
          seenIds: tail.keepIds ? page.ids : [],
          nextOffset: tail.nextOffset,
          total: tail.total,
        }),
        failures: [],
      }),
      classify: async () => {
        const counts = { ...page.extraCounts };
        const classified = await KINDS[kind].classify(db, page.rows as never[]);
        for (const [outcome, n] of Object.entries(classified)) addInto(counts, outcome, n);
        return counts;
      },
    };
  },
});

export const SYNC_KINDS: Record<SyncKind, KindSync> = {
  users,
  organizations: objects("organizations", "organization", (directory, offset, limit) =>
    directory.listOrganizations(offset, limit),
  ),
  memberships: objects("memberships", "membership", (directory, offset, limit) =>
    directory.listMemberships(offset, limit),
  ),
};

/** A run's counts by kind: the users' keys as they are, the others' under `organizations:` and `memberships:`. */
export function countsByKind(all: Counts): Record<SyncKind, Counts> {
  const split: Record<SyncKind, Counts> = { users: {}, organizations: {}, memberships: {} };
  for (const [key, n] of Object.entries(all)) {
    const [prefix, rest] = [key.slice(0, key.indexOf(":")), key.slice(key.indexOf(":") + 1)];
    if (prefix === "organizations" || prefix === "memberships") split[prefix][rest] = n;
    else split.users[key] = n;
  }
  return split;
}
