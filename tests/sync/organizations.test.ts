import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { clerkUser, newUserId } from "../helpers/clerk.js";
import { clerkMembership, clerkOrganization, newOrganizationId } from "../helpers/clerk-organizations.js";
import { cliDatabases, expectExit, jsonOf, runCli, startCli } from "../helpers/cli.js";
import { type ClerkJson, type CommandHarness, openCommandHarness } from "../helpers/sync-harness.js";

/** What `npm run sync -- --json` reports per kind besides the users. */
interface KindSummary {
  listed: number;
  total: number;
  resumedAt: number | null;
  created: number;
  updated: number;
  unchanged: number;
  skipped: Record<string, number>;
  failed: Record<string, number>;
  pruned: number;
  prune: { candidates: number; gone: number; refused: { limit: number } | null; ids: string[] } | null;
}
interface Summary {
  status: string;
  dryRun: boolean;
  runId: number | null;
  created: number;
  listed: number;
  organizations: KindSummary;
  memberships: KindSummary;
}

const PAGE = 5;
const TIMEOUT = 120_000;

/** Each run's status, phase and organizations cursor (`sync_run_cursors`). */
const RUNS = `SELECT r.status, r.phase, c.next_offset AS organization_offset FROM sync_runs r
  LEFT JOIN sync_run_cursors c ON c.run_id = r.id AND c.kind = 'organizations' ORDER BY r.id`;

