import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkEvent, newUserId } from "../helpers/clerk.js";
import { clerkMembership, clerkOrganization, newOrganizationId } from "../helpers/clerk-organizations.js";
import { drivers, type Query } from "../helpers/database.js";
import { createHarness, describeResponse, type Harness } from "../helpers/harness.js";
import { asRole } from "../helpers/rls.js";

/** Members read their organizations and who else is in them; nobody writes; anon reads nothing. */
describe.each(drivers())("organization row-level security on $name", ({ open }) => {
  let h: Harness;
  const alice = newUserId();
  const bob = newUserId();
  const outsider = newUserId();
  const team = newOrganizationId();
  const otherTeam = newOrganizationId();

  beforeAll(async () => {
    h = createHarness(await open());
    const deliver = async (type: string, data: Record<string, unknown>) => {
      const res = await h.deliver(clerkEvent(type, data));
      expect(res.status, await describeResponse(res)).toBe(200);
    };
    await deliver("organization.created", clerkOrganization({ id: team, name: "Team" }));
    await deliver("organization.created", clerkOrganization({ id: otherTeam, name: "Other" }));
    await deliver("organizationMembership.created", clerkMembership({ organizationId: team, userId: alice }));
    await deliver(
      "organizationMembership.created",
      clerkMembership({ organizationId: team, userId: bob, role: "org:admin" }),
    );
    await deliver("organizationMembership.created", clerkMembership({ organizationId: otherTeam, userId: outsider }));
  });
  afterAll(() => h.close());

  const as = <T>(
    role: "anon" | "authenticated",
    claims: Record<string, unknown> | null,
    work: (q: Query) => Promise<T>,
  ) => asRole(h, role, claims, work);
  const forbidden = (work: Promise<unknown>) => expect(work).rejects.toThrow(/permission denied/);
  const organizationIds = (query: Query) =>
    query<{ id: string }>("SELECT id FROM organizations ORDER BY id").then((rows) => rows.map((r) => r.id));
  const members = (query: Query) =>
    query<{ user_id: string; role: string }>(
      "SELECT user_id, role FROM organization_memberships ORDER BY role, user_id",
    ).then((rows) => rows.map((r) => [r.user_id, r.role]));

  test("two members of one organization each see it and both memberships", async () => {
    for (const user of [alice, bob]) {
      await as("authenticated", { sub: user }, async (query) => {
        expect(await organizationIds(query)).toEqual([team]);
        expect(await members(query)).toEqual([
          [bob, "org:admin"],
          [alice, "org:member"],
        ]);
      });
    }
  });

  test("an outsider sees only its own organization and its members", async () => {
    await as("authenticated", { sub: outsider }, async (query) => {
      expect(await organizationIds(query)).toEqual([otherTeam]);
      expect(await members(query)).toEqual([[outsider, "org:member"]]);
      expect(await query("SELECT id FROM organization_memberships WHERE organization_id = $1", [team])).toEqual([]);
    });
  });

  test("the token's active organization grants nothing: membership is what is stored", async () => {
    const forged = { sub: outsider, o: { id: team, rol: "admin" }, org_id: team, org_role: "org:admin" };
    await as("authenticated", forged, async (query) => {
      expect(await organizationIds(query)).toEqual([otherTeam]);
    });
    await as("authenticated", { sub: newUserId(), o: { id: team } }, async (query) => {
      expect(await organizationIds(query)).toEqual([]);
      expect(await members(query)).toEqual([]);
    });
  });

  test("a token without a subject sees nothing", async () => {
    await as("authenticated", {}, async (query) => {
      expect(await organizationIds(query)).toEqual([]);
      expect(await members(query)).toEqual([]);
    });
  });

  test.each([
    ["UPDATE organizations SET name = 'pwned'"],
    ["DELETE FROM organizations"],
    ["INSERT INTO organizations (id, name) VALUES ('org_x', 'x')"],
    ["UPDATE organization_memberships SET role = 'org:admin'"],
    ["DELETE FROM organization_memberships"],
    ["INSERT INTO organization_memberships (id, organization_id, user_id, role) VALUES ('m', 'org_x', 'u', 'r')"],
    ["SELECT * FROM clerk_organization_versions"],
    ["SELECT * FROM clerk_membership_versions"],
  ])("a member may not: %s", async (statement) => {
    await forbidden(as("authenticated", { sub: bob }, (query) => query(statement)));
  });

  test.each([
    ["SELECT * FROM organizations"],
    ["SELECT * FROM organization_memberships"],
    ["SELECT private.my_organization_ids()"],
  ])("anon may not: %s", async (statement) => {
    await forbidden(as("anon", null, (query) => query(statement)));
  });

  test("the helper is not callable by PUBLIC, and runs with an empty search_path", async () => {
    const [fn] = await h.database.query<{ secdef: boolean; config: string[]; public_exec: boolean }>(
      `SELECT p.prosecdef AS secdef, p.proconfig AS config,
         has_function_privilege('public', p.oid, 'EXECUTE') AS public_exec
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = 'private' AND p.proname = 'my_organization_ids'`,
    );
    expect(fn).toEqual({ secdef: true, config: ['search_path=""'], public_exec: false });
  });
});
