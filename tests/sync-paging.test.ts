import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { createClerkDirectory } from "../src/clerk/backend-api.js";
import { parseClerkEvent } from "../src/clerk/events.js";
import { createRequestBudget } from "../src/clerk/request-budget.js";
import { applyClerkEvent } from "../src/provisioning/apply-clerk-event.js";
import { type ReconcileOptions, reconcile as reconcileUsers } from "../src/provisioning/reconcile.js";
import { type FakeClerkApi, startFakeClerkApi, TEST_CLERK_SECRET_KEY } from "../support/fake-clerk-api.js";
import { clerkUser, newSvixId, type UserOptions } from "./helpers/clerk.js";
import { drivers, type TestDatabase } from "./helpers/database.js";

/**
 * The sync's paging with several listing requests in flight (src/provisioning/paging.ts), in process: the exported
 * reconcile function, the real `@clerk/backend` client against the fake Backend API, a real database.
 */

const PAGE = 5;
const TIMEOUT = 60_000;

type UserJson = Record<string, unknown> & { id: string };

describe.each(drivers())("sync paging on $name", ({ open }) => {
  let api: FakeClerkApi;
  let database: TestDatabase;
  let created = 0;
  let notices: string[];
  beforeEach(async () => {
    api = await startFakeClerkApi();
    database = await open();
    created = 0;
    notices = [];
  });
  afterEach(async () => {
    await api?.close();
    await database?.close();
  });

  const inClerk = (options: UserOptions = {}): UserJson => {
    const raw = clerkUser(options);
    const user: UserJson = { ...raw, id: raw.id as string, created_at: 1_700_000_000_000 + created++ };
    api.users.set(user.id, user);
    return user;
  };
  /** Clerk's users in listing order. */
  const listing = () =>
    ([...api.users.values()] as UserJson[]).sort((a, b) => Number(a.created_at) - Number(b.created_at));
  const directory = (options: { signal?: AbortSignal; budget?: ReturnType<typeof createRequestBudget> } = {}) =>
    createClerkDirectory({ secretKey: TEST_CLERK_SECRET_KEY, apiUrl: api.url, backoffMs: 50, ...options });
  const reconcile = (options: Partial<ReconcileOptions> & { directory?: ReturnType<typeof directory> } = {}) => {
    const { directory: given, ...rest } = options;
    return reconcileUsers(
      { db: database.db, directory: given ?? directory({ ...(rest.signal ? { signal: rest.signal } : {}) }) },
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
    (await database.query<{ id: string }>("SELECT id FROM users ORDER BY id")).map((row) => row.id);
  const run = async () =>
    (await database.query<{ status: string; next_offset: number }>("SELECT status, next_offset FROM sync_runs"))[0];
  const listRequests = () => api.requests.filter((r) => r.path === "/v1/users");
  // Later pages answer sooner: with several in flight, they arrive out of order.
  const laterIsFaster = (request: { query: URLSearchParams }) =>
    Math.max(5, 80 - Number(request.query.get("offset") ?? 0) * 2);

  test(
    "pages are applied in order, one at a time, while several are in flight and answered out of order",
    async () => {
      // Every user's e-mail is john@…: the username suffixes record the order in which users were written.
      const clerkUsers = Array.from({ length: 32 }, (_, i) => inClerk({ email: `john@host${i}.example` }));
      api.latencyMs = laterIsFaster;
      const positions: number[] = [];
      const result = await reconcile({ onProgress: ({ position }) => positions.push(position) });
      expect(result).toMatchObject({ status: "completed", listed: 32, total: 32, counts: { created: 32 } });
      expect(positions).toEqual([5, 10, 15, 20, 25, 30, 32]);
      expect(api.peakInFlight, "several pages in flight (two requests each)").toBeGreaterThanOrEqual(6);
      const offsets = listRequests().map((r) => Number(r.query.get("offset") ?? 0));
      expect([...offsets].sort((a, b) => a - b)).toEqual([0, 5, 10, 15, 20, 25, 30]); // each page asked once
      const usernames = new Map(
        (await database.query<{ id: string; username: string }>("SELECT id, username FROM users")).map((row) => [
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
      for (let i = 0; i < 30; i++) inClerk();
      const hung = "10";
      api.intercept = (request) =>
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

      api.intercept = undefined;
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
      for (let i = 0; i < 60; i++) inClerk();
      // Clerk allows 8 requests a second; the sync is told 40: it is refused, and must recover.
      api.rateLimit = { requests: 8, windowMs: 1_000 };
      const budget = createRequestBudget(40, 1_000);
      const result = await reconcile({ directory: directory({ budget }), concurrency: 8 });
      expect(result).toMatchObject({ status: "completed", listed: 60, counts: { created: 60 } });
      expect((await storedIds()).length).toBe(60);
      expect(api.refused).toBeGreaterThan(0);
      // After a refusal, nothing new is sent until its Retry-After (1 s) has run out, but for requests already on
      // their way (sent before the 429 was read: within a few milliseconds of it).
      const firstRefused = api.requests.find((r) => r.refused)?.at as number;
      const during = api.requests.filter((r) => r.at > firstRefused + 150 && r.at < firstRefused + 950);
      expect(during, "requests sent while paused").toEqual([]);
    },
    TIMEOUT,
  );

  test(
    "kept under the configured rate with several in flight: nothing refused, no window over the limit",
    async () => {
      for (let i = 0; i < 60; i++) inClerk();
      api.rateLimit = { requests: 10, windowMs: 1_000 };
      const budget = createRequestBudget(10, 1_000);
      const result = await reconcile({ directory: directory({ budget }), concurrency: 8 });
      expect(result).toMatchObject({ status: "completed", listed: 60 });
      expect(api.refused).toBe(0);
      const times = api.requests.map((r) => r.at);
      const busiest = Math.max(...times.map((t) => times.filter((u) => u >= t && u < t + 1_000).length));
      expect(busiest).toBeLessThanOrEqual(10);
      expect(times.length).toBe(24); // 12 pages, two requests each: more than two windows
    },
    TIMEOUT,
  );

  test(
    "users deleted mid-run with several pages in flight: none is skipped and --prune removes only the user Clerk never had",
    async () => {
      for (let i = 0; i < 50; i++) inClerk();
      // Stored here, not in Clerk: the one user to prune.
      const ghost = clerkUser();
      const event = parseClerkEvent({ type: "user.created", data: ghost });
      expect(await applyClerkEvent(database.db, { deliveryId: newSvixId(), receivedAt: new Date(), event })).toBe(
        "provisioned",
      );
      // Pages answer out of order. Each page's count (its own request, `/v1/users/count`) answers after the page:
      // the guard knows of a shift only from a count taken after it (a deletion between a page and an earlier
      // count is not seen, by this code or the one-page-at-a-time code before it).
      api.latencyMs = (request) =>
        request.path === "/v1/users/count" ? 60 : 10 + ((Number(request.query.get("offset") ?? 0) * 7) % 40);
      const deleted: string[] = [];
      const result = await reconcile({
        prune: true,
        onProgress: ({ position }) => {
          // After the third page, three users before the cursor are deleted in Clerk: every later offset shifts
          // by three, under pages already in flight (some answered before, some after).
          if (position !== 15) return;
          for (const index of [2, 7, 12]) {
            const user = listing()[index - deleted.length] as UserJson;
            deleted.push(user.id);
            api.users.delete(user.id);
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
      });
      expect(result.prune).toMatchObject({ candidates: 1, gone: 1, ids: [ghost.id as string] });
      const stored = new Set(await storedIds());
      for (const user of listing()) expect(stored.has(user.id), `${user.id} skipped`).toBe(true);
      // The three were listed before their deletion: their user.deleted (the webhook's) removes them, not --prune.
      for (const id of deleted) expect(stored.has(id)).toBe(true);
      expect(stored.has(ghost.id as string)).toBe(false);
      expect(stored.size).toBe(50);
    },
    TIMEOUT,
  );
});
