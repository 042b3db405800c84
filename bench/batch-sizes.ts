/**
 * The service's coalesced batches (`clerk_write_batch_size`, all kinds and verbs) read from its /metrics: how many
 * batches, how many deliveries in them, and how many batches fell in each bucket.
 */
export interface BatchCounts {
  batches: number;
  deliveries: number;
  /** Batches of at most `le` deliveries, cumulative, by bucket bound. */
  buckets: Map<string, number>;
}

export async function readBatchCounts(host: string, port: number): Promise<BatchCounts> {
  const text = await (await fetch(`http://${host}:${port}/metrics`)).text();
  const counts: BatchCounts = { batches: 0, deliveries: 0, buckets: new Map() };
  for (const line of text.split("\n")) {
    const match = line.match(/^clerk_write_batch_size_(bucket|sum|count)\{(.*)\} (\S+)$/);
    if (!match) continue;
    const [, series, labels, value] = match;
    if (series === "sum") counts.deliveries += Number(value);
    else if (series === "count") counts.batches += Number(value);
    else {
      const le = labels?.match(/le="([^"]+)"/)?.[1] ?? "+Inf";
      counts.buckets.set(le, (counts.buckets.get(le) ?? 0) + Number(value));
    }
  }
  return counts;
}

/** What a step's batches were: the mean size, and the smallest bucket bound that holds its largest batch. */
export function batchesBetween(before: BatchCounts, after: BatchCounts): { mean: number; largestUpTo: string } {
  const batches = after.batches - before.batches;
  const mean = batches > 0 ? (after.deliveries - before.deliveries) / batches : Number.NaN;
  let largestUpTo = "—";
  for (const [le, cumulative] of after.buckets) {
    if (cumulative - (before.buckets.get(le) ?? 0) === batches) {
      largestUpTo = le;
      break;
    }
  }
  return { mean, largestUpTo };
}
