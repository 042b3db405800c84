import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { startFakeClerkApi, TEST_CLERK_SECRET_KEY } from "../../support/fake-clerk-api.js";
import { clerkUser } from "../helpers/clerk.js";
import { cliDatabases, expectExit, jsonOf, runCli, startCli } from "../helpers/cli.js";
import { type CommandHarness, openCommandHarness } from "../helpers/sync-harness.js";

/** `npm run sync -- --json`'s summary. */
interface Summary {
  status: "completed" | "interrupted";
  dryRun: boolean;
  runId: number | null;
  resumedAt: number | null;
  listed: number;
  total: number;
  created: number;
  updated: number;
  unchanged: number;
  skipped: Record<string, number>;
  failed: Record<string, number>;
  pruned: number;
  prune: { candidates: number; gone: number; refused: { limit: number } | null; ids: string[] } | null;
  failures: { userId: string; reason: string }[];
  warnings: string[];
}

const PAGE = 5;
const TIMEOUT = 120_000;

/** Each run's status and its users cursor (`sync_run_cursors`; 0 until a page of users committed). */
const RUNS = `SELECT r.status, COALESCE(c.next_offset, 0) AS next_offset FROM sync_runs r
  LEFT JOIN sync_run_cursors c ON c.run_id = r.id AND c.kind = 'users' ORDER BY r.id`;

interface UserRow {
  id: string;
  email: string;
  username: string;
  first_name: string | null;
  updated_at: string;
}

