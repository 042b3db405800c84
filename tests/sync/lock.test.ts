import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { type FakeClerkApi, startFakeClerkApi, TEST_CLERK_SECRET_KEY } from "../../support/fake-clerk-api.js";
import { clerkUser } from "../helpers/clerk.js";
import { type CliDatabase, cliDatabases, describeRun, jsonOf, runCli, startCli } from "../helpers/cli.js";

const PAGE = 5;
const TIMEOUT = 120_000;

// The lock only exists on a server (PGlite is one process's database), directly and through the pooler, where
// terminating the server connection is what a pooler restart looks like to the sync.
const servers = cliDatabases({ pooler: true }).filter((database) => database.name !== "pglite");

describe.runIf(servers.length > 0).each(servers)("the sync lock on $name", ({ open }) => {
  let api: FakeClerkApi;
  let database: CliDatabase;
  beforeEach(async () => {
    api = await startFakeClerkApi();
    database = await open();
  });
  afterEach(async () => {
    await api?.close();
    await database?.close();
  });

  const env = () => ({ ...database.env, CLERK_SECRET_KEY: TEST_CLERK_SECRET_KEY, CLERK_API_URL: api.url });
  const runs = () =>
    database.query<{ status: string; next_offset: number; counts: Record<string, number> }>(
      `SELECT r.status, COALESCE(c.next_offset, 0) AS next_offset, r.counts FROM sync_runs r
        LEFT JOIN sync_run_cursors c ON c.run_id = r.id AND c.kind = 'users' ORDER BY r.id`,
    );
  /** The backends holding an advisory lock in this test's database. */
  const lockHolders = () =>
    database.query<{ pid: number }>(
      `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );

  test(
    "its connection ended: the sync stops before its next page (exit 1); a second one takes the lock and finishes the run",
    async () => {
      for (let i = 0; i < 3 * PAGE; i++) {
        const user = clerkUser();
        api.users.set(user.id as string, { ...user, created_at: 1_700_000_000_000 + i });
      }
      api.latencyMs = 1_000;
      const first = startCli("sync", ["--json", "--page-size", String(PAGE), "--concurrency", "1"], env());
      // Page 1 committed; page 2 asked for, and at least a second away.
      await vi.waitFor(async () => expect((await runs())[0]?.next_offset).toBe(PAGE), {
        timeout: 60_000,
        interval: 20,
      });
      const [holder] = await lockHolders();
      expect(holder, "the first sync holds the lock").toBeDefined();
      await database.query("SELECT pg_terminate_backend($1)", [holder?.pid]);
      await vi.waitFor(async () => expect(await lockHolders()).toEqual([]), { timeout: 10_000, interval: 20 });

      api.latencyMs = 0;
      const second = await runCli("sync", ["--json", "--page-size", String(PAGE)], env());
      expect(second.code, describeRun(second)).toBe(0);
      expect(jsonOf(second)).toMatchObject({ resumedAt: PAGE, listed: 2 * PAGE, created: 3 * PAGE });

      const firstResult = await first.exited;
      expect(firstResult.code, describeRun(firstResult)).toBe(1);
      expect(firstResult.stderr).toMatch(/^sync: lost the sync lock: the database connection holding it ended/m);
      // Both asked for page 2; only the second applied it (the first would have counted its users again), and the
      // first left the run alone (not marked failed).
      const asked = api.requests.filter((r) => r.path === "/v1/users" && r.query.get("offset") === String(PAGE));
      expect(asked).toHaveLength(2);
      expect(await runs()).toEqual([
        { status: "completed", next_offset: 3 * PAGE, counts: { "users:created": 3 * PAGE } },
      ]);
    },
    TIMEOUT,
  );
});
