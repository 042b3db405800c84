import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { createClerkDirectory } from "../../src/clerk/backend-api.js";
import { type ReconcileOptions, reconcile } from "../../src/sync/sync.js";
import { TEST_CLERK_SECRET_KEY } from "../../support/fake-clerk-api.js";
import { drivers, type TestDatabase } from "../helpers/database.js";
import { type ClerkJson, openSyncHarness, type SyncHarness } from "../helpers/sync-harness.js";

/**
 * Incremental listing (`npm run sync -- --incremental`, the scheduled reconcile), in process: the exported reconcile,
 * the real `@clerk/backend` client against the fake Backend API (with latency), a real database.
 */

const PAGE = 5;
const TIMEOUT = 60_000;
const T0 = 1_760_000_000_000;

describe.each(drivers())("incremental sync on $name", ({ open }) => {
  let h: SyncHarness<TestDatabase>;
  let clock: number;
  beforeEach(async () => {
    h = await openSyncHarness(await open());
    h.api.latencyMs = 5;
    clock = T0;
  });
  afterEach(() => h?.close());

  /** A user created (and last updated) in Clerk now: each one later than the one before. */
  const signUp = (options: { updatedAt?: number } = {}) => h.userInClerk({ updatedAt: options.updatedAt ?? clock++ });
  /** The user changed in Clerk now, as Clerk does: a new `updated_at`. */
  const updateInClerk = (user: ClerkJson, fields: Record<string, unknown>) => {
    const updated = { ...user, ...fields, updated_at: clock++ };
    h.api.users.set(user.id, updated);
    return updated;
  };
  const run = (options: Partial<ReconcileOptions> = {}) =>
    reconcile(
      {
        db: h.database.db,
        directory: createClerkDirectory({ secretKey: TEST_CLERK_SECRET_KEY, apiUrl: h.api.url, backoffMs: 20 }),
      },
      {
        kinds: ["users", "organizations", "memberships"],
        incremental: true,
        dryRun: false,
        prune: false,
        restart: false,
        pageSize: PAGE,
        concurrency: 4,
        signal: new AbortController().signal,
        ...options,
      },
    );
  const userRequests = () => h.api.requests.filter((r) => r.path.startsWith("/v1/users")).length;
  const stored = async (id: string) =>
    (
      await h.database.query<{ first_name: string | null; workspaces: number }>(
        "SELECT u.first_name, (SELECT count(*)::int FROM workspaces w WHERE w.user_id = u.id) AS workspaces FROM users u WHERE u.id = $1",
        [id],
      )
    )[0];
  const mark = async () =>
    (
      await h.database.query<{ at: string }>("SELECT clerk_updated_at::text AS at FROM sync_marks WHERE kind = 'users'")
    )[0]?.at;

  test(
    "the first run reads the whole listing, newest-updated first, and records the newest updated_at as the mark",
    async () => {
      const users = Array.from({ length: 12 }, () => signUp());
      const result = await run();
      expect(result.status).toBe("completed");
      expect(result.kinds.users?.counts).toMatchObject({ created: 12 });
      for (const user of users) expect(await stored(user.id)).toMatchObject({ workspaces: 1 });
      expect(await mark()).toBe(String(clock - 1));
      const orders = h.api.requests.filter((r) => r.path === "/v1/users").map((r) => r.query.get("order_by"));
      expect(new Set(orders)).toEqual(new Set(["-updated_at"]));
    },
    TIMEOUT,
  );

  test(
    "an unchanged instance costs at most 2 user requests (one page and its count), however many pages it has",
    async () => {
      for (let i = 0; i < 4 * PAGE; i++) signUp();
      await run();
      const before = userRequests();
      const quiet = await run();
      expect(quiet.status).toBe("completed");
      expect(userRequests() - before).toBeLessThanOrEqual(2);
      expect(quiet.kinds.users?.counts).toEqual({ unchanged: PAGE });
    },
    TIMEOUT,
  );

  test(
    "users created and updated in Clerk since the last run are written; what is older is not read",
    async () => {
      const users = Array.from({ length: 4 * PAGE }, () => signUp());
      await run();
      const renamed = updateInClerk(users[3] as ClerkJson, { first_name: "Grace" });
      const newcomer = signUp();
      const before = userRequests();
      const result = await run();
      expect(result.kinds.users?.counts).toMatchObject({ created: 1, updated: 1 });
      expect(await stored(renamed.id)).toMatchObject({ first_name: "Grace", workspaces: 1 });
      expect(await stored(newcomer.id)).toMatchObject({ workspaces: 1 });
      expect(userRequests() - before).toBe(2);
    },
    TIMEOUT,
  );

  test(
    "users updated in the mark's own millisecond after the last run are read again (equal is not older)",
    async () => {
      signUp();
      const last = signUp();
      await run();
      const sameMillisecond = signUp({ updatedAt: Number(last.updated_at) });
      const result = await run();
      expect(result.kinds.users?.counts).toMatchObject({ created: 1 });
      expect(await stored(sameMillisecond.id)).toMatchObject({ workspaces: 1 });
    },
    TIMEOUT,
  );

  test(
    "more changes than a page: read page by page until a page reaches below the mark",
    async () => {
      for (let i = 0; i < 3 * PAGE; i++) signUp();
      await run();
      const changed = Array.from({ length: PAGE + 2 }, () => signUp());
      const result = await run();
      expect(result.kinds.users?.counts).toMatchObject({ created: PAGE + 2 });
      for (const user of changed) expect(await stored(user.id)).toMatchObject({ workspaces: 1 });
      expect(result.kinds.users?.listed).toBe(2 * PAGE);
    },
    TIMEOUT,
  );

  test(
    "a user deleted here (tombstoned) that Clerk still lists, even updated, is not resurrected",
    async () => {
      const user = signUp();
      await run();
      await h.deliver(["user.deleted", { id: user.id, deleted: true, object: "user" }]);
      updateInClerk(user, { first_name: "Back" });
      const result = await run();
      expect(result.kinds.users?.counts).toMatchObject({ "skipped:deleted": 1 });
      expect(await stored(user.id)).toBeUndefined();
    },
    TIMEOUT,
  );

  test(
    "a full run and an incremental one keep their own unfinished runs: neither resumes nor abandons the other's",
    async () => {
      for (let i = 0; i < 3 * PAGE; i++) signUp();
      const controller = new AbortController();
      h.api.beforeAnswer = (request) => {
        if (request.path === "/v1/users" && request.query.get("offset") === String(PAGE)) controller.abort();
      };
      const interrupted = await run({ incremental: false, concurrency: 1, signal: controller.signal });
      expect(interrupted.status).toBe("interrupted");
      h.api.beforeAnswer = undefined;
      const incremental = await run();
      expect(incremental.status).toBe("completed");
      expect(incremental.runId).not.toBe(interrupted.runId);
      const full = await run({ incremental: false });
      expect(full.runId).toBe(interrupted.runId);
      expect(full.resumedAt).toBeGreaterThanOrEqual(PAGE);
    },
    TIMEOUT,
  );

  test(
    "a user whose only change since the mark is a deletion in Clerk does not move the mark back",
    async () => {
      signUp();
      const newest = signUp();
      await run();
      const markBefore = await mark();
      h.api.users.delete(newest.id);
      await run();
      expect(await mark()).toBe(markBefore);
    },
    TIMEOUT,
  );
});
