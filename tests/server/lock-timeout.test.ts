import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkEvent, clerkUser, newUserId } from "../helpers/clerk.js";
import { openTestPostgres, testDatabaseUrl, testPoolerUrl } from "../helpers/database.js";
import { expectError } from "../helpers/expect-error.js";
import { createHarness, describeResponse, type Harness } from "../helpers/harness.js";
import { type LockHolder, openLockHolder } from "../helpers/postgres-backends.js";

/** A small pool, so that a few deliveries stuck on a lock would take all of it. */
const LIMITS = { poolMax: 2, statementTimeoutMs: 500 };

/**
 * Directly, the service's limits are session settings sent at connect. A transaction pooler refuses or drops those,
 * and the role may have none (the docs ask for them, nothing enforces it): the service sets them per transaction.
 */
const routes = [
  { route: "directly", throughPooler: false },
  ...(testPoolerUrl ? [{ route: "through the transaction pooler", throughPooler: true }] : []),
];

describe.runIf(testDatabaseUrl).each(routes)("a row locked by another session, $route", ({ throughPooler }) => {
  let h: Harness;
  beforeAll(async () => {
    h = createHarness(await openTestPostgres(LIMITS, { throughPooler }));
  });
  afterAll(() => h?.close());

  const provisioned = async (userId: string) => {
    const res = await h.deliver(clerkEvent("user.created", clerkUser({ id: userId })));
    expect(res.status, await describeResponse(res)).toBe(200);
  };
  /** Backends of the service's pool that wait for a lock now. */
  const waiting = async () =>
    (
      await h.database.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'clerk-provisioner' AND wait_event_type = 'Lock'`,
      )
    )[0]?.n;

  /** While `holder` keeps its lock: every delivery for the locked user fails on its own, and nothing else does. */
  async function expectOnlyTheLockedUserRefused(holder: LockHolder, locked: () => Response | Promise<Response>) {
    try {
      // More deliveries for the locked user than the pool has connections.
      const answers = await Promise.all([locked(), locked(), locked()]);
      for (const res of answers) await expectError(res, 503, "database_unavailable");
      expect(await waiting(), "the service's connections still wait for the lock").toBe(0);
      const other = newUserId();
      const res = await h.deliver(clerkEvent("user.created", clerkUser({ id: other })));
      expect(res.status, `another user, while the lock is held: ${await describeResponse(res)}`).toBe(200);
    } finally {
      await holder.rollback();
    }
  }

  test("user.updated (one statement) waits DATABASE_STATEMENT_TIMEOUT_MS at most, then 503; the retry applies", async () => {
    const id = newUserId();
    await provisioned(id);
    const holder = await openLockHolder(h.database.url as string);
    await holder.query("SELECT 1 FROM clerk_user_versions WHERE user_id = $1 FOR UPDATE", [id]);
    let updatedAt = 1_800_000_000_000;
    const update = () => h.deliver(clerkEvent("user.updated", clerkUser({ id, updatedAt: updatedAt++ })));
    await expectOnlyTheLockedUserRefused(holder, update);
    expect(await (await update()).json()).toMatchObject({ outcome: "provisioned" });
  });

  test("user.deleted (a transaction) waits DATABASE_STATEMENT_TIMEOUT_MS at most, then 503; the retry deletes", async () => {
    const id = newUserId();
    await provisioned(id);
    const holder = await openLockHolder(h.database.url as string);
    await holder.query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", [id]);
    const remove = () => h.deliver(clerkEvent("user.deleted", { id, object: "user", deleted: true }));
    await expectOnlyTheLockedUserRefused(holder, remove);
    expect(await (await remove()).json()).toMatchObject({ outcome: "deleted" });
  });

  test("a locked user's delivery coalesced with 30 others times out alone: the others are provisioned", async () => {
    const id = newUserId();
    await provisioned(id);
    const holder = await openLockHolder(h.database.url as string);
    await holder.query("SELECT 1 FROM clerk_user_versions WHERE user_id = $1 FOR UPDATE", [id]);
    try {
      // A first delivery holds the lane, so that the next 31 wait and go as one statement.
      const first = h.deliver(clerkEvent("user.created", clerkUser({ id: newUserId() })));
      const locked = h.deliver(clerkEvent("user.updated", clerkUser({ id, updatedAt: 1_900_000_000_000 })));
      const others = Array.from({ length: 30 }, () => h.deliver(clerkEvent("user.created", clerkUser())));
      expect((await first).status).toBe(200);
      await expectError(await locked, 503, "database_unavailable");
      const answers = await Promise.all(others.map(async (res) => (await res).json() as Promise<{ outcome: string }>));
      expect(answers.map((answer) => answer.outcome)).toEqual(Array(30).fill("provisioned"));
    } finally {
      await holder.rollback();
    }
  });
});