describe.each(cliDatabases({ pooler: true }))("npm run sync on $name", ({ name, open }) => {
  let h: CommandHarness;
  beforeEach(async () => {
    h = await openCommandHarness(await open());
  });
  afterEach(() => h?.close());

  const sync = (args: string[] = [], extra: Record<string, string> = {}) =>
    runCli("sync", ["--json", "--page-size", String(PAGE), ...args], h.env(extra));
  const listRequests = () => h.api.requests.filter((r) => r.path === "/v1/users");
  const users = () =>
    h.database.query<UserRow>("SELECT id, email, username, first_name, updated_at::text FROM users ORDER BY id");
  const counts = async () =>
    (
      await h.database.query<{
        users: number;
        workspaces: number;
        per_user: number;
        versions: number;
        deliveries: number;
      }>(
        `SELECT (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM workspaces) AS workspaces,
          (SELECT count(*)::int FROM (SELECT user_id FROM workspaces GROUP BY user_id HAVING count(*) <> 1) w) AS per_user,
          (SELECT count(*)::int FROM clerk_user_versions) AS versions,
          (SELECT count(*)::int FROM clerk_deliveries) AS deliveries`,
      )
    )[0];

  /** 23 users in Clerk, in pages of 5: three Johns, a Clerk username to fit, one without an e-mail; in listing order. */
  const seedUsers = () => [
    h.userInClerk({ email: "john@one.example" }),
    h.userInClerk({ email: "john@two.example" }),
    h.userInClerk({ email: "John.Three@Example.com", username: "john" }), // Clerk's own username, taken: john3
    h.userInClerk({ username: "ada-lovelace" }),
    h.userInClerk({ email: null }),
    ...Array.from({ length: 18 }, () => h.userInClerk()),
  ];
  const workspaces = () => h.database.query("SELECT id, user_id, updated_at::text FROM workspaces ORDER BY id");

  test(
    "back-fills every user across pages: one user and one workspace each, usernames per the contract",
    async () => {
      const noEmail = seedUsers()[4];
      const first = await sync();
      expectExit(first, 0);
      const summary = jsonOf<Summary>(first);
      expect(summary).toMatchObject({
        status: "completed",
        listed: 23,
        total: 23,
        created: 22,
        updated: 0,
        unchanged: 0,
        skipped: { no_usable_email: 1 },
        failed: {},
      });
      // Pages of 5 in creation order, each asked once: offsets 0…20, then no more.
      expect(
        listRequests().map((r) => [r.query.get("offset") ?? "0", r.query.get("limit"), r.query.get("order_by")]),
      ).toEqual([0, 5, 10, 15, 20].map((offset) => [String(offset), "5", "+created_at"]));
      expect(await counts()).toMatchObject({ users: 22, workspaces: 22, per_user: 0, versions: 22 });
      const rows = await users();
      expect(rows.map((r) => r.username)).toEqual(expect.arrayContaining(["john", "john2", "john3", "ada_lovelace"]));
      expect(rows.find((r) => r.email === "john.three@example.com")?.username).toBe("john3");
      // The user without an e-mail is recorded for `npm run replay`, as the webhook records it.
      expect(
        await h.database.query("SELECT outcome, reason FROM clerk_deliveries WHERE clerk_user_id = $1", [noEmail?.id]),
      ).toEqual([{ outcome: "skipped", reason: "no_usable_email" }]);
    },
    TIMEOUT,
  );

  test(
    "a second run changes nothing",
    async () => {
      seedUsers();
      expectExit(await sync(), 0);
      const rows = await users();
      const workspacesBefore = await workspaces();
      const second = await sync();
      expectExit(second, 0);
      expect(jsonOf<Summary>(second)).toMatchObject({
        status: "completed",
        resumedAt: null,
        created: 0,
        updated: 0,
        unchanged: 22,
        skipped: { no_usable_email: 1 },
      });
      expect(await users()).toEqual(rows);
      expect(await workspaces()).toEqual(workspacesBefore);
      expect(await counts()).toMatchObject({ users: 22, workspaces: 22, deliveries: 1 });
      const runs = await h.database.query<{ status: string; next_offset: number }>(RUNS);
      expect(runs.map((r) => [r.status, r.next_offset])).toEqual([
        ["completed", 23],
        ["completed", 23],
      ]);
      const runCounts = await h.database.query<{ counts: Record<string, number> }>(
        "SELECT counts FROM sync_runs ORDER BY id",
      );
      expect(runCounts[1]?.counts).toEqual({ "users:unchanged": 22, "users:skipped:no_usable_email": 1 });
    },
    TIMEOUT,
  );

  test(
    "workspaces removed by hand (one in the first page, one in the last) are restored by the next run, once each",
    async () => {
      const listed = seedUsers();
      expectExit(await sync(), 0);
      const workspacesBefore = await workspaces();
      const [first0, last0] = [listed[0]?.id, listed[22]?.id];
      await h.database.query("DELETE FROM workspaces WHERE user_id = ANY($1)", [[first0, last0]]);
      expectExit(await sync(), 0);
      expect(await counts()).toMatchObject({ users: 22, workspaces: 22, per_user: 0 });
      const restored = await h.database.query<{ user_id: string }>(
        "SELECT user_id FROM workspaces WHERE id <> ALL($1) ORDER BY user_id",
        [workspacesBefore.map((w) => (w as { id: string }).id)],
      );
      expect(restored.map((w) => w.user_id)).toEqual([first0, last0].sort());
    },
    TIMEOUT,
  );

  test(
    "the webhook's rules: newer Clerk data updates, equal or older changes nothing, a deleted user is never resurrected",
    async () => {
      const older = h.userInClerk({ firstName: "Old", updatedAt: 100 });
      const newer = h.userInClerk({ firstName: "Listed", updatedAt: 200 });
      const same = h.userInClerk({ firstName: "Same", updatedAt: 300 });
      const deleted = h.userInClerk({ firstName: "Deleted", updatedAt: 400 });
      const fresh = h.userInClerk({ firstName: "Fresh" });
      // Stored before the sync: `older` at an older version, `newer` at a newer one, `same` at the listed one.
      expect(
        await h.deliver(
          ["user.updated", { ...older, updated_at: 50, first_name: "Stored" }],
          ["user.updated", { ...newer, updated_at: 250, first_name: "Webhook" }],
          ["user.created", same],
          ["user.created", deleted],
          ["user.deleted", { id: deleted.id, deleted: true, object: "user" }],
        ),
      ).toEqual(["provisioned", "provisioned", "provisioned", "provisioned", "deleted"]);

      const result = await sync();
      expectExit(result, 0);
      expect(jsonOf<Summary>(result)).toMatchObject({
        created: 1,
        updated: 1,
        unchanged: 1,
        skipped: { stored_newer: 1, deleted: 1 },
        failed: {},
      });
      const byId = new Map((await users()).map((u) => [u.id, u]));
      expect(byId.get(older.id)?.first_name).toBe("Old");
      expect(byId.get(newer.id)?.first_name).toBe("Webhook");
      expect(byId.get(same.id)?.first_name).toBe("Same");
      expect(byId.get(fresh.id)?.first_name).toBe("Fresh");
      expect(byId.has(deleted.id)).toBe(false);
      expect(
        await h.database.query("SELECT count(*)::int AS n FROM workspaces WHERE user_id = $1", [deleted.id]),
      ).toEqual([{ n: 0 }]);
    },
    TIMEOUT,
  );

  test(
    "Clerk's rate limit (429 with Retry-After) is waited out and a 500 in the middle retried: the result is complete",
    async () => {
      for (let i = 0; i < 14; i++) h.userInClerk();
      let listed = 0;
      h.api.intercept = (request) => {
        if (request.path !== "/v1/users") return undefined;
        listed++;
        if (listed === 2) {
          return {
            status: 429,
            headers: { "retry-after": "1" },
            body: { errors: [{ code: "too_many_requests", message: "Too many requests" }] },
          };
        }
        if (listed === 4) return { status: 500 };
        return undefined;
      };
      // One request at a time, to follow one request's retries (tests/sync/paging.test.ts has a 429 storm).
      const result = await sync(["--progress", "lines", "--concurrency", "1"]);
      expectExit(result, 0);
      expect(jsonOf<Summary>(result)).toMatchObject({ status: "completed", created: 14, listed: 14 });
      expect(await counts()).toMatchObject({ users: 14, workspaces: 14 });
      const offsets = listRequests().map((r) => [r.query.get("offset") ?? "0", r.at]);
      // 0, 5 (429), 5 again after Retry-After, 10 (500), 10 again.
      expect(offsets.map(([offset]) => offset)).toEqual(["0", "5", "5", "10", "10"]);
      const waited = Number(offsets[2]?.[1]) - Number(offsets[1]?.[1]);
      expect(waited, "the retry came before Retry-After").toBeGreaterThanOrEqual(950);
      expect(result.stderr).toMatch(/rate limit \(429\): waiting 1s/);
      expect(result.stderr).toMatch(/Clerk answered 500: retry 1/);
    },
    TIMEOUT,
  );

  test(
    "the default 16 pages in flight share the run's abort signal without Node's listener-leak warning",
    async () => {
      for (let i = 0; i < 24; i++) h.userInClerk();
      h.api.latencyMs = 20;
      const warnings: string[] = [];
      const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
      process.on("warning", onWarning);
      try {
        const result = await sync(["--page-size", "1", "--rate", "10000"]);
        expectExit(result, 0);
        expect(jsonOf<Summary>(result)).toMatchObject({ status: "completed", created: 24 });
      } finally {
        process.off("warning", onWarning);
      }
      expect(warnings).toEqual([]);
    },
    TIMEOUT,
  );

  test(
    "a key Clerk refuses (401, 403) stops at once with exit 3 and a message naming the variable; nothing is written",
    async () => {
      for (let i = 0; i < 3; i++) h.userInClerk();
      const wrongKey = await sync([], { CLERK_SECRET_KEY: "sk_test_not_the_right_one" });
      expectExit(wrongKey, 3);
      expect(wrongKey.stderr).toMatch(/Clerk rejected CLERK_SECRET_KEY \(401 authentication_invalid\)/);
      expect(h.api.requests).toHaveLength(0); // refused before reaching the API's routes, and not retried

      h.api.intercept = () => ({ status: 403, body: { errors: [{ code: "authorization_invalid", message: "no" }] } });
      const forbidden = await sync();
      expectExit(forbidden, 3);
      expect(forbidden.stderr).toMatch(/Clerk rejected CLERK_SECRET_KEY \(403/);
      expect(listRequests()).toHaveLength(1);
      expect(await counts()).toMatchObject({ users: 0, workspaces: 0 });
      // The second attempt resumed the first (failed) run: one run, still failed.
      expect(await h.database.query(RUNS)).toEqual([{ status: "failed", next_offset: 0 }]);
    },
    TIMEOUT,
  );

  test(
    "Clerk failing past the retries: exit 1, the pages applied are kept; the next run resumes after them",
    async () => {
      for (let i = 0; i < 13; i++) h.userInClerk();
      h.api.intercept = (request) =>
        request.path === "/v1/users" && request.query.get("offset") === "10" ? { status: 502 } : undefined;
      const failed = await sync(["--max-retries", "1"]);
      expectExit(failed, 1);
      expect(failed.stderr).toMatch(
        /Clerk Backend API unavailable \(status 502 after 2 attempts\); run the command again/,
      );
      expect(await counts()).toMatchObject({ users: 10, workspaces: 10 });
      expect(await h.database.query(RUNS)).toEqual([{ status: "failed", next_offset: 10 }]);

      h.api.intercept = undefined;
      const before = listRequests().length;
      const resumed = await sync();
      expectExit(resumed, 0);
      expect(jsonOf<Summary>(resumed)).toMatchObject({ status: "completed", resumedAt: 10, listed: 3, created: 13 });
      expect(listRequests()[before]?.query.get("offset")).toBe("10");
      expect(await counts()).toMatchObject({ users: 13, workspaces: 13 });
    },
    TIMEOUT,
  );

  test(
    "Ctrl-C (SIGINT): stops after the page being applied, exit 130; the next run continues where it stopped",
    async () => {
      for (let i = 0; i < 12; i++) h.userInClerk();
      // Page 3 is never answered: the command is waiting for Clerk when it is interrupted.
      const page3 = h.hangOnce("/v1/users", 10);
      // One request at a time: page 3 is asked for only once page 2 is in, so that it is applied when interrupted
      // (with several in flight, see tests/sync/paging.test.ts).
      const cli = startCli("sync", ["--json", "--page-size", String(PAGE), "--concurrency", "1"], h.env());
      await vi.waitFor(() => expect(page3.held()).toBe(true), { timeout: 30_000, interval: 50 });
      cli.child.kill("SIGINT");
      const interrupted = await cli.exited;
      expectExit(interrupted, 130);
      expect(jsonOf<Summary>(interrupted)).toMatchObject({ status: "interrupted", created: 10 });
      expect(interrupted.stderr).toMatch(/SIGINT: stopping/);
      expect(await h.database.query(RUNS)).toEqual([{ status: "interrupted", next_offset: 10 }]);

      h.api.intercept = undefined;
      const resumed = await sync();
      expectExit(resumed, 0);
      expect(jsonOf<Summary>(resumed)).toMatchObject({ resumedAt: 10, listed: 2, created: 12 });
      expect(await counts()).toMatchObject({ users: 12, workspaces: 12, per_user: 0 });
    },
    TIMEOUT,
  );

  test(
    "--dry-run reports what would be created, updated and pruned, and changes nothing at all",
    async () => {
      const stale = h.userInClerk({ firstName: "Changed", updatedAt: 500 });
      const same = h.userInClerk({ updatedAt: 600 });
      h.userInClerk();
      h.userInClerk({ email: null });
      const gone = clerkUser();
      // `gone` is stored, but no longer in Clerk.
      expect(
        await h.deliver(
          ["user.created", { ...stale, updated_at: 400 }],
          ["user.created", same],
          ["user.created", gone],
        ),
      ).toEqual(["provisioned", "provisioned", "provisioned"]);
      const before = { counts: await counts(), users: await users() };

      const result = await sync(["--dry-run", "--prune"]);
      expectExit(result, 0);
      expect(jsonOf<Summary>(result)).toMatchObject({
        dryRun: true,
        runId: null,
        created: 1,
        updated: 1,
        unchanged: 1,
        skipped: { no_usable_email: 1 },
        prune: { candidates: 1, gone: 1, refused: null, ids: [gone.id] },
      });
      expect(await counts()).toEqual(before.counts);
      expect(await users()).toEqual(before.users);
      expect(await h.database.query("SELECT count(*)::int AS n FROM sync_runs")).toEqual([{ n: 0 }]);

      const human = await runCli("sync", ["--dry-run", "--prune", "--page-size", "5"], h.env());
      expectExit(human, 0);
      expect(human.stdout).toMatch(/^dry run: 4 of 4 Clerk users listed in .*; nothing was changed$/m);
      expect(human.stdout).toMatch(/would be created\s+1/);
      expect(human.stdout).toMatch(new RegExp(`would prune: ${gone.id}`));
    },
    TIMEOUT,
  );

  test(
    "--prune removes only after a complete listing, each user confirmed gone with Clerk, tombstoned like user.deleted",
    async () => {
      for (let i = 0; i < 8; i++) h.userInClerk();
      const goneA = clerkUser();
      const goneB = clerkUser();
      const missedByListing = h.userInClerk(); // in Clerk, but a shifted page will not show it
      expect(
        await h.deliver(...[goneA, goneB, missedByListing].map((u) => ["user.created", u] as [string, typeof u])),
      ).toEqual(["provisioned", "provisioned", "provisioned"]);

      // A partial listing (Clerk down at the last page) prunes nothing.
      h.api.intercept = (request) =>
        request.path === "/v1/users" && request.query.get("offset") === "5" ? { status: 503 } : undefined;
      const partial = await sync(["--prune", "--max-retries", "0"]);
      expectExit(partial, 1);
      expect(await counts()).toMatchObject({ users: 5 + 3 }); // the first page, and the three stored before

      // Complete, but the last page leaves one user out (as an offset shift would): it is confirmed, not pruned.
      h.api.intercept = (request) => {
        if (request.path !== "/v1/users" || request.query.get("offset") !== "5") return undefined;
        const page = [...h.api.users.values()]
          .sort((a, b) => Number(a.created_at) - Number(b.created_at))
          .slice(5, 10)
          .filter((u) => u.id !== missedByListing.id);
        return { status: 200, body: page };
      };
      const result = await sync(["--prune"]);
      expectExit(result, 0);
      const summary = jsonOf<Summary>(result);
      expect(summary).toMatchObject({ status: "completed", resumedAt: 5, pruned: 2 });
      expect(summary.prune).toMatchObject({ candidates: 3, gone: 2, refused: null });
      expect(summary.prune?.ids).toEqual([goneA.id, goneB.id].sort());
      const userIds = (await users()).map((u) => u.id);
      expect(userIds).toContain(missedByListing.id);
      expect(userIds).not.toContain(goneA.id);
      expect(
        await h.database.query(
          `SELECT d.delivery_id, d.outcome, d.reason, v.deleted_at IS NOT NULL AS tombstoned,
             (SELECT count(*)::int FROM workspaces w WHERE w.user_id = v.user_id) AS workspaces
           FROM clerk_user_versions v JOIN clerk_deliveries d ON d.clerk_user_id = v.user_id AND d.event_type = 'user.deleted'
           WHERE v.user_id = $1`,
          [goneA.id],
        ),
      ).toEqual([
        {
          delivery_id: `sync-prune:${goneA.id}`,
          outcome: "deleted",
          reason: "pruned",
          tombstoned: true,
          workspaces: 0,
        },
      ]);
      // Tombstoned: a late event for a pruned user changes nothing, as after a user.deleted.
      expect(await h.deliver(["user.updated", { ...goneA, updated_at: 9e12 }])).toEqual(["stale"]);
      expect(await h.database.query("SELECT count(*)::int AS n FROM sync_run_seen")).toEqual([{ n: 0 }]);
    },
    TIMEOUT,
  );

  test(
    "a listing Clerk answered inconsistently (its count below what was listed; a page answered twice) completes, says so, and exits 4",
    async () => {
      const listed = Array.from({ length: 12 }, () => h.userInClerk());
      // Clerk's count says 3 while its first page holds 5: the listing ends there, 7 users short.
      h.api.intercept = (request) =>
        request.path === "/v1/users/count"
          ? { status: 200, body: { object: "total_count", total_count: 3 } }
          : undefined;
      const below = await sync();
      expectExit(below, 4);
      expect(jsonOf<Summary>(below)).toMatchObject({
        status: "completed",
        listed: 5,
        total: 3,
        created: 5,
        failed: {},
        warnings: [expect.stringMatching(/^Clerk's user count \(3\) fell below what was listed \(5\): /)],
      });
      const human = await runCli("sync", ["--page-size", String(PAGE)], h.env());
      expectExit(human, 4);
      expect(human.stdout).toMatch(
        /^warning: Clerk's user count \(3\) fell below what was listed \(5\): .*npm run sync/m,
      );

      // The second page answered with the first page's users: the users 5-9 are never listed.
      h.api.intercept = (request) =>
        request.path === "/v1/users" && request.query.get("offset") === "5"
          ? { status: 200, body: listed.slice(0, 5) }
          : undefined;
      const twice = await sync();
      expectExit(twice, 4);
      expect(jsonOf<Summary>(twice)).toMatchObject({
        status: "completed",
        listed: 7,
        created: 2,
        unchanged: 5,
        warnings: [expect.stringMatching(/^Clerk listed 5 users twice \(a page answered twice\): /)],
      });

      h.api.intercept = undefined;
      const whole = await sync();
      expectExit(whole, 0);
      expect(jsonOf<Summary>(whole)).toMatchObject({ listed: 12, created: 5, unchanged: 7, warnings: [] });
    },
    TIMEOUT,
  );

  test(
    "--prune refuses to remove more than --max-prune (a key for another instance?): exit 5, nothing removed",
    async () => {
      h.userInClerk();
      const stored = Array.from(
        { length: 4 },
        () => ["user.created", clerkUser()] as [string, Record<string, unknown>],
      );
      expect(await h.deliver(...stored)).toEqual(Array(4).fill("provisioned"));
      const result = await sync(["--prune", "--max-prune", "2"]);
      expectExit(result, 5);
      expect(jsonOf<Summary>(result)).toMatchObject({ pruned: 0, prune: { candidates: 4, refused: { limit: 2 } } });
      expect(await counts()).toMatchObject({ users: 5, workspaces: 5 });

      const human = await runCli("sync", ["--prune", "--max-prune", "2", "--page-size", "5"], h.env());
      expectExit(human, 5);
      expect(human.stdout).toMatch(/prune refused: .* nothing was removed\. If CLERK_SECRET_KEY is the right instance/);
    },
    TIMEOUT,
  );

  test(
    "an e-mail still held by another stored user fails that user alone (exit 4), recorded for npm run replay",
    async () => {
      const holder = clerkUser({ email: "shared@example.com" });
      expect(await h.deliver(["user.created", holder])).toEqual(["provisioned"]); // gone from Clerk, its user.deleted lost
      for (let i = 0; i < 3; i++) h.userInClerk();
      const claimant = h.userInClerk({ email: "Shared@Example.com" });
      for (let i = 0; i < 3; i++) h.userInClerk();
      const result = await sync();
      expectExit(result, 4);
      expect(jsonOf<Summary>(result)).toMatchObject({
        created: 6,
        failed: { email_conflict: 1 },
        failures: [{ userId: claimant.id, reason: "email_conflict" }],
      });
      expect(await counts()).toMatchObject({ users: 7, workspaces: 7 });
      expect(
        await h.database.query("SELECT delivery_id, outcome, reason FROM clerk_deliveries WHERE clerk_user_id = $1", [
          claimant.id,
        ]),
      ).toEqual([
        { delivery_id: `sync:${claimant.id}:${claimant.updated_at}`, outcome: "failed", reason: "email_conflict" },
      ]);
    },
    TIMEOUT,
  );

  test(
    "progress on a terminal: a redrawn bar with rate and ETA on stderr",
    async () => {
      for (let i = 0; i < 6; i++) h.userInClerk();
      const bar = await runCli("sync", ["--page-size", "2", "--progress", "bar"], h.env());
      expectExit(bar, 0);
      const redraw = `\r${String.fromCharCode(27)}[2K`; // carriage return, then ANSI "erase line"
      expect(bar.stderr.includes(redraw), JSON.stringify(bar.stderr)).toBe(true);
      expect(bar.stderr).toMatch(/sync \[#+-*\] \d+\/6 \d+% · [\d,]+\/s · ETA \d+s · \d+ in flight · \d+ req\/10s/);
      expect(bar.stdout).toMatch(/^sync completed \(run 1\): 6 of 6 Clerk users listed/m);
      expect(bar.stdout).toMatch(/^ {2}created\s+6$/m);
    },
    TIMEOUT,
  );

  test(
    "progress when stderr is not a terminal: plain lines",
    async () => {
      for (let i = 0; i < 6; i++) h.userInClerk();
      const lines = await runCli("sync", ["--page-size", "2"], h.env()); // stderr is a pipe here
      expectExit(lines, 0);
      expect(lines.stderr).toMatch(/^sync: 6\/6 100% · [\d,]+\/s · ETA 0s · 0 in flight · 6 req\/10s$/m);
      expect(lines.stderr).not.toMatch(/\r/);
    },
    TIMEOUT,
  );

  test.each<[string, string[], Record<string, string>, RegExp]>([
    ["--page-size 501", ["--page-size", "501"], {}, /--page-size must be an integer from 1 to 500/],
    ["--concurrency 0", ["--concurrency", "0"], {}, /--concurrency must be an integer from 1 to 64/],
    ["--rate 1.5", ["--rate", "1.5"], {}, /--rate must be an integer from 1 to 10000/],
    ["--frobnicate", ["--frobnicate"], {}, /Unknown option '--frobnicate'/],
    ["--max-prune without --prune", ["--max-prune", "3"], {}, /--max-prune only goes with --prune/],
    ["CLERK_SECRET_KEY empty", [], { CLERK_SECRET_KEY: "" }, /CLERK_SECRET_KEY is not set/],
    ["CLERK_API_URL not a URL", [], { CLERK_API_URL: "not a url" }, /CLERK_API_URL/],
  ])("bad usage (%s) exits 2 naming the problem", async (_, args, extra, message) => {
    const result = await runCli("sync", args, h.env(extra));
    expectExit(result, 2);
    expect(result.stderr).toMatch(message);
  });

  if (name !== "pglite") {
    test(
      "a crash (SIGKILL) with pages in flight loses nothing: the next run resumes after the last committed page; two runs never overlap",
      async () => {
        for (let i = 0; i < 22; i++) h.userInClerk();
        h.hangOnce("/v1/users", 10);
        const cli = startCli("sync", ["--json", "--page-size", String(PAGE)], h.env());
        // Page 3 hangs while pages 4 and 5 (offsets 15, 20) are answered: read, but not to be applied before it.
        const asked = () => listRequests().map((r) => r.query.get("offset"));
        await vi.waitFor(() => expect(asked()).toEqual(expect.arrayContaining(["10", "15", "20"])), {
          timeout: 30_000,
          interval: 50,
        });

        // Pages 1 and 2 committed (asked for is not yet applied: through a pooler, a commit takes longer).
        await vi.waitFor(
          async () => expect(await h.database.query(RUNS)).toEqual([{ status: "running", next_offset: 10 }]),
          { timeout: 30_000, interval: 50 },
        );

        // While it runs (holding the sync lock), a second sync refuses.
        const second = await sync();
        expectExit(second, 1);
        expect(second.stderr).toMatch(/another `npm run sync` is running against this database/);

        cli.child.kill("SIGKILL");
        expect((await cli.exited).signal).toBe("SIGKILL");
        expect(await h.database.query(RUNS)).toEqual([{ status: "running", next_offset: 10 }]);
        expect(await counts()).toMatchObject({ users: 10, workspaces: 10 });

        h.api.intercept = undefined;
        const resumed = await sync();
        expectExit(resumed, 0);
        expect(jsonOf<Summary>(resumed)).toMatchObject({ resumedAt: 10, listed: 12, created: 22, unchanged: 0 });
        expect(await counts()).toMatchObject({ users: 22, workspaces: 22, per_user: 0 });
        expect(await h.database.query("SELECT status FROM sync_runs")).toEqual([{ status: "completed" }]);
      },
      TIMEOUT,
    );
  }
});

// The database is unreachable: the real server's case (PGlite is in the process).
describe.runIf(process.env.TEST_DATABASE_URL)("npm run sync, database unreachable", () => {
  test("exit 1 with a message saying so", async () => {
    const api = await startFakeClerkApi();
    try {
      const result = await runCli("sync", ["--json"], {
        DATABASE_URL: "postgres://postgres@127.0.0.1:1/none",
        DATABASE_CONNECT_TIMEOUT_SECONDS: "2",
        CLERK_SECRET_KEY: TEST_CLERK_SECRET_KEY,
        CLERK_API_URL: api.url,
      });
      expectExit(result, 1);
      expect(result.stderr).toMatch(/^sync: database unavailable \(ECONNREFUSED\); run the command again later$/m);
    } finally {
      await api.close();
    }
  });
});
