import type { ClerkDirectory } from "../clerk/backend-api.js";
import { BACKGROUND } from "../db/call.js";
import { runTransaction } from "../db/query.js";
import type { Db } from "../db/types.js";
import { deliveryIds } from "../provisioning/deliveries.js";
import type { Kind, KindName } from "../provisioning/kinds.js";
import { bookkeeping, pageSettings } from "./bookkeeping.js";

/**
 * One kind's part of `--prune`: what is stored here and was not listed, confirmed absent with Clerk (a deletion
 * during the listing shifts later offsets, and what was created since is not in it), removed as the kind's
 * `.deleted` event removes it.
 */

/** How `--prune` finds, confirms and removes one kind's objects, keyed by `Key`. */
export interface PruneSpec<Row, Key> {
  name: KindName;
  kind: Kind<Row, Key>;
  /** The event a removal is recorded as (`sync-prune:<id>`, reason `pruned`). */
  deletedAs: string;
  count(db: Db): Promise<number>;
  /** Stored here, sorted; with `runId`, only those that run did not list. */
  stored(db: Db, runId?: number): Promise<Key[]>;
  keyId(key: Key): string;
  /** `candidates` in the lookups Clerk answers (at most 100 each). */
  lookups(candidates: readonly Key[]): Key[][];
  /** The ids of `chunk` Clerk still has. */
  present(directory: ClerkDirectory, chunk: readonly Key[]): Promise<Set<string>>;
  /** Ids whose removal removes this one too (a membership goes with its organization or its user). */
  goesWith?(key: Key): string[];
}

export interface PruneContext {
  db: Db;
  directory: ClerkDirectory;
  /** The pruning run (a dry run has none). */
  runId: number | undefined;
  /** What this invocation listed of the kind (a dry run has no run to remember it). */
  listed: Set<string>;
  notice: (message: string) => void;
}

export interface Found {
  candidates: number;
  /** Confirmed absent from Clerk (the search stops once more than the limit are). */
  gone: string[];
  /** Removes those gone, counted in run `runId`; the ids actually removed (not already tombstoned). */
  remove(db: Db, runId: number): Promise<string[]>;
}

export interface Pruner {
  count(db: Db): Promise<number>;
  /** What the listing lacked and Clerk confirms gone, up to `limit` + 1; none of what goes with `leaving`. */
  find(ctx: PruneContext, limit: number, leaving: ReadonlySet<string>): Promise<Found>;
}

const PRUNE_CHUNK = 500;

export function pruner<Row, Key>(spec: PruneSpec<Row, Key>): Pruner {
  return {
    count: spec.count,
    find: async (ctx, limit, leaving) => {
      const stored =
        ctx.runId === undefined
          ? (await spec.stored(ctx.db)).filter((key) => !ctx.listed.has(spec.keyId(key)))
          : await spec.stored(ctx.db, ctx.runId);
      const candidates = stored.filter((key) => !(spec.goesWith?.(key) ?? []).some((id) => leaving.has(id)));
      if (candidates.length > 0) {
        ctx.notice(`pruning: checking ${candidates.length} ${spec.name} not in the listing with Clerk`);
      }
      const gone: Key[] = [];
      for (const chunk of spec.lookups(candidates)) {
        if (gone.length > limit) break;
        const found = await spec.present(ctx.directory, chunk);
        for (const key of chunk) if (!found.has(spec.keyId(key))) gone.push(key);
      }
      return {
        candidates: candidates.length,
        gone: gone.map(spec.keyId),
        remove: (db, runId) => remove(spec, db, gone, runId),
      };
    },
  };
}

async function remove<Row, Key>(spec: PruneSpec<Row, Key>, db: Db, gone: readonly Key[], runId: number) {
  const removed: string[] = [];
  for (let i = 0; i < gone.length; i += PRUNE_CHUNK) {
    const chunk = gone.slice(i, i + PRUNE_CHUNK);
    const ids = await runTransaction(
      db,
      async (run) => {
        await run(pageSettings);
        const stamp = {
          deliveryIds: chunk.map((key) => deliveryIds.prune(spec.keyId(key))),
          eventType: spec.deletedAs,
          receivedAt: new Date(),
          reason: "pruned",
        };
        const pruned = (await spec.kind.remove(run, chunk, { stamp }))
          .filter((r) => r.result === "deleted")
          .map((r) => r.id);
        await run(bookkeeping({ runId, kind: spec.name, counts: { pruned: pruned.length } }));
        return pruned;
      },
      BACKGROUND,
    );
    removed.push(...ids);
  }
  return removed.sort();
}

/** Lookups of at most `size` in candidate order. */
export const chunksOf =
  (size: number) =>
  <T>(list: readonly T[]): T[][] =>
    Array.from({ length: Math.ceil(list.length / size) }, (_, i) => list.slice(i * size, (i + 1) * size));
