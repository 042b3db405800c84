import { applyIsolating } from "../isolate.js";
import type { Settled } from "./lane.js";

/** One delivery waiting in a batch. */
export interface BatchItem {
  deliveryId: string;
  /** The keys one statement may touch once each (kind.keysOf). */
  keys: readonly string[];
  /** Where it goes among items of the same keys: older Clerk states first. */
  rank: number;
}

/**
 * Of `items`, the ones that go into statements, by round: a copy of a delivery id already in the batch goes in
 * none (it takes its first copy's answer), and an item whose key an earlier item has goes in the round after that
 * one's (two deliveries of one object are applied one after the other, in rank order, never merged).
 */
function plan<Item extends BatchItem>(items: readonly Item[]) {
  const firstCopy = new Map<string, number>();
  const copyOf = new Map<number, number>();
  items.forEach((item, i) => {
    const first = firstCopy.get(item.deliveryId);
    if (first === undefined) firstCopy.set(item.deliveryId, i);
    else copyOf.set(i, first);
  });
  const order = [...firstCopy.values()].sort((a, b) => (items[a]?.rank ?? 0) - (items[b]?.rank ?? 0) || a - b);
  const lastRound = new Map<string, number>();
  const rounds: number[][] = [];
  for (const i of order) {
    const keys = items[i]?.keys ?? [];
    const round = Math.max(-1, ...keys.map((key) => lastRound.get(key) ?? -1)) + 1;
    for (const key of keys) lastRound.set(key, round);
    if (round === rounds.length) rounds.push([]);
    rounds[round]?.push(i);
  }
  return { rounds, copyOf };
}

/**
 * Answers every item of a batch: each round is one statement (`apply`, whose results are in its items' order); a
 * row that fails fails alone (isolate.ts retries the rest without it) with its own error, as does a row that times
 * out (a lock held elsewhere, a slow trigger); any other failure (the database is down) answers every item not
 * answered yet with it.
 */
export async function settleBatch<Item extends BatchItem, R>(
  items: readonly Item[],
  apply: (part: readonly Item[]) => Promise<R[]>,
  duplicate: R,
): Promise<Settled<R>[]> {
  const { rounds, copyOf } = plan(items);
  const settled: Settled<R>[] = [];
  try {
    for (const round of rounds) {
      const { failures } = await applyIsolating(
        round,
        async (part) => {
          const results = await apply(part.map((i) => items[i] as Item));
          part.forEach((i, at) => {
            settled[i] = { ok: true, value: results[at] as R };
          });
        },
        { timeouts: true },
      );
      for (const { row, error } of failures) settled[row] = { ok: false, error };
    }
  } catch (error) {
    items.forEach((_, i) => {
      settled[i] ??= { ok: false, error };
    });
  }
  for (const [copy, first] of copyOf) {
    const original = settled[first];
    settled[copy] = original?.ok === false ? original : { ok: true, value: duplicate };
  }
  return settled;
}
