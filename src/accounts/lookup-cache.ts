/**
 * Keeps `/v1/me` from spending the Clerk Backend API's rate limit: concurrent just-in-time provisionings of one user
 * share one run (one lookup), and a user Clerk has with no usable e-mail is remembered as such for `ttlMs`, or until
 * a webhook for that user says it changed (`forget`). In memory, per process, and bounded in size.
 */
export interface LookupCache {
  /** Runs `provision` for `userId`, or joins the run already under way for it. */
  shared<T extends { kind: string }>(userId: string, provision: () => Promise<T>): Promise<T>;
  /** Whether a recent run found this user not provisionable. */
  isUnprovisionable(userId: string): boolean;
  /** A webhook changed this user: ask Clerk again next time (and do not remember a run already under way). */
  forget(userId: string): void;
}

/** At most this many users remembered; the oldest entry makes room (a Map iterates in insertion order). */
const MAX_REMEMBERED = 10_000;

export function createLookupCache({ ttlMs, now = Date.now }: { ttlMs: number; now?: () => number }): LookupCache {
  const running = new Map<string, Promise<{ kind: string }>>();
  const unprovisionableUntil = new Map<string, number>();

  const remember = (userId: string) => {
    if (ttlMs <= 0) return;
    unprovisionableUntil.delete(userId);
    if (unprovisionableUntil.size >= MAX_REMEMBERED) {
      const oldest = unprovisionableUntil.keys().next().value;
      if (oldest !== undefined) unprovisionableUntil.delete(oldest);
    }
    unprovisionableUntil.set(userId, now() + ttlMs);
  };

  return {
    shared<T extends { kind: string }>(userId: string, provision: () => Promise<T>): Promise<T> {
      const current = running.get(userId);
      if (current) return current as Promise<T>;
      const run = provision().then((result) => {
        // Only the run still registered may be remembered: a `forget` meanwhile means the answer is outdated.
        if (running.get(userId) === run && result.kind === "unprovisionable") remember(userId);
        return result;
      });
      running.set(userId, run);
      const clear = () => {
        if (running.get(userId) === run) running.delete(userId);
      };
      run.then(clear, clear);
      return run;
    },
    isUnprovisionable(userId) {
      const until = unprovisionableUntil.get(userId);
      if (until === undefined) return false;
      if (until > now()) return true;
      unprovisionableUntil.delete(userId);
      return false;
    },
    forget(userId) {
      running.delete(userId);
      unprovisionableUntil.delete(userId);
    },
  };
}
