/**
 * Clerk's rate limit, kept on our side: at most `requests` in any window of `windowMs` (Clerk counts per 10 s:
 * 1000 requests on a production instance, 100 on a development one), and nothing at all while a 429's
 * `Retry-After` runs. One budget is shared by every request of a command, so a 429 pauses them all.
 *
 * A request counts from the moment it may be sent until a window after its answer came back: Clerk counted it
 * somewhere in between, so however late it really left (a busy event loop) no window of Clerk's holds more.
 */
export interface RequestBudget {
  /** Waits until `cost` more requests fit; call the function returned once their answers are in (or failed). */
  take(cost: number, signal?: AbortSignal): Promise<() => void>;
  /** Clerk refused a request (429): nothing more is sent for `ms`. */
  pause(ms: number): void;
  /** Requests counted in the current window (the rate reached, in requests per window). */
  recent(): number;
}

/** Clerk's rate limit window. */
export const RATE_WINDOW_MS = 10_000;

/** The default budget for a secret key: 90 % of its instance's limit, leaving room for the running service's lookups. */
export function defaultRequestsPerWindow(secretKey: string): number {
  return secretKey.startsWith("sk_live_") ? 900 : 90;
}

/**
 * The scheduled reconcile's default budget: 10 % of the instance's limit (100 per 10 s for an `sk_live_` key, 10 for
 * `sk_test_`), so that `/v1/me`'s lookups and an operator's `npm run sync` keep most of it.
 */
export function scheduledRequestsPerWindow(secretKey: string): number {
  return secretKey.startsWith("sk_live_") ? 100 : 10;
}

export function createRequestBudget(requests: number, windowMs = RATE_WINDOW_MS): RequestBudget {
  if (!Number.isInteger(requests) || requests < 1) throw new RangeError("requests must be a positive integer");
  const IN_FLIGHT = Number.POSITIVE_INFINITY;
  // When each counted request stops counting; IN_FLIGHT while its answer is awaited.
  let slots: number[] = [];
  let pausedUntil = 0;
  const waiters = new Set<() => void>();
  const current = (now: number) => {
    slots = slots.filter((until) => until > now);
    return slots;
  };
  const release = (n: number) => {
    const until = performance.now() + windowMs;
    for (let i = 0, left = n; i < slots.length && left > 0; i++) {
      if (slots[i] === IN_FLIGHT) {
        slots[i] = until;
        left--;
      }
    }
    for (const wake of waiters) wake();
  };
  return {
    async take(cost, signal) {
      const n = Math.min(cost, requests);
      for (;;) {
        signal?.throwIfAborted();
        const now = performance.now();
        const counted = current(now);
        const over = counted.length + n - requests;
        if (now >= pausedUntil && over <= 0) {
          for (let i = 0; i < n; i++) counted.push(IN_FLIGHT);
          let released = false;
          return () => {
            if (!released) release(n);
            released = true;
          };
        }
        // The `over`-th slot to expire (undefined: the rest are in flight; their release wakes us).
        const expiry = over > 0 ? counted.filter((until) => until !== IN_FLIGHT).sort((a, b) => a - b)[over - 1] : 0;
        const until = expiry === undefined ? undefined : Math.max(pausedUntil, expiry);
        await wait(waiters, until === undefined ? undefined : Math.max(1, until - now + 1), signal);
      }
    },
    pause(ms) {
      pausedUntil = Math.max(pausedUntil, performance.now() + ms);
    },
    recent() {
      return current(performance.now()).length;
    },
  };
}

/** Until `ms` have passed (undefined: no deadline), a request is released (`waiters` are woken), or `signal` aborts. */
function wait(waiters: Set<() => void>, ms: number | undefined, signal: AbortSignal | undefined) {
  return new Promise<void>((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      waiters.delete(done);
      signal?.removeEventListener("abort", done);
      if (signal?.aborted) reject(signal.reason);
      else resolve();
    };
    const timer = ms === undefined ? undefined : setTimeout(done, ms);
    waiters.add(done);
    signal?.addEventListener("abort", done, { once: true });
  });
}
