/** What one item of a batch came to: its value, or its own error. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

export interface BatchLimits {
  /** Items in one batch at most. */
  maxItems: number;
  /** Their bytes (as the caller counts them) at most; a single item larger than this goes alone. */
  maxBytes: number;
}

interface Waiting<Item, R> {
  item: Item;
  bytes: number;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

/**
 * A lane runs one batch at a time: items submitted while a batch runs wait for it and go together in the next one.
 * With no batch running an item goes at once, alone: there is no timer, so a lone item waits for nothing. `run`
 * answers each item of its batch, in order; when it throws, every item of the batch gets its error.
 */
export function createLane<Item, R>(run: (items: readonly Item[]) => Promise<Settled<R>[]>, limits: BatchLimits) {
  const waiting: Waiting<Item, R>[] = [];
  let running = false;

  const nextBatch = () => {
    let count = 0;
    let bytes = 0;
    for (const { bytes: size } of waiting) {
      if (count === limits.maxItems || (count > 0 && bytes + size > limits.maxBytes)) break;
      count++;
      bytes += size;
    }
    return waiting.splice(0, count);
  };

  const drain = async () => {
    running = true;
    while (waiting.length > 0) {
      const batch = nextBatch();
      try {
        const settled = await run(batch.map((waiter) => waiter.item));
        batch.forEach((waiter, i) => {
          const answer = settled[i];
          if (answer?.ok) waiter.resolve(answer.value);
          else waiter.reject(answer ? answer.error : new Error("a batch left an item unanswered"));
        });
      } catch (error) {
        for (const waiter of batch) waiter.reject(error);
      }
    }
    running = false;
  };

  return (item: Item, bytes: number): Promise<R> =>
    new Promise<R>((resolve, reject) => {
      waiting.push({ item, bytes, resolve, reject });
      if (!running) void drain();
    });
}
