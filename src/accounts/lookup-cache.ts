/**
 * Keeps `/v1/me` from spending the Clerk Backend API's rate limit: concurrent just-in-time lookups of one thing share
 * one run, and a "no" is remembered for `ttlMs`, or until a webhook about it says it changed (`forget…`). Two kinds:
 * a user (a Clerk user with no usable e-mail is "unprovisionable") and the token's active organization for a user
 * (Clerk has no such organization, or the user is not a member: "not_member"). In memory, per process, bounded.
 */
export interface LookupCache {
  /** Runs `provision` for `userId`, or joins the run already under way for it. */
  shared<T extends { kind: string }>(userId: string, provision: () => Promise<T>): Promise<T>;
  /** Whether a recent run found this user not provisionable. */
  isUnprovisionable(userId: string): boolean;
  /** A webhook changed this user: ask Clerk again next time (and do not remember a run already under way). */
  forget(userId: string): void;
  /** Runs `lookup` of `organizationId` for `userId`, or joins the run already under way for the two. */
  sharedOrganization<T extends { kind: string }>(
    organizationId: string,
    userId: string,
    lookup: () => Promise<T>,
  ): Promise<T>;
  /** Whether a recent run found that Clerk has no such organization, or `userId` is not a member of it. */
  isNotMember(organizationId: string, userId: string): boolean;
  /** A webhook changed this organization (every user's answer ends) or `userId`'s membership in it. */
  forgetOrganization(organizationId: string, userId?: string): void;
}

/** At most this many answers remembered per kind; the oldest group makes room (a Map iterates in insertion order). */
const MAX_REMEMBERED = 10_000;

export function createLookupCache({ ttlMs, now = Date.now }: { ttlMs: number; now?: () => number }): LookupCache {
  const users = createRuns({ ttlMs, now, no: "unprovisionable" });
  const organizations = createRuns({ ttlMs, now, no: "not_member" });
  return {
    shared: (userId, provision) => users.shared(userId, "", provision),
    isUnprovisionable: (userId) => users.isNo(userId, ""),
    forget: (userId) => users.forget(userId),
    sharedOrganization: (organizationId, userId, lookup) => organizations.shared(organizationId, userId, lookup),
    isNotMember: (organizationId, userId) => organizations.isNo(organizationId, userId),
    forgetOrganization: (organizationId, userId) => organizations.forget(organizationId, userId),
  };
}

type Answer = { kind: string };

/** Two-level maps (group → key → value), a group dropped whole or one key of it; answers how many went. */
const drop = <V>(map: Map<string, Map<string, V>>, group: string, key: string | undefined) => {
  const inner = map.get(group);
  if (!inner) return 0;
  const dropped = key === undefined ? inner.size : Number(inner.delete(key));
  if (key === undefined || inner.size === 0) map.delete(group);
  return dropped;
};

/** Answers remembered per `(group, key)` for `ttlMs`, at most MAX_REMEMBERED (the oldest group makes room). */
function createAnswers({ ttlMs, now }: { ttlMs: number; now: () => number }) {
  const held = new Map<string, Map<string, { until: number; answer: Answer }>>();
  let count = 0;
  const forget = (group: string, key?: string) => {
    count -= drop(held, group, key);
  };
  return {
    forget,
    remember(group: string, key: string, answer: Answer) {
      if (ttlMs <= 0) return;
      forget(group, key);
      if (count >= MAX_REMEMBERED) {
        const oldest = held.keys().next().value;
        if (oldest !== undefined) forget(oldest);
      }
      const inner = held.get(group) ?? new Map<string, { until: number; answer: Answer }>();
      held.set(group, inner.set(key, { until: now() + ttlMs, answer }));
      count++;
    },
    /** The answer remembered for `(group, key)`, while it lasts. */
    recall(group: string, key: string): Answer | undefined {
      const entry = held.get(group)?.get(key);
      if (entry === undefined) return undefined;
      if (entry.until > now()) return entry.answer;
      forget(group, key);
      return undefined;
    },
  };
}

/**
 * Runs shared per `(group, key)`, and the answers of kind `no` remembered per `(group, key)` until a time; a group
 * (all the users of one organization) is forgotten at once.
 */
function createRuns({ ttlMs, now, no }: { ttlMs: number; now: () => number; no: string }) {
  const running = new Map<string, Map<string, Promise<Answer>>>();
  const answers = createAnswers({ ttlMs, now });

  return {
    shared<T extends { kind: string }>(group: string, key: string, run: () => Promise<T>): Promise<T> {
      const current = running.get(group)?.get(key);
      if (current) return current as Promise<T>;
      // A caller that checked `isNo` before a run ended, and asks after it: that run's answer, not a new run.
      const known = answers.recall(group, key);
      if (known) return Promise.resolve(known as T);
      const started = run().then((result) => {
        // Only the run still registered may be remembered: a `forget` meanwhile means the answer is outdated.
        if (running.get(group)?.get(key) === started && result.kind === no) answers.remember(group, key, result);
        return result;
      });
      running.set(group, (running.get(group) ?? new Map<string, Promise<Answer>>()).set(key, started));
      const clear = () => {
        if (running.get(group)?.get(key) === started) drop(running, group, key);
      };
      started.then(clear, clear);
      return started;
    },
    isNo: (group: string, key: string) => answers.recall(group, key) !== undefined,
    forget(group: string, key?: string) {
      drop(running, group, key);
      answers.forget(group, key);
    },
  };
}
