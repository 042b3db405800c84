import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkEvent, clerkUser, newUserId } from "../helpers/clerk.js";
import { clerkSubscriptionItem } from "../helpers/clerk-billing.js";
import { clerkMembership, clerkOrganization, newOrganizationId } from "../helpers/clerk-organizations.js";
import { drivers, type Query } from "../helpers/database.js";
import { createHarness, describeResponse, type Harness } from "../helpers/harness.js";
import { asRole } from "../helpers/rls.js";

/**
 * Subscription items through row-level security (Supabase's Data API, `SET ROLE authenticated` with forged claims):
 * a user reads its own items and those of its organizations; nobody writes them; a pending session reads nothing;
 * anon nothing. The mirrored tier gates a feature in SQL.
 */
describe.each(drivers())("subscription items row-level security on $name", ({ open }) => {
  let h: Harness;
  const [alice, bob, outsider] = [newUserId(), newUserId(), newUserId()];
  const [team, otherTeam] = [newOrganizationId(), newOrganizationId()];

  beforeAll(async () => {
    h = createHarness(await open());
    const deliver = async (type: string, data: Record<string, unknown>) => {
      const res = await h.deliver(clerkEvent(type, data));
      expect(res.status, await describeResponse(res)).toBe(200);
    };
    for (const id of [alice, bob, outsider]) await deliver("user.created", clerkUser({ id }));
    for (const id of [team, otherTeam]) await deliver("organization.created", clerkOrganization({ id }));
    await deliver("organizationMembership.created", clerkMembership({ organizationId: team, userId: alice }));
    await deliver("organizationMembership.created", clerkMembership({ organizationId: otherTeam, userId: outsider }));
    const item = (id: string, payer: Parameters<typeof clerkSubscriptionItem>[0]) =>
      deliver("subscriptionItem.active", clerkSubscriptionItem({ id, ...payer }));
    await item("csub_item_alice", { payer: { userId: alice }, plan: "pro" });
    await item("csub_item_bob", { payer: { userId: bob }, plan: "pro" });
    await item("csub_item_team", { payer: { organizationId: team }, plan: "team" });
    await item("csub_item_other", { payer: { organizationId: otherTeam }, plan: "business" });
  });
  afterAll(() => h.close());

  const as = <T>(
    role: "anon" | "authenticated",
    claims: Record<string, unknown> | null,
    work: (q: Query) => Promise<T>,
  ) => asRole(h, role, claims, work);
  const itemIds = (query: Query) =>
    query<{ id: string }>("SELECT id FROM subscription_items ORDER BY id").then((rows) => rows.map((r) => r.id));

  test("a member reads its own items and its organizations'; nobody else's", async () => {
    await as("authenticated", { sub: alice }, async (query) => {
      expect(await itemIds(query)).toEqual(["csub_item_alice", "csub_item_team"]);
    });
    await as("authenticated", { sub: bob }, async (query) => {
      expect(await itemIds(query)).toEqual(["csub_item_bob"]);
    });
  });

  test("a forged active organization grants nothing: membership is what is stored", async () => {
    const forged = { sub: bob, o: { id: team, rol: "admin" }, org_id: team, org_role: "org:admin" };
    await as("authenticated", forged, async (query) => {
      expect(await itemIds(query)).toEqual(["csub_item_bob"]);
    });
    await as("authenticated", {}, async (query) => {
      expect(await itemIds(query)).toEqual([]);
    });
  });

  test("a pending session (sts: pending) reads no item; an active one does", async () => {
    await as("authenticated", { sub: alice, sts: "pending" }, async (query) => {
      expect(await itemIds(query)).toEqual([]);
    });
    await as("authenticated", { sub: alice, sts: "active" }, async (query) => {
      expect(await itemIds(query)).toEqual(["csub_item_alice", "csub_item_team"]);
    });
  });

  test.each([
    ["UPDATE subscription_items SET plan_slug = 'enterprise'"],
    ["DELETE FROM subscription_items"],
    [
      "INSERT INTO subscription_items (id, payer_type, payer_id, plan_slug, status, is_free_trial) VALUES ('x', 'user', 'u', 'p', 'active', false)",
    ],
    ["SELECT * FROM clerk_subscription_item_versions"],
    ["UPDATE users SET subscription_tier = 'enterprise'"],
    ["UPDATE organizations SET subscription_tier = 'enterprise'"],
    ["SELECT private.subscription_tier('user', 'x')"],
  ])("a member may not: %s", async (statement) => {
    await expect(as("authenticated", { sub: alice }, (query) => query(statement))).rejects.toThrow(/permission denied/);
  });

  test("anon reads no item", async () => {
    await expect(as("anon", null, (query) => query("SELECT * FROM subscription_items"))).rejects.toThrow(
      /permission denied/,
    );
  });

  test("a feature gated on the tier in SQL (docs/http.md): a policy reading the mirrored tier", async () => {
    await h.database.query(`CREATE TABLE pro_notes (id serial PRIMARY KEY, organization_id text NOT NULL)`);
    try {
      await h.database.query(`ALTER TABLE pro_notes ENABLE ROW LEVEL SECURITY`);
      await h.database.query(`GRANT SELECT ON pro_notes TO authenticated`);
      await h.database.query(
        `CREATE POLICY pro_notes_paid_teams ON pro_notes FOR SELECT TO authenticated USING (
          organization_id IN (SELECT private.my_organization_ids())
          AND (SELECT o.subscription_tier FROM organizations o WHERE o.id = organization_id) IN ('team', 'business'))`,
      );
      await h.database.query("INSERT INTO pro_notes (organization_id) VALUES ($1), ($2)", [team, otherTeam]);
      await as("authenticated", { sub: alice }, async (query) => {
        expect(await query("SELECT organization_id FROM pro_notes")).toEqual([{ organization_id: team }]);
      });
      await as("authenticated", { sub: bob }, async (query) => {
        expect(await query("SELECT organization_id FROM pro_notes")).toEqual([]);
      });
    } finally {
      await h.database.query("DROP TABLE pro_notes");
    }
  });
});
