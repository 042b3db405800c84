import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { type ClerkDirectoryOptions, createClerkDirectory } from "../../src/clerk/backend-api.js";
import { createRequestBudget } from "../../src/clerk/request-budget.js";
import { type ReconcileOptions, reconcile as reconcileUsers } from "../../src/sync/sync.js";
import { TEST_CLERK_SECRET_KEY } from "../../support/fake-clerk-api.js";
import { clerkUser } from "../helpers/clerk.js";
import { drivers, type TestDatabase } from "../helpers/database.js";
import { type ClerkJson, openSyncHarness, type SyncHarness } from "../helpers/sync-harness.js";

/**
 * The sync's paging with several listing requests in flight (src/sync/paging.ts), in process: the exported
 * reconcile function, the real `@clerk/backend` client against the fake Backend API, a real database.
 */

const PAGE = 5;
const TIMEOUT = 60_000;

describe.each(drivers())("sync paging on $name", ({ open }) => {
  let h: SyncHarness<TestDatabase>;
  let notices: string[];
  beforeEach(async () => {
    h = await openSyncHarness(await open());
    notices = [];
  });
  afterEach(() => h?.close());

  /** Clerk's users in listing order. */
  const listing = () =>
    ([...h.api.users.values()] as ClerkJson[]).sort((a, b) => Number(a.created_at) - Number(b.created_at));
  const directory = (
    options: Pick<ClerkDirectoryOptions, "signal" | "onRetry"> & {
      budget?: ReturnType<typeof createRequestBudget>;
    } = {},
  ) => createClerkDirectory({ secretKey: TEST_CLERK_SECRET_KEY, apiUrl: h.api.url, backoffMs: 50, ...options });
  const reconcile = (options: Partial<ReconcileOptions> & { directory?: ReturnType<typeof directory> } = {}) => {
    const { directory: given, ...rest } = options;
    return reconcileUsers(
      { db: h.database.db, directory: given ?? directory({ ...(rest.signal ? { signal: rest.signal } : {}) }) },
      {
        dryRun: false,
        prune: false,
        restart: false,
        pageSize: PAGE,
        concurrency: 4,
        signal: new AbortController().signal,
        onNotice: (message) => notices.push(message),
        ...rest,
      },
    );
  };
  const storedIds = async () =>
    (await h.database.query<{ id: string }>("SELECT id FROM users ORDER BY id")).map((row) => row.id);
  const run = async () =>
    (
      await h.database.query<{ status: string; next_offset: number }>(
        "SELECT r.status, c.next_offset FROM sync_runs r JOIN sync_run_cursors c ON c.run_id = r.id AND c.kind = 'users'",
      )
    )[0];
  const listRequests = () => h.api.requests.filter((r) => r.path === "/v1/users");
  // Later pages answer sooner: with several in flight, they arrive out of order.
  const laterIsFaster = (request: { query: URLSearchParams }) =>
    Math.max(5, 80 - Number(request.query.get("offset") ?? 0) * 2);

  /** Stored here (as the webhook would have it), not in Clerk: the one user --prune must remove. */
  const storeGhost = async () => {
    const ghost = clerkUser();
    expect(await h.deliver(["user.created", ghost])).toEqual(["provisioned"]);
    return ghost.id as string;
  };

  test(
    "pages are applied in order, one at a time, while several are in flight and answered out of order",
    async () => {
      // Every user's e-mail is john@…: the username suffixes record the order in which users were written.
      const clerkUsers = Array.from({ length: 32 }, (_, i) => h.userInClerk({ email: `john@host${i}.example` }));
      h.api.latencyMs = laterIsFaster;
      const positions: number[] = [];
      const result = await reconcile({ onProgress: ({ position }) => positions.push(position) });
      expect(result).toMatchObject({ status: "completed", listed: 32, total: 32, counts: { created: 32 } });
      expect(positions).toEqual([5, 10, 15, 20, 25, 30, 32]);
      // One request each at a time: a page's count is asked for once its list has been read.
      expect(h.api.peakInFlight, "several pages in flight").toBeGreaterThanOrEqual(4);
      const offsets = listRequests().map((r) => Number(r.query.get("offset") ?? 0));
      expect([...offsets].sort((a, b) => a - b)).toEqual([0, 5, 10, 15, 20, 25, 30]); // each page asked once
      const usernames = new Map(
        (await h.database.query<{ id: string; username: string }>("SELECT id, username FROM users")).map((row) => [
          row.id,
          row.username,
        ]),
      );
      expect(clerkUsers.map((user) => usernames.get(user.id))).toEqual(
        clerkUsers.map((_, i) => (i === 0 ? "john" : `john${i + 1}`)),
      );
      expect(await run()).toEqual({ status: "completed", next_offset: 32 });
    },
    TIMEOUT,
  );

  test(
    "stopped while the next page hangs and later ones are answered: only the pages before it are committed; the next run resumes there",
    async () => {
      for (let i = 0; i < 30; i++) h.userInClerk();
      const hung = "10";
      h.api.intercept = (request) =>
        request.path === "/v1/users" && request.query.get("offset") === hung ? { status: 200, hang: true } : undefined;
      const controller = new AbortController();
      const stopping = reconcile({ signal: controller.signal });
      // Wait until the pages after the hung one have been answered.
      const answered = () => new Set(listRequests().map((r) => r.query.get("offset")));
      for (let waited = 0; !["10", "15", "20", "25"].every((o) => answered().has(o)); waited += 20) {
        if (waited > 20_000) throw new Error(`pages asked: ${[...answered()]}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      controller.abort();
      const stopped = await stopping;
      expect(stopped).toMatchObject({ status: "interrupted", listed: 10, counts: { created: 10 } });
      expect(await run()).toEqual({ status: "interrupted", next_offset: 10 });
      expect(await storedIds()).toEqual(
        listing()
          .slice(0, 10)
          .map((u) => String(u.id))
          .sort(),
      );

      h.api.intercept = undefined;
      const resumed = await reconcile();
      expect(resumed).toMatchObject({ status: "completed", resumedAt: 10, listed: 20, counts: { created: 30 } });
      expect((await storedIds()).length).toBe(30);
      expect(await run()).toEqual({ status: "completed", next_offset: 30 });
    },
    TIMEOUT,
  );

  test(
    "a 429 storm: every request waits out Retry-After (a 429 pauses them all), and the listing completes",
    async () => {
      for (let i = 0; i < 60; i++) h.userInClerk();
      // Clerk allows 8 requests a second; the sync is told 40: it is refused, and must recover.
      h.api.rateLimit = { requests: 8, windowMs: 1_000 };
      const budget = createRequestBudget(40, 1_000);
      let firstRead: number | undefined;
      const onRetry = ({ status }: { status: number | undefined }) => {
        if (status === 429) firstRead ??= h.api.now();
      };
      const result = await reconcile({ directory: directory({ budget, onRetry }), concurrency: 8 });
      expect(result).toMatchObject({ status: "completed", listed: 60, counts: { created: 60 } });
      expect((await storedIds()).length).toBe(60);
      expect(h.api.refused).toBeGreaterThan(0);
      // After a refusal is read, nothing new is sent until its Retry-After (1 s) has run out, but for requests
      // already on their way (sent before the 429 was read: within a few milliseconds of it). Timed from the read,
      // not from the refusal: with PGlite in this process, the fake sees requests late, some after its refusal.
      const read = firstRead as number;
      const during = h.api.requests.filter((r) => r.at > read + 150 && r.at < read + 950);
      expect(during, "requests sent while paused").toEqual([]);
    },
    TIMEOUT,
  );

  test(
    "kept under the configured rate with several in flight: nothing refused, no window over the limit",
    async () => {
      for (let i = 0; i < 60; i++) h.userInClerk();
      h.api.rateLimit = { requests: 10, windowMs: 1_000 };
      const budget = createRequestBudget(10, 1_000);
      const result = await reconcile({ directory: directory({ budget }), concurrency: 8 });
      expect(result).toMatchObject({ status: "completed", listed: 60 });
      expect(h.api.refused).toBe(0);
      const times = h.api.requests.map((r) => r.at);
      const busiest = Math.max(...times.map((t) => times.filter((u) => u >= t && u < t + 1_000).length));
      expect(busiest).toBeLessThanOrEqual(10);
      expect(times.length).toBe(24); // 12 pages, two requests each: more than two windows
    },
    TIMEOUT,
  );

  test(
    "users deleted mid-run with several pages in flight: none is skipped and --prune removes only the user Clerk never had",
    async () => {
      for (let i = 0; i < 50; i++) h.userInClerk();
      const ghost = await storeGhost();
      // Pages answer out of order, each page's count (its own request, `/v1/users/count`) well after the page.
      h.api.latencyMs = (request) =>
        request.path === "/v1/users/count" ? 60 : 10 + ((Number(request.query.get("offset") ?? 0) * 7) % 40);
      const deleted: string[] = [];
      const result = await reconcile({
        prune: true,
        onProgress: ({ position }) => {
          // After the third page, three users before the cursor are deleted in Clerk: every later offset shifts
          // by three, under pages already in flight (some answered before, some after).
          if (position !== 15) return;
          for (const index of [2, 7, 12]) {
            const user = listing()[index - deleted.length] as ClerkJson;
            deleted.push(user.id);
            h.api.users.delete(user.id);
          }
        },
      });
      expect(deleted).toHaveLength(3);
      expect(
        notices.some((n) => /user count dropped by 3: re-reading from user \d+/.test(n)),
        notices.join("\n"),
      ).toBe(true);
      expect(result, JSON.stringify({ result, notices, deleted })).toMatchObject({
        status: "completed",
        total: 47,
        counts: { created: 50, pruned: 1 },
        warnings: [],
      });
      expect(result.prune).toMatchObject({ candidates: 1, gone: 1, ids: [ghost] });
      const stored = new Set(await storedIds());
      for (const user of listing()) expect(stored.has(user.id), `${user.id} skipped`).toBe(true);
      // The three were listed before their deletion: their user.deleted (the webhook's) removes them, not --prune.
      for (const id of deleted) expect(stored.has(id)).toBe(true);
      expect(stored.has(ghost)).toBe(false);
      expect(stored.size).toBe(50);
    },
    TIMEOUT,
  );

  const firstNames = async () =>
    new Map(
      (await h.database.query<{ id: string; first_name: string | null }>("SELECT id, first_name FROM users")).map(
        (row) => [row.id, row.first_name],
      ),
    );
  /** Deletes the users at these positions of Clerk's listing (as it is now) and returns their ids. */
  const deleteAt = (...indexes: number[]) => {
    const ids = indexes.map((index) => (listing()[index] as ClerkJson).id);
    for (const id of ids) h.api.users.delete(id);
    return ids;
  };
  const offsetOf = (request: { path: string; query: URLSearchParams }) =>
    request.path === "/v1/users" ? Number(request.query.get("offset") ?? 0) : undefined;

  test(
    "a user deleted between a page's count and its list, with several pages in flight: none is skipped and --prune removes only the user Clerk never had",
    async () => {
      for (let i = 0; i < 30; i++) h.userInClerk();
      // The user the last page would skip, stored with an older state than Clerk's: re-read, it is updated.
      const behind = listing()[25] as ClerkJson;
      const older = clerkUser({ id: behind.id, firstName: "Older", updatedAt: 1_700_000_000_000 });
      await h.deliver(["user.created", older]);
      h.api.users.set(behind.id, { ...behind, first_name: "Current", updated_at: 1_800_000_000_000 });
      const ghost = await storeGhost();
      // A count asked with its page is answered at once, a page after 40 ms: the count is taken before the page is read.
      h.api.latencyMs = (request) => (offsetOf(request) === undefined ? 0 : 40);
      const deleted: string[] = [];
      const countsBefore: number[] = [];
      h.api.beforeAnswer = (request) => {
        if (offsetOf(request) !== 25 || deleted.length > 0) return;
        countsBefore.push(h.api.requests.filter((r) => r.path === "/v1/users/count").length);
        // Just before the last page is read, a user long listed is deleted: every later offset shifts by one.
        deleted.push(...deleteAt(2));
      };
      const result = await reconcile({ prune: true });
      expect(deleted).toHaveLength(1);
      expect(h.api.peakInFlight, "several pages in flight").toBeGreaterThanOrEqual(4);
      expect(
        notices.some((n) => /user count dropped by 1: re-reading from user 2\d/.test(n)),
        notices.join("\n"),
      ).toBe(true);
      expect(result, JSON.stringify({ result, notices, deleted })).toMatchObject({
        status: "completed",
        total: 29,
        counts: { pruned: 1 },
        warnings: [],
      });
      expect(result.prune).toMatchObject({ candidates: 1, gone: 1, ids: [ghost] });
      const stored = await firstNames();
      for (const user of listing()) expect(stored.get(user.id), `${user.id} skipped`).toBe(user.first_name);
      expect(stored.get(behind.id)).toBe("Current");
      expect(
        stored.has(deleted[0] as string),
        "listed before its deletion: the webhook's user.deleted removes it",
      ).toBe(true);
      expect(stored.has(ghost)).toBe(false);
      expect(stored.size).toBe(30);
    },
    TIMEOUT,
  );

  test(
    "re-reading from the first page with several in flight: a deletion between the first page and the next is not skipped",
    async () => {
      for (let i = 0; i < 20; i++) h.userInClerk();
      const ghost = await storeGhost();
      // Offset 0 answers first, offset 5 last; a count after all of them (so after a deletion made at offset 5).
      h.api.latencyMs = (request) => {
        const offset = offsetOf(request);
        return offset === undefined ? 100 : offset === 0 ? 10 : offset === 5 ? 60 : 30;
      };
      const deleted: string[] = [];
      let askedAt5 = 0;
      h.api.beforeAnswer = (request) => {
        if (offsetOf(request) !== 5) return;
        askedAt5++;
        // The first time: five users before offset 5 go, so the listing steps back to the first page. The second
        // time (the first page of the re-read has been answered, its count not yet): one user of the first page.
        if (askedAt5 === 1) deleted.push(...deleteAt(0, 1, 2, 3, 4));
        if (askedAt5 === 2) deleted.push(...deleteAt(1));
      };
      const result = await reconcile({ prune: true });
      expect(deleted).toHaveLength(6);
      expect(
        notices.filter((n) => /user count dropped by \d: re-reading from user 0/.test(n)),
        notices.join("\n"),
      ).toHaveLength(2);
      expect(result, JSON.stringify({ result, notices, deleted })).toMatchObject({
        status: "completed",
        total: 14,
        warnings: [],
      });
      expect(result.prune).toMatchObject({ candidates: 1, gone: 1, ids: [ghost] });
      const stored = new Set(await storedIds());
      for (const user of listing()) expect(stored.has(user.id), `${user.id} skipped`).toBe(true);
      // The first five were applied before their deletion; the sixth was deleted before its page was applied (the
      // page was read again, without it).
      for (const id of deleted.slice(0, 5)) expect(stored.has(id)).toBe(true);
      expect(stored.has(deleted[5] as string)).toBe(false);
      expect(stored.has(ghost)).toBe(false);
      expect(stored.size).toBe(19);
    },
    TIMEOUT,
  );
});