describe.each(cliDatabases())("npm run sync: organizations and memberships on $name", ({ name, open }) => {
  let h: CommandHarness;
  beforeEach(async () => {
    h = await openCommandHarness(await open());
  });
  afterEach(() => h?.close());

  const sync = (args: string[] = []) => runCli("sync", ["--json", "--page-size", String(PAGE), ...args], h.env());
  const organizations = () =>
    h.database.query<{ id: string; name: string }>("SELECT id, name FROM organizations ORDER BY id");
  const memberships = () =>
    h.database.query<{ id: string; organization_id: string; user_id: string; role: string }>(
      "SELECT id, organization_id, user_id, role FROM organization_memberships ORDER BY id",
    );
  const paths = () => h.api.requests.map((r) => r.path);

  /** Seven organizations in Clerk with 0 to 2 members each, one of them an admin; the memberships, in listing order. */
  const seedOrganizations = () => {
    const orgs = Array.from({ length: 7 }, (_, i) => h.organizationInClerk({ name: `Team ${i}` }));
    const members = orgs.flatMap((org, i) => Array.from({ length: i % 3 }, () => h.membershipInClerk(org)));
    const admin = h.membershipInClerk(orgs[0] as ClerkJson, { role: "org:admin" });
    return { orgs, members: [...members, admin], admin };
  };

  test(
    "back-fills organizations, then memberships (their users not provisioned yet), across pages",
    async () => {
      const { orgs, members, admin } = seedOrganizations();
      const first = await sync();
      expectExit(first, 0);
      expect(jsonOf<Summary>(first)).toMatchObject({
        status: "completed",
        listed: 0,
        organizations: { listed: 7, total: 7, created: 7, updated: 0, unchanged: 0, skipped: {}, failed: {} },
        memberships: { listed: members.length, total: members.length, created: members.length, skipped: {} },
      });
      // Users, then organizations (pages of 5 in creation order), then the instance's memberships.
      const order = paths().filter((p) => p !== "/v1/users/count");
      expect(order.indexOf("/v1/organizations")).toBeGreaterThan(order.lastIndexOf("/v1/users"));
      expect(order.indexOf("/v1/organization_memberships")).toBeGreaterThan(order.lastIndexOf("/v1/organizations"));
      expect(
        h.api.requests
          .filter((r) => r.path === "/v1/organizations")
          .map((r) => [r.query.get("offset") ?? "0", r.query.get("limit"), r.query.get("order_by")]),
      ).toEqual([
        ["0", "5", "+created_at"],
        ["5", "5", "+created_at"],
      ]);
      expect((await organizations()).map((o) => o.id)).toEqual(orgs.map((o) => o.id).sort());
      const stored = await memberships();
      expect(stored.map((m) => m.id)).toEqual(members.map((m) => m.id).sort());
      expect(stored.find((m) => m.id === admin.id)?.role).toBe("org:admin");
      expect(await h.database.query("SELECT count(*)::int AS n FROM users")).toEqual([{ n: 0 }]);
    },
    TIMEOUT,
  );

  test(
    "a second run changes no organization and no membership, and rewrites no row: it reads and compares",
    async () => {
      const { members } = seedOrganizations();
      expectExit(await sync(), 0);
      const stored = await memberships();
      // A row's xmin is the transaction that last wrote it: an update (even a lock taken by `DO UPDATE`) changes it.
      const versions = () =>
        h.database.query(`SELECT 'o' AS t, organization_id AS id, xmin::text FROM clerk_organization_versions
          UNION ALL SELECT 'u', user_id, xmin::text FROM clerk_user_versions
          UNION ALL SELECT 'm', membership_id, xmin::text FROM clerk_membership_versions
          UNION ALL SELECT 'org', id, xmin::text FROM organizations
          UNION ALL SELECT 'mem', id, xmin::text FROM organization_memberships ORDER BY 1, 2`);
      const written = await versions();
      const second = await sync();
      expectExit(second, 0);
      expect(jsonOf<Summary>(second)).toMatchObject({
        organizations: { created: 0, updated: 0, unchanged: 7 },
        memberships: { created: 0, updated: 0, unchanged: members.length },
      });
      expect(await memberships()).toEqual(stored);
      expect(await versions()).toEqual(written);
      const runs = await h.database.query<{ status: string; phase: string; counts: Record<string, number> }>(
        "SELECT status, phase, counts FROM sync_runs ORDER BY id",
      );
      // The last phase: the subscription items, listed after the memberships, permissions, roles and invitations.
      expect(runs.map((r) => [r.status, r.phase])).toEqual([
        ["completed", "subscriptionItems"],
        ["completed", "subscriptionItems"],
      ]);
      expect(runs[1]?.counts).toEqual({ "organizations:unchanged": 7, "memberships:unchanged": members.length });
    },
    TIMEOUT,
  );

  test(
    "a membership whose organization the listing did not show is stored with the organization from its snapshot",
    async () => {
      const hidden = h.organizationInClerk({ name: "Created during the run" });
      const member = h.membershipInClerk(hidden);
      h.api.intercept = (request) =>
        request.path === "/v1/organizations" ? { status: 200, body: { data: [], total_count: 0 } } : undefined;
      const result = await sync();
      expectExit(result, 0);
      expect(jsonOf<Summary>(result)).toMatchObject({ organizations: { listed: 0 }, memberships: { created: 1 } });
      expect(await organizations()).toEqual([{ id: hidden.id, name: "Created during the run" }]);
      expect((await memberships()).map((m) => m.id)).toEqual([member.id]);
    },
    TIMEOUT,
  );

  test(
    "the webhook's rules: a listing older than what a webhook stored changes nothing; a deleted organization and a deleted membership never come back",
    async () => {
      const newer = h.organizationInClerk({ name: "Listed", updatedAt: 1_000 });
      const deleted = h.organizationInClerk({ name: "Deleted" });
      const member = h.membershipInClerk(newer, { role: "org:member", updatedAt: 2_000 });
      const gone = h.membershipInClerk(newer, { updatedAt: 2_000 });
      const ofDeleted = h.membershipInClerk(deleted);
      expect(
        await h.deliver(
          ["organization.updated", { ...newer, name: "Webhook", updated_at: 5_000 }],
          ["organizationMembership.updated", { ...member, role: "org:admin", updated_at: 6_000 }],
          ["organizationMembership.created", gone],
          ["organizationMembership.deleted", gone],
          ["organization.created", deleted],
          ["organization.deleted", { id: deleted.id, object: "organization", deleted: true }],
        ),
      ).toEqual(["provisioned", "provisioned", "provisioned", "deleted", "provisioned", "deleted"]);

      const result = await sync();
      expectExit(result, 0);
      expect(jsonOf<Summary>(result)).toMatchObject({
        organizations: { created: 0, updated: 0, skipped: { stored_newer: 1, deleted: 1 } },
        memberships: { created: 0, updated: 0, skipped: { stored_newer: 1, deleted: 2 } },
      });
      expect(await organizations()).toEqual([{ id: newer.id, name: "Webhook" }]);
      expect((await memberships()).map((m) => [m.id, m.role])).toEqual([[member.id, "org:admin"]]);
      expect(ofDeleted.id).not.toBe(gone.id);
    },
    TIMEOUT,
  );

  /** One organization and one membership in Clerk; stored here besides: one organization and one membership Clerk no longer has. */
  const seedPrunable = async () => {
    const kept = h.organizationInClerk();
    const keptMember = h.membershipInClerk(kept);
    const goneOrg = clerkOrganization({ id: newOrganizationId() }) as ClerkJson;
    const goneOrgMember = clerkMembership({ organizationId: goneOrg.id, userId: newUserId(), organization: goneOrg });
    const goneMember = clerkMembership({
      organizationId: kept.id,
      userId: newUserId(),
      organization: kept,
    }) as ClerkJson;
    expect(
      await h.deliver(
        ["organization.created", goneOrg],
        ["organizationMembership.created", goneOrgMember],
        ["organizationMembership.created", goneMember],
      ),
    ).toEqual(["provisioned", "provisioned", "provisioned"]);
    return { kept, keptMember, goneOrg, goneMember };
  };

  test(
    "--prune over --max-prune removes no organization and no membership (exit 5)",
    async () => {
      await seedPrunable();
      const refused = await sync(["--prune", "--max-prune", "0"]);
      expectExit(refused, 5);
      expect(jsonOf<Summary>(refused)).toMatchObject({
        organizations: { pruned: 0, prune: { candidates: 1, gone: 1, refused: { limit: 0 } } },
        memberships: { pruned: 0, prune: { candidates: 1, gone: 1, refused: { limit: 0 } } },
      });
      expect((await organizations()).length).toBe(2);
      expect((await memberships()).length).toBe(3);
    },
    TIMEOUT,
  );

  test(
    "--prune removes organizations and memberships Clerk no longer has, recorded and tombstoned like a user prune",
    async () => {
      const { kept, keptMember, goneOrg, goneMember } = await seedPrunable();
      const result = await sync(["--prune"]);
      expectExit(result, 0);
      expect(jsonOf<Summary>(result)).toMatchObject({
        organizations: { pruned: 1, prune: { candidates: 1, gone: 1, refused: null, ids: [goneOrg.id] } },
        memberships: { pruned: 1, prune: { candidates: 1, gone: 1, refused: null, ids: [goneMember.id] } },
      });
      expect(await organizations()).toEqual([{ id: kept.id, name: kept.name }]);
      expect((await memberships()).map((m) => m.id)).toEqual([keptMember.id]);
      expect(
        await h.database.query(
          `SELECT delivery_id, event_type, outcome, reason FROM clerk_deliveries WHERE delivery_id LIKE 'sync-prune:%'
           ORDER BY event_type`,
        ),
      ).toEqual([
        {
          delivery_id: `sync-prune:${goneOrg.id}`,
          event_type: "organization.deleted",
          outcome: "deleted",
          reason: "pruned",
        },
        {
          delivery_id: `sync-prune:${goneMember.id}`,
          event_type: "organizationMembership.deleted",
          outcome: "deleted",
          reason: "pruned",
        },
      ]);
      // Tombstoned: a late event for a pruned organization or membership changes nothing.
      expect(
        await h.deliver(
          ["organization.updated", { ...goneOrg, updated_at: 9e12 }],
          ["organizationMembership.updated", { ...goneMember, updated_at: 9e12 }],
        ),
      ).toEqual(["stale", "stale"]);
      expect(await h.database.query("SELECT count(*)::int AS n FROM sync_run_seen")).toEqual([{ n: 0 }]);
    },
    TIMEOUT,
  );

  test(
    "Clerk failing mid organization listing: exit 1, the pages applied are kept; the next run resumes there, without listing users again",
    async () => {
      const orgs = Array.from({ length: 12 }, () => h.organizationInClerk());
      for (const org of orgs.slice(0, 3)) h.membershipInClerk(org);
      h.api.intercept = (request) =>
        request.path === "/v1/organizations" && request.query.get("offset") === "10" ? { status: 502 } : undefined;
      const failed = await sync(["--max-retries", "0", "--prune"]);
      expectExit(failed, 1);
      expect(await h.database.query(RUNS)).toEqual([
        { status: "failed", phase: "organizations", organization_offset: 10 },
      ]);
      expect((await organizations()).length).toBe(10);

      h.api.intercept = undefined;
      const before = h.api.requests.length;
      const resumed = await sync(["--prune"]);
      expectExit(resumed, 0);
      expect(jsonOf<Summary>(resumed)).toMatchObject({
        status: "completed",
        organizations: { resumedAt: 10, listed: 2, created: 12, prune: { candidates: 0, gone: 0 } },
        memberships: { listed: 3, created: 3 },
      });
      const again = h.api.requests.slice(before).map((r) => [r.path, r.query.get("offset")]);
      expect(again.filter(([path]) => path === "/v1/users")).toEqual([]);
      expect(again.filter(([path]) => path === "/v1/organizations")).toEqual([["/v1/organizations", "10"]]);
      expect((await organizations()).length).toBe(12);
    },
    TIMEOUT,
  );

  test(
    "--dry-run reports what organizations and memberships would come to, and changes nothing",
    async () => {
      const same = h.organizationInClerk();
      h.organizationInClerk();
      const member = h.membershipInClerk(same);
      h.membershipInClerk(same);
      const goneOrg = clerkOrganization() as ClerkJson;
      expect(
        await h.deliver(
          ["organization.created", same],
          ["organizationMembership.created", member],
          ["organization.created", goneOrg],
        ),
      ).toEqual(["provisioned", "provisioned", "provisioned"]);
      const before = { organizations: await organizations(), memberships: await memberships() };
      const result = await sync(["--dry-run", "--prune"]);
      expectExit(result, 0);
      expect(jsonOf<Summary>(result)).toMatchObject({
        dryRun: true,
        runId: null,
        organizations: { created: 1, unchanged: 1, prune: { candidates: 1, gone: 1, ids: [goneOrg.id] } },
        memberships: { created: 1, unchanged: 1, prune: { candidates: 0, gone: 0, ids: [] } },
      });
      expect({ organizations: await organizations(), memberships: await memberships() }).toEqual(before);
      expect(await h.database.query("SELECT count(*)::int AS n FROM sync_runs")).toEqual([{ n: 0 }]);

      const human = await runCli("sync", ["--dry-run", "--prune", "--page-size", "5"], h.env());
      expectExit(human, 0);
      expect(human.stdout).toMatch(
        /^organizations: 2 of 2 listed · would be created 1 · unchanged 1 · would be pruned 1$/m,
      );
      expect(human.stdout).toMatch(new RegExp(`would prune organizations: ${goneOrg.id}`));
    },
    TIMEOUT,
  );

  test(
    "a membership of a user the sync itself provisions: users first, so it is stored beside its user; one request per organization page",
    async () => {
      const user = clerkUser() as ClerkJson;
      h.api.users.set(user.id, { ...user, created_at: 1 });
      const org = h.organizationInClerk();
      h.membershipInClerk(org, { userId: user.id });
      const result = await sync();
      expectExit(result, 0);
      expect(jsonOf<Summary>(result)).toMatchObject({
        created: 1,
        organizations: { created: 1 },
        memberships: { created: 1 },
      });
      expect(
        await h.database.query(
          "SELECT u.id FROM users u JOIN organization_memberships m ON m.user_id = u.id WHERE m.organization_id = $1",
          [org.id],
        ),
      ).toEqual([{ id: user.id }]);
      expect(paths().filter((p) => p.startsWith("/v1/organization"))).toEqual([
        "/v1/organizations",
        "/v1/organization_memberships",
        "/v1/organization_permissions",
        "/v1/organization_roles",
        "/v1/organization_invitations",
      ]);
    },
    TIMEOUT,
  );

  test(
    "progress lines per kind on stderr",
    async () => {
      const organization = h.organizationInClerk();
      h.organizationInClerk();
      h.membershipInClerk(organization);
      const result = await runCli("sync", ["--json", "--page-size", "5", "--progress", "lines"], h.env());
      expectExit(result, 0);
      expect(result.stderr).toMatch(/^sync: 0\/0 100% · /m);
      expect(result.stderr).toMatch(
        /^sync organizations: 2\/2 100% · [\d,]+\/s · ETA 0s · \d+ in flight · \d+ req\/10s$/m,
      );
      expect(result.stderr).toMatch(/^sync memberships: 1\/1 100% · /m);
    },
    TIMEOUT,
  );

  test(
    "an organization Clerk sends that we cannot read fails alone (exit 4), the rest is applied",
    async () => {
      const good = h.organizationInClerk();
      const bad = h.organizationInClerk();
      h.api.organizations.set(bad.id, { ...bad, name: 7 });
      h.membershipInClerk(good);
      const result = await sync();
      expectExit(result, 4);
      const summary = jsonOf<Summary & { organizations: { failures: { id: string; reason: string }[] } }>(result);
      expect(summary).toMatchObject({
        organizations: { listed: 2, created: 1, failed: { invalid_payload: 1 } },
        memberships: { created: 1 },
      });
      expect(summary.organizations.failures).toEqual([
        { id: bad.id, reason: expect.stringMatching(/^invalid_payload \(data\.name: /) },
      ]);
      expect((await organizations()).map((o) => o.id)).toEqual([good.id]);
    },
    TIMEOUT,
  );

  test(
    "a row the database refuses fails alone, on an organizations page and on a memberships page (exit 4): the rest of each page is written",
    async () => {
      const orgs = Array.from({ length: 7 }, (_, i) =>
        h.organizationInClerk({ name: i === 3 ? "Refused" : `Team ${i}` }),
      );
      const members = [0, 1, 2, 4].map((i) => h.membershipInClerk(orgs[i] as ClerkJson));
      const refusedMember = h.membershipInClerk(orgs[5] as ClerkJson, { role: "org:refused" });
      await h.database.query(`CREATE FUNCTION refuse_row() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation', CONSTRAINT = 'refused_by_test'; END
        $fn$`);
      await h.database.query(`CREATE TRIGGER refuse_organization BEFORE INSERT OR UPDATE ON organizations
        FOR EACH ROW WHEN (NEW.name = 'Refused') EXECUTE FUNCTION refuse_row()`);
      await h.database.query(`CREATE TRIGGER refuse_membership BEFORE INSERT OR UPDATE ON organization_memberships
        FOR EACH ROW WHEN (NEW.role = 'org:refused') EXECUTE FUNCTION refuse_row()`);

      const result = await sync();
      expectExit(result, 4);
      const summary = jsonOf<Summary & Record<"organizations" | "memberships", { failures: unknown[] }>>(result);
      expect(summary).toMatchObject({
        status: "completed",
        organizations: { listed: 7, created: 6, failed: { refused_by_test: 1 } },
        memberships: { listed: 5, created: 4, failed: { refused_by_test: 1 } },
      });
      expect(summary.organizations.failures).toEqual([{ id: orgs[3]?.id, reason: "refused_by_test" }]);
      expect(summary.memberships.failures).toEqual([{ id: refusedMember.id, reason: "refused_by_test" }]);
      expect((await organizations()).map((o) => o.id)).toEqual(
        orgs
          .filter((_, i) => i !== 3)
          .map((o) => o.id)
          .sort(),
      );
      expect((await memberships()).map((m) => m.id)).toEqual(members.map((m) => m.id).sort());
      // Each listing's cursor reached its end; the failures are counted in the run (nothing recorded for replay,
      // which replays users).
      expect(
        await h.database.query(
          "SELECT kind, next_offset FROM sync_run_cursors WHERE kind IN ('organizations', 'memberships') ORDER BY kind",
        ),
      ).toEqual([
        { kind: "memberships", next_offset: 5 },
        { kind: "organizations", next_offset: 7 },
      ]);
      const [run] = await h.database.query<{ counts: Record<string, number> }>("SELECT counts FROM sync_runs");
      expect(run?.counts).toEqual({
        "organizations:created": 6,
        "organizations:failed:refused_by_test": 1,
        "memberships:created": 4,
        "memberships:failed:refused_by_test": 1,
      });
      expect(await h.database.query("SELECT count(*)::int AS n FROM clerk_deliveries")).toEqual([{ n: 0 }]);
    },
    TIMEOUT,
  );

  if (name !== "pglite") {
    test(
      "a crash (SIGKILL) mid organization listing loses nothing: the next run resumes after the last committed organization page",
      async () => {
        const orgs = Array.from({ length: 17 }, () => h.organizationInClerk());
        const members = orgs.slice(0, 4).map((org) => h.membershipInClerk(org));
        const page3 = h.hangOnce("/v1/organizations", 10);
        const cli = startCli("sync", ["--json", "--page-size", String(PAGE)], h.env());
        await vi.waitFor(
          async () =>
            expect(await h.database.query(RUNS)).toEqual([
              { status: "running", phase: "organizations", organization_offset: 10 },
            ]),
          { timeout: 30_000, interval: 50 },
        );
        expect(page3.held()).toBe(true);
        cli.child.kill("SIGKILL");
        expect((await cli.exited).signal).toBe("SIGKILL");
        expect(await h.database.query("SELECT status FROM sync_runs")).toEqual([{ status: "running" }]);
        expect((await organizations()).length).toBe(10);

        h.api.intercept = undefined;
        const resumed = await sync();
        expectExit(resumed, 0);
        expect(jsonOf<Summary>(resumed)).toMatchObject({
          organizations: { resumedAt: 10, listed: 7, created: 17 },
          memberships: { listed: 4, created: 4 },
        });
        expect((await organizations()).length).toBe(17);
        expect((await memberships()).map((m) => m.id)).toEqual(members.map((m) => m.id).sort());
        expect(await h.database.query("SELECT status FROM sync_runs")).toEqual([{ status: "completed" }]);
      },
      TIMEOUT,
    );
  }
});
