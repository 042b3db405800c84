import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { createClerkDirectory } from "../../src/clerk/backend-api.js";
import { parseClerkEvent } from "../../src/clerk/events.js";
import { applyClerkEvent } from "../../src/provisioning/apply-clerk-event.js";
import { reconcile } from "../../src/sync/sync.js";
import { type FakeClerkApi, startFakeClerkApi, TEST_CLERK_SECRET_KEY } from "../../support/fake-clerk-api.js";
import { clerkUser, newSvixId } from "../helpers/clerk.js";
import { clerkMembership, clerkOrganization } from "../helpers/clerk-organizations.js";
import { drivers, migrationsBefore, type TestDatabase } from "../helpers/database.js";

/**
 * Migration 0010 (one cursor table and one seen table for every kind): a run interrupted under the old schema (its
 * users listed, its organizations half listed, pruning) resumes where it stopped once the database is migrated.
 */

const TIMEOUT = 120_000;

type Json = Record<string, unknown> & { id: string };

describe.each(drivers())("migration 0010_sync_cursors on $name", ({ open }) => {
  let api: FakeClerkApi;
  let database: TestDatabase;
  beforeEach(async () => {
    api = await startFakeClerkApi();
    database = await open({ migrationsFolder: migrationsBefore("0010_sync_cursors") });
  });
  afterEach(async () => {
    await api?.close();
    await database?.close();
  });

  /** Clerk's users, organizations and memberships (three, of the first three organizations), in creation order. */
  function inClerk() {
    let created = 0;
    const users = Array.from({ length: 7 }, () => {
      const raw = clerkUser();
      const user: Json = { ...raw, id: raw.id as string, created_at: 1_700_000_000_000 + created++ };
      api.users.set(user.id, user);
      return user;
    });
    const orgs = Array.from({ length: 12 }, () => {
      const org = clerkOrganization({ createdAt: 1_700_000_000_000 + created++ }) as Json;
      api.organizations.set(org.id, org);
      return org;
    });
    for (const org of orgs.slice(0, 3)) {
      const member = clerkMembership({ organizationId: org.id, userId: users[0]?.id as string, organization: org });
      api.memberships.set(member.id as string, member);
    }
    return { users, orgs };
  }

  /** What an interrupted run had written and recorded under the old schema (`sync_runs` columns, two id tables). */
  async function interruptedRun(users: Json[], orgs: Json[], ghost: Json) {
    for (const [type, data] of [
      ...[...users, ghost].map((u) => ["user.created", u] as const),
      ...orgs.map((o) => ["organization.created", o] as const),
    ]) {
      const event = parseClerkEvent({ type, data });
      await applyClerkEvent(database.db, { deliveryId: newSvixId(), receivedAt: new Date(), event });
    }
    await database.query(`INSERT INTO sync_runs (status, prune, phase, counts, finished_at)
      VALUES ('completed', false, 'memberships', '{"unchanged": 3, "organizations:unchanged": 2}', now())`);
    const [run] = await database.query<{ id: number }>(
      `INSERT INTO sync_runs (status, prune, phase, next_offset, total, organization_offset, organization_total, counts)
       VALUES ('interrupted', true, 'organizations', 7, 7, 5, 12, '{"created": 7, "organizations:created": 5}')
       RETURNING id::int`,
    );
    const runId = run?.id as number;
    await database.query("INSERT INTO sync_run_users (run_id, user_id) SELECT $1, unnest($2::text[])", [
      runId,
      users.map((u) => u.id),
    ]);
    await database.query(
      "INSERT INTO sync_run_objects (run_id, kind, object_id) SELECT $1, 'organizations', unnest($2::text[])",
      [runId, orgs.map((o) => o.id)],
    );
    return runId;
  }

  test(
    "a run interrupted mid organization listing under the old schema resumes where it stopped: cursors, listed ids and counts carried over",
    async () => {
      const { users, orgs } = inClerk();
      const ghost = clerkUser() as Json; // stored here, gone from Clerk: the one user to prune
      // Pages of five: every user and the first five organizations were applied before the interruption.
      const runId = await interruptedRun(users, orgs.slice(0, 5), ghost);

      await database.migrate();
      expect(
        await database.query("SELECT run_id::int, kind, next_offset, total FROM sync_run_cursors ORDER BY kind"),
      ).toEqual([
        { run_id: runId, kind: "memberships", next_offset: 0, total: null },
        { run_id: runId, kind: "organizations", next_offset: 5, total: 12 },
        { run_id: runId, kind: "users", next_offset: 7, total: 7 },
      ]);
      expect(
        await database.query("SELECT kind, count(*)::int AS n FROM sync_run_seen GROUP BY kind ORDER BY kind"),
      ).toEqual([
        { kind: "organizations", n: 5 },
        { kind: "users", n: 7 },
      ]);
      expect(await database.query("SELECT counts FROM sync_runs ORDER BY id")).toEqual([
        { counts: { "users:unchanged": 3, "organizations:unchanged": 2 } },
        { counts: { "users:created": 7, "organizations:created": 5 } },
      ]);

      const directory = createClerkDirectory({ secretKey: TEST_CLERK_SECRET_KEY, apiUrl: api.url });
      const resumed = await reconcile(
        { db: database.db, directory },
        {
          kinds: ["users", "organizations", "memberships"],
          dryRun: false,
          prune: true,
          restart: false,
          pageSize: 5,
          signal: new AbortController().signal,
        },
      );
      expect(resumed).toMatchObject({
        status: "completed",
        runId,
        resumedAt: 7,
        listed: 0,
        counts: { created: 7 },
        // The users the old run listed are not candidates: only the ghost is.
        prune: { candidates: 1, gone: 1, ids: [ghost.id] },
        kinds: {
          organizations: { resumedAt: 5, listed: 7, counts: { created: 12 }, prune: { candidates: 0, gone: 0 } },
          memberships: { listed: 3, counts: { created: 3 } },
        },
      });
      const listings = api.requests.filter((r) => r.query.has("limit") && !r.query.has("user_id"));
      expect(listings.filter((r) => r.path === "/v1/users")).toEqual([]);
      expect(listings.filter((r) => r.path === "/v1/organizations").map((r) => r.query.get("offset"))).toEqual([
        "5",
        "10",
      ]);
      expect(await database.query("SELECT count(*)::int AS n FROM organizations")).toEqual([{ n: 12 }]);
      expect(await database.query("SELECT count(*)::int AS n FROM users WHERE id = $1", [ghost.id])).toEqual([
        { n: 0 },
      ]);
    },
    TIMEOUT,
  );
});
