import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkMembership } from "../helpers/clerk-organizations.js";
import { clerkRole } from "../helpers/clerk-teams.js";
import { drivers, type Query } from "../helpers/database.js";
import { createHarness, type Harness } from "../helpers/harness.js";
import { asRole } from "../helpers/rls.js";
import { buildTeamWorld, deliver, helper, teamWorld } from "./team-access.js";

/** What each session sees of every table the service exposes, and the helpers' answers (v1 and v2 claims). */
describe.each(drivers())("team row-level security and helpers on $name", ({ open }) => {
  let h: Harness;
  const w = teamWorld();
  beforeAll(async () => {
    h = createHarness(await open());
    await buildTeamWorld(h, w);
  });
  afterAll(() => h.close());

  /** Of every exposed table, what the session reads: ids of its own rows, organization ids of the others. */
  const everything = async (query: Query) => {
    const read = async (sql: string) => (await query<{ v: string }>(sql)).map((row) => row.v).sort();
    return {
      users: await read("SELECT id AS v FROM users"),
      workspaces: await read("SELECT user_id AS v FROM workspaces"),
      organizations: await read("SELECT id AS v FROM organizations"),
      memberships: await read("SELECT organization_id || ' ' || user_id AS v FROM organization_memberships"),
      invitations: await read("SELECT organization_id AS v FROM organization_invitations"),
      roles: await read("SELECT key AS v FROM roles"),
      permissions: await read("SELECT key AS v FROM permissions"),
      seats: await read(
        "SELECT organization_id || ' ' || members || ' ' || pending_invitations AS v FROM organization_seats",
      ),
    };
  };
  const allRoles = ["org:admin", "org:member"];
  const allPermissions = ["org:projects:manage", "org:projects:read"];
  const teamMembers = () => [w.alice, w.bob, w.dave].map((user) => `${w.team} ${user}`).sort();

  for (const [who, status] of [
    ["alice", undefined],
    ["bob", "active"],
  ] as const) {
    test(`a member (${who}, sts ${status ?? "absent"}) reads its own rows, its organization's and every role and permission`, async () => {
      const user = w[who];
      const claims = status ? { sub: user, sts: status } : { sub: user };
      expect(await asRole(h, "authenticated", claims, everything)).toEqual({
        users: [user],
        workspaces: [user],
        organizations: [w.team],
        memberships: teamMembers(),
        invitations: [w.team],
        roles: allRoles,
        permissions: allPermissions,
        seats: [`${w.team} 3 1`],
      });
    });
  }

  test("an outsider reads only its own organization's rows", async () => {
    expect(await asRole(h, "authenticated", { sub: w.outsider, v: 2 }, everything)).toEqual({
      users: [w.outsider],
      workspaces: [w.outsider],
      organizations: [w.otherTeam],
      memberships: [`${w.otherTeam} ${w.outsider}`],
      invitations: [w.otherTeam],
      roles: allRoles,
      permissions: allPermissions,
      seats: [`${w.otherTeam} 1 1`],
    });
  });

  test("a pending session reads nothing on every exposed table and renames nothing", async () => {
    const pending = { sub: w.alice, sts: "pending", o: { id: w.team, rol: "admin" } };
    expect(await asRole(h, "authenticated", pending, everything)).toEqual({
      users: [],
      workspaces: [],
      organizations: [],
      memberships: [],
      invitations: [],
      roles: [],
      permissions: [],
      seats: [],
    });
    const renamed = await asRole(h, "authenticated", pending, (query) =>
      query("UPDATE workspaces SET name = 'pwned' WHERE user_id = $1 RETURNING id", [w.alice]),
    );
    expect(renamed).toEqual([]);
    const active = await asRole(h, "authenticated", { sub: w.alice, sts: "active" }, (query) =>
      query<{ name: string }>("UPDATE workspaces SET name = 'Renamed' WHERE user_id = $1 RETURNING name", [w.alice]),
    );
    expect(active).toEqual([{ name: "Renamed" }]);
  });

  test("every exposed table carries its restrictive <table>_not_pending policy", async () => {
    const policies = await h.database.query<{ name: string }>(
      `SELECT tablename || ' ' || policyname AS name FROM pg_policies
       WHERE schemaname = 'public' AND permissive = 'RESTRICTIVE' AND cmd = 'ALL' AND 'authenticated' = ANY(roles)
       ORDER BY 1`,
    );
    const exposed = await h.database.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' AND c.relkind = 'r' AND has_table_privilege('authenticated', c.oid, 'SELECT')
       ORDER BY 1`,
    );
    const known = ["users", "workspaces", "organizations", "organization_memberships", "organization_invitations"];
    expect(exposed.map((t) => t.name)).toEqual(expect.arrayContaining([...known, "roles", "permissions"]));
    expect(policies.map((p) => p.name)).toEqual(exposed.map((t) => `${t.name} ${t.name}_not_pending`));
  });

  test.each([
    ["SELECT * FROM organization_invitations"],
    ["SELECT * FROM roles"],
    ["SELECT * FROM permissions"],
    ["SELECT * FROM organization_seats"],
    ["SELECT private.active_organization_id()"],
    ["SELECT private.has_org_role('org_x', 'org:admin')"],
    ["SELECT private.has_org_permission('org_x', 'org:x')"],
  ])("anon may not: %s", async (statement) => {
    await expect(asRole(h, "anon", null, (query) => query(statement))).rejects.toThrow(/permission denied/);
  });

  test.each([
    ["UPDATE organization_invitations SET status = 'accepted'"],
    ["DELETE FROM organization_invitations"],
    ["INSERT INTO roles (id, key, created_at, updated_at) VALUES ('role_x', 'org:x', now(), now())"],
    ["UPDATE roles SET permissions = '{org:projects:manage}'"],
    ["DELETE FROM permissions"],
    ["SELECT * FROM clerk_invitation_versions"],
    ["SELECT * FROM clerk_role_versions"],
    ["SELECT * FROM clerk_permission_versions"],
  ])("a member may not: %s", async (statement) => {
    await expect(asRole(h, "authenticated", { sub: w.alice }, (query) => query(statement))).rejects.toThrow(
      /permission denied/,
    );
  });

  test("active_organization_id: o.id in v2 tokens, org_id in v1, null without one or for a pending session", async () => {
    const call = "private.active_organization_id()";
    expect(await helper(h, { sub: w.bob, v: 2, o: { id: w.team, rol: "member" } }, call)).toBe(w.team);
    expect(await helper(h, { sub: w.bob, org_id: w.team, org_role: "org:member" }, call)).toBe(w.team);
    expect(await helper(h, { sub: w.bob }, call)).toBeNull();
    expect(await helper(h, { sub: w.bob, v: 2, sts: "pending", o: { id: w.team } }, call)).toBeNull();
  });

  test("has_org_role reads the stored membership, with either spelling, whatever the token claims", async () => {
    const role = (claims: Record<string, unknown>, organizationId: string, key: string) =>
      helper(h, claims, "private.has_org_role($1, $2)", [organizationId, key]);
    const v2 = (sub: string, rol: string) => ({ sub, v: 2, o: { id: w.team, rol } });
    const v1 = (sub: string, orgRole: string) => ({ sub, org_id: w.team, org_role: orgRole });
    for (const claims of [v2(w.alice, "admin"), v1(w.alice, "org:admin")]) {
      expect(await role(claims, w.team, "org:admin")).toBe(true);
      expect(await role(claims, w.team, "admin")).toBe(true);
      expect(await role(claims, w.team, "org:member")).toBe(false);
      expect(await role(claims, w.otherTeam, "org:admin")).toBe(false);
    }
    expect(await role({ sub: w.dave }, w.team, "org:admin")).toBe(true); // stored as the legacy `admin`
    expect(await role(v2(w.bob, "admin"), w.team, "org:admin")).toBe(false); // a forged claim grants nothing
    expect(await role(v1(w.bob, "org:admin"), w.team, "org:member")).toBe(true);
    expect(await role({ sub: w.bob }, w.team, "basic_member")).toBe(true);
    expect(await role({ sub: w.alice, sts: "pending" }, w.team, "org:admin")).toBe(false);
  });

  test("a role's spellings find each other: org:member, member and the legacy basic_member; org:admin and admin", async () => {
    const spellings = async (role: string) =>
      (
        await h.database.query<{ spellings: string[] }>("SELECT private.role_spellings($1) AS spellings", [role])
      )[0]?.spellings.sort();
    for (const role of ["org:member", "member", "basic_member"]) {
      expect(await spellings(role)).toEqual(["basic_member", "member", "org:member"]);
    }
    for (const role of ["org:admin", "admin"]) expect(await spellings(role)).toEqual(["admin", "org:admin"]);
    expect(await spellings("org:billing")).toEqual(["billing", "org:billing"]);
  });

  test("has_org_permission follows the member's mirrored role, legacy spellings included", async () => {
    const can = (claims: Record<string, unknown>, key: string) =>
      helper(h, claims, "private.has_org_permission($1, $2)", [w.team, key]);
    expect(await can({ sub: w.alice, v: 2, o: { id: w.team } }, "org:projects:manage")).toBe(true);
    expect(await can({ sub: w.alice, org_id: w.team }, "org:projects:manage")).toBe(true);
    expect(await can({ sub: w.dave }, "org:projects:manage")).toBe(true);
    expect(await can({ sub: w.bob, org_permissions: ["org:projects:manage"] }, "org:projects:manage")).toBe(false);
    expect(await can({ sub: w.bob }, "org:projects:read")).toBe(true);
    expect(await can({ sub: w.outsider }, "org:projects:read")).toBe(false);
    expect(await can({ sub: w.alice, sts: "pending" }, "org:projects:manage")).toBe(false);
  });

  test("a role losing a permission: false once its delivery is answered (the role's keys change in the delivery's own transaction)", async () => {
    const roleId = w.adminRole;
    const can = () => helper(h, { sub: w.dave }, "private.has_org_permission($1, $2)", [w.team, "org:projects:read"]);
    expect(await can()).toBe(true);
    const updated = clerkRole({
      id: roleId,
      key: "org:admin",
      permissions: ["org:projects:manage"],
      updatedAt: 1_800_000_000_000,
    });
    await deliver(h, "role.updated", updated);
    expect(await can()).toBe(false);
    const [roles] = await h.database.query<{ permissions: string[] }>("SELECT permissions FROM roles WHERE id = $1", [
      roleId,
    ]);
    expect(roles?.permissions).toEqual(["org:projects:manage"]);
  });

  test("a member removed: false at once, for roles and permissions alike", async () => {
    const outsiderTeam = w.otherTeam;
    const claims = { sub: w.outsider };
    expect(await helper(h, claims, "private.has_org_role($1, 'org:member')", [outsiderTeam])).toBe(true);
    const membership = clerkMembership({ id: w.outsiderMembership, organizationId: outsiderTeam, userId: w.outsider });
    await deliver(h, "organizationMembership.deleted", membership);
    const [left] = await h.database.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM organization_memberships WHERE organization_id = $1",
      [outsiderTeam],
    );
    expect(left?.n).toBe(0);
    expect(await helper(h, claims, "private.has_org_role($1, 'org:member')", [outsiderTeam])).toBe(false);
    expect(await helper(h, claims, "private.has_org_permission($1, 'org:projects:read')", [outsiderTeam])).toBe(false);
  });

  test("the helpers are security definer with an empty search_path, not callable by PUBLIC", async () => {
    const helpers = await h.database.query<{
      name: string;
      secdef: boolean;
      config: string[];
      volatile: string;
      public_exec: boolean;
    }>(
      `SELECT p.proname AS name, p.prosecdef AS secdef, p.proconfig AS config, p.provolatile AS volatile,
         has_function_privilege('public', p.oid, 'EXECUTE') AS public_exec
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = 'private' AND p.proname IN ('active_organization_id', 'has_org_role', 'has_org_permission')
       ORDER BY 1`,
    );
    expect(helpers.map((row) => row.name)).toEqual(["active_organization_id", "has_org_permission", "has_org_role"]);
    for (const row of helpers) {
      expect(row).toMatchObject({ secdef: true, config: ['search_path=""'], volatile: "s", public_exec: false });
    }
  });
});
