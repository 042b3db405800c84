import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkEvent, clerkUser, newUserId } from "../helpers/clerk.js";
import {
  billingFixture,
  clerkSubscription,
  clerkSubscriptionItem,
  type ItemOptions,
  type Payer,
} from "../helpers/clerk-billing.js";
import { clerkMembership, clerkOrganization, newOrganizationId } from "../helpers/clerk-organizations.js";
import { drivers } from "../helpers/database.js";
import { createHarness, describeResponse, type Harness, outcomeOf } from "../helpers/harness.js";

/** The contract's Plans table, row by row, through the real app and svix signatures. */

interface ItemRow {
  id: string;
  payer_type: string;
  payer_id: string;
  plan_slug: string;
  plan_id: string | null;
  status: string;
  is_free_trial: boolean;
  period_start: number | null;
  period_end: number | null;
  created_at: number;
  updated_at: number;
}

const DAY = 86_400_000;

describe.each(drivers())("plans on $name", ({ open }) => {
  let h: Harness;
  beforeAll(async () => {
    h = createHarness(await open());
  });
  afterAll(() => h.close());

  const send: Harness["send"] = (type, data, svixId) => h.send(type, data, svixId);
  const item = (type: string, options: ItemOptions) => send(`subscriptionItem.${type}`, clerkSubscriptionItem(options));
  const items = (payer: Payer) =>
    h.database.query<ItemRow>(
      `SELECT id, payer_type, payer_id, plan_slug, plan_id, status, is_free_trial,
        (extract(epoch from period_start) * 1000)::bigint::float8 AS period_start,
        (extract(epoch from period_end) * 1000)::bigint::float8 AS period_end,
        (extract(epoch from created_at) * 1000)::bigint::float8 AS created_at,
        (extract(epoch from updated_at) * 1000)::bigint::float8 AS updated_at
      FROM subscription_items WHERE payer_type = $1 AND payer_id = $2 ORDER BY id`,
      "userId" in payer ? ["user", payer.userId] : ["organization", payer.organizationId],
    );
  const userTier = async (id: string) =>
    (await h.database.query<{ tier: string }>("SELECT subscription_tier AS tier FROM users WHERE id = $1", [id]))[0]
      ?.tier;
  const organizationTier = async (id: string) =>
    (
      await h.database.query<{ tier: string }>("SELECT subscription_tier AS tier FROM organizations WHERE id = $1", [
        id,
      ])
    )[0]?.tier;
  const newUser = async () => {
    const id = newUserId();
    expect(await send("user.created", clerkUser({ id }))).toBe("provisioned");
    return id;
  };

  test('Clerk\'s published item events, verbatim: a user payer (organization_id ""), stored as sent', async () => {
    const userId = "user_34D368EufHwugfYh4yyGNEheM0S";
    await send("user.created", clerkUser({ id: userId }));
    expect(await outcomeOf(await h.deliver(billingFixture("openapi.subscriptionItem.active")))).toBe("provisioned");
    expect(await userTier(userId)).toBe("free-plan");
    expect(await items({ userId })).toEqual([
      {
        id: "csub_item_2g7np7Hrk0SN6kj5EDMLDaKNL0S",
        payer_type: "user",
        payer_id: userId,
        plan_slug: "free-plan",
        plan_id: "cplan_2g7np7Hrk0SN6kj5EDMLDaKNL0S",
        status: "active",
        is_free_trial: false,
        period_start: 1716883200000,
        period_end: null,
        created_at: 1716883200000,
        updated_at: 1716883200000,
      },
    ]);
    // The same item id canceled (its period over by now: no longer granting), then ended: both newer, both applied.
    expect(await outcomeOf(await h.deliver(billingFixture("openapi.subscriptionItem.canceled")))).toBe("provisioned");
    expect(await outcomeOf(await h.deliver(billingFixture("openapi.subscriptionItem.ended")))).toBe("provisioned");
    expect((await items({ userId }))[0]?.status).toBe("ended");
    expect(await userTier(userId)).toBe("free");
  });

  test("the plan's id from the plan object when the item has no plan_id; a null created_at is its updated_at", async () => {
    const userId = await newUser();
    const base = clerkSubscriptionItem({ payer: { userId }, plan: "pro" });
    const { plan_id: _, ...withoutPlanId } = base;
    const item = { ...withoutPlanId, created_at: null, plan: { ...(base.plan as object), id: "cplan_from_object" } };
    expect(await send("subscriptionItem.active", item)).toBe("provisioned");
    const [stored] = await items({ userId });
    expect(stored).toMatchObject({ plan_slug: "pro", plan_id: "cplan_from_object", created_at: stored?.updated_at });
    expect(await userTier(userId)).toBe("pro");
  });

  test.each([
    "subscription.created",
    "subscription.updated",
    "subscription.active",
    "subscription.pastDue",
    "subscriptionItem.abandoned",
    "subscriptionItem.active",
    "subscriptionItem.canceled",
    "subscriptionItem.ended",
    "subscriptionItem.freeTrialEnding",
    "subscriptionItem.incomplete",
    "subscriptionItem.pastDue",
    "subscriptionItem.upcoming",
    "subscriptionItem.updated",
  ])("Clerk's published %s is accepted and recorded under its type", async (type) => {
    const payload = billingFixture(`openapi.${type}`);
    const res = await h.deliver(payload);
    expect(["provisioned", "stale"]).toContain(await outcomeOf(res));
    const [record] = await h.database.query<{ event_type: string }>(
      "SELECT event_type FROM clerk_deliveries ORDER BY processed_at DESC LIMIT 1",
    );
    expect(record?.event_type).toBe(type);
  });

  test("an item upserted unless the stored one is as new or newer; the tier follows", async () => {
    const userId = await newUser();
    const id = `csub_item_upsert_${userId}`;
    const payer = { userId };
    expect(await item("active", { id, payer, plan: "pro", updatedAt: 1_000 })).toBe("provisioned");
    expect(await userTier(userId)).toBe("pro");
    expect(await item("pastDue", { id, payer, plan: "pro", status: "past_due", updatedAt: 2_000 })).toBe("provisioned");
    expect(await userTier(userId)).toBe("pro");
    expect(await item("active", { id, payer, plan: "pro", updatedAt: 2_000 })).toBe("stale");
    expect(await item("ended", { id, payer, plan: "pro", status: "ended", updatedAt: 1_500 })).toBe("stale");
    expect((await items(payer)).map((row) => [row.status, row.updated_at])).toEqual([["past_due", 2_000]]);
    expect(await item("ended", { id, payer, plan: "pro", status: "ended", updatedAt: 3_000 })).toBe("provisioned");
    expect(await userTier(userId)).toBe("free");
  });

  test("an unknown subscriptionItem.* name and an unknown status are applied by the payload's status", async () => {
    const userId = await newUser();
    expect(await item("expired", { payer: { userId }, plan: "gold", status: "active" })).toBe("provisioned");
    expect(await userTier(userId)).toBe("gold");
    expect(await item("somethingNew", { payer: { userId }, plan: "silver", status: "paused", updatedAt: 2e12 })).toBe(
      "provisioned",
    );
    expect((await items({ userId })).map((row) => row.status).sort()).toEqual(["active", "paused"]);
    expect(await userTier(userId)).toBe("gold");
    // A subscription.* name Clerk does not document (third-party handlers expect it) is applied the same way.
    const canceled = clerkSubscription({ userId }, [
      clerkSubscriptionItem({ plan: "platinum", status: "active", updatedAt: 3e12 }),
    ]);
    expect(await send("subscription.canceled", canceled)).toBe("provisioned");
    expect(await userTier(userId)).toBe("platinum");
  });

  test("a billing delivery's log line names the type, the payer and the items, never the payer's e-mail", async () => {
    const userId = await newUser();
    const data = clerkSubscriptionItem({ plan: "pro", payer: { userId } });
    expect(JSON.stringify(data)).toContain("test@example.com");
    await send("subscriptionItem.active", data);
    const line = h.logs.find(
      (log) => log.msg === "clerk delivery" && log.userId === userId && log.type !== "user.created",
    );
    expect(line).toMatchObject({
      type: "subscriptionItem.active",
      outcome: "provisioned",
      subscriptionItemIds: [data.id],
    });
    expect(JSON.stringify(h.logs)).not.toContain("test@example.com");
  });

  test("canceled with its period in the future keeps the paid plan; .ended / the free item's .active ends it", async () => {
    const userId = await newUser();
    const payer = { userId };
    const [paid, free] = [`csub_item_paid_${userId}`, `csub_item_free_${userId}`];
    const periodEnd = Date.now() + 20 * DAY;
    await item("active", { id: free, payer, plan: "free_user", updatedAt: 1_000, periodEnd: null });
    await item("active", { id: paid, payer, plan: "pro", updatedAt: 2_000, periodEnd });
    await item("ended", { id: free, payer, plan: "free_user", status: "ended", updatedAt: 2_000, periodEnd: null });
    expect(await userTier(userId)).toBe("pro");
    await item("canceled", { id: paid, payer, plan: "pro", status: "canceled", updatedAt: 3_000, periodEnd });
    await item("upcoming", { id: free, payer, plan: "free_user", status: "upcoming", updatedAt: 3_000 });
    expect(await userTier(userId)).toBe("pro");
    await item("active", { id: free, payer, plan: "free_user", updatedAt: 4_000, periodEnd: null });
    expect(await userTier(userId)).toBe("free_user");
    await item("ended", { id: paid, payer, plan: "pro", status: "ended", updatedAt: 4_000, periodEnd });
    expect(await userTier(userId)).toBe("free_user");
  });

  test("canceled with its period over grants nothing; past_due grants", async () => {
    const userId = await newUser();
    const payer = { userId };
    await item("canceled", { payer, plan: "pro", status: "canceled", periodEnd: Date.now() - DAY });
    expect(await userTier(userId)).toBe("free");
    await item("pastDue", { payer, plan: "team", status: "past_due", updatedAt: 1_800_000_000_000 });
    expect(await userTier(userId)).toBe("team");
  });

  test("items of a user not stored yet are stored; the tier is right once the user is", async () => {
    const userId = newUserId();
    expect(await item("active", { payer: { userId }, plan: "pro" })).toBe("provisioned");
    expect(await items({ userId })).toHaveLength(1);
    expect(await userTier(userId)).toBeUndefined();
    expect(await send("user.created", clerkUser({ id: userId }))).toBe("provisioned");
    expect(await userTier(userId)).toBe("pro");
  });

  test("items of an organization not stored yet: right once it is stored, by its own event or a membership's", async () => {
    const [byEvent, byMembership] = [newOrganizationId(), newOrganizationId()];
    for (const organizationId of [byEvent, byMembership]) {
      expect(await item("active", { payer: { organizationId }, plan: "team" })).toBe("provisioned");
    }
    expect(await send("organization.created", clerkOrganization({ id: byEvent }))).toBe("provisioned");
    expect(
      await send(
        "organizationMembership.created",
        clerkMembership({ organizationId: byMembership, userId: newUserId() }),
      ),
    ).toBe("provisioned");
    expect(await organizationTier(byEvent)).toBe("team");
    expect(await organizationTier(byMembership)).toBe("team");
  });

  test("an organization's items decide its tier, not its members'", async () => {
    const organizationId = newOrganizationId();
    const userId = await newUser();
    await send("organization.created", clerkOrganization({ id: organizationId }));
    expect(await organizationTier(organizationId)).toBe("free");
    expect(await item("active", { payer: { organizationId }, plan: "business" })).toBe("provisioned");
    expect(await organizationTier(organizationId)).toBe("business");
    expect(await userTier(userId)).toBe("free");
  });

  test("user.deleted removes the user's items; its late items store nothing", async () => {
    const userId = await newUser();
    await item("active", { payer: { userId }, plan: "pro" });
    expect(await send("user.deleted", { id: userId, object: "user", deleted: true })).toBe("deleted");
    expect(await items({ userId })).toEqual([]);
    expect(await item("active", { payer: { userId }, plan: "pro", updatedAt: 2e12 })).toBe("stale");
    expect(await send("subscription.updated", clerkSubscription({ userId }, [clerkSubscriptionItem()]))).toBe("stale");
    expect(await items({ userId })).toEqual([]);
  });

  test("organization.deleted removes its items; its late items store nothing", async () => {
    const organizationId = newOrganizationId();
    await send("organization.created", clerkOrganization({ id: organizationId }));
    await item("active", { payer: { organizationId }, plan: "team" });
    expect(await send("organization.deleted", { id: organizationId, object: "organization", deleted: true })).toBe(
      "deleted",
    );
    expect(await items({ organizationId })).toEqual([]);
    expect(await item("active", { payer: { organizationId }, plan: "team", updatedAt: 2e12 })).toBe("stale");
    expect(await items({ organizationId })).toEqual([]);
  });

  test("subscription.* applies every item under the subscription's payer; its copies are duplicates", async () => {
    const organizationId = newOrganizationId();
    await send("organization.created", clerkOrganization({ id: organizationId }));
    const subscription = clerkSubscription({ organizationId }, [
      clerkSubscriptionItem({ plan: "free_org", status: "ended", updatedAt: 2_000, periodEnd: null }),
      clerkSubscriptionItem({ plan: "team", status: "active", updatedAt: 2_000, periodEnd: Date.now() + DAY }),
      clerkSubscriptionItem({ plan: "business", status: "upcoming", updatedAt: 2_000 }),
    ]);
    const svixId = `msg_subscription_${organizationId}`;
    const copies = await Promise.all(
      Array.from({ length: 5 }, () => send("subscription.updated", subscription, svixId)),
    );
    expect(copies.sort()).toEqual(["duplicate", "duplicate", "duplicate", "duplicate", "provisioned"]);
    expect((await items({ organizationId })).map((row) => row.plan_slug).sort()).toEqual([
      "business",
      "free_org",
      "team",
    ]);
    expect(await organizationTier(organizationId)).toBe("team");
    expect(await send("subscription.updated", subscription)).toBe("stale");
    const [record] = await h.database.query<{ outcome: string }>(
      "SELECT outcome FROM clerk_deliveries WHERE delivery_id = $1",
      [svixId],
    );
    expect(record?.outcome).toBe("provisioned");
  });

  test("an item's own payer wins over the subscription's; none at all is 422 naming the field", async () => {
    const [userId, organizationId] = [newUserId(), newOrganizationId()];
    const own = clerkSubscriptionItem({ plan: "team" });
    const subscription = clerkSubscription({ userId }, [own]);
    (subscription.items as Record<string, unknown>[])[0] = {
      ...own,
      payer: { user_id: "", organization_id: organizationId },
    };
    expect(await send("subscription.active", subscription)).toBe("provisioned");
    expect(await items({ organizationId })).toHaveLength(1);
    const before = await h.counts();
    const res = await h.deliver(clerkEvent("subscriptionItem.active", { ...clerkSubscriptionItem(), payer: null }));
    expect(res.status, await describeResponse(res)).toBe(422);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.message).toContain("data.payer");
    expect(await h.counts()).toEqual(before);
  });

  test.each([
    ["no plan", { plan: null }, "data.plan"],
    ["no updated_at", { updated_at: null }, "data.updated_at"],
    ["an id of kilobytes", { id: `csub_item_${"x".repeat(5000)}` }, "data.id"],
    ["a status of kilobytes", { status: "x".repeat(5000) }, "data.status"],
    ["a payer of neither kind", { payer: { user_id: "", organization_id: "" } }, "data.payer"],
  ])("an item with %s is 422 naming the field, nothing written", async (_, change, field) => {
    const before = await h.counts();
    const [{ n: itemsBefore } = { n: 0 }] = await h.database.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM subscription_items",
    );
    const data = { ...clerkSubscriptionItem({ payer: { userId: newUserId() } }), ...change };
    const res = await h.deliver(clerkEvent("subscriptionItem.updated", data));
    expect(res.status, await describeResponse(res)).toBe(422);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain(field);
    expect(await h.counts()).toEqual(before);
    const [{ n: itemsAfter } = { n: 0 }] = await h.database.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM subscription_items",
    );
    expect(itemsAfter).toBe(itemsBefore);
  });

  test("a subscription.* item with no plan is 422 naming data.items.<i>; none of its items written", async () => {
    const userId = newUserId();
    const subscription = clerkSubscription({ userId }, [
      clerkSubscriptionItem(),
      { ...clerkSubscriptionItem(), plan: null },
    ]);
    const res = await h.deliver(clerkEvent("subscription.updated", subscription));
    expect(res.status, await describeResponse(res)).toBe(422);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain("data.items.1.plan");
    expect(await items({ userId })).toEqual([]);
  });

  // The tier's triggers cost every write of a user or organization: a SQL function with SET search_path (never
  // inlined) was planned again in every transaction, and a row trigger ran on every attempted insert (an upsert's
  // conflicts, a membership page's organizations), which made a new user's write cost PostgreSQL half as much again.
  test("the tier's triggers run once per statement, and what they run is PL/pgSQL (plans kept for the session)", async () => {
    const triggers = await h.database.query<{ trigger: string; per_row: boolean }>(`
      SELECT tgrelid::regclass::text || '.' || tgname AS trigger, (tgtype & 1) = 1 AS per_row
      FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN ('users'::regclass, 'organizations'::regclass)
      ORDER BY 1`);
    expect(triggers).toEqual([
      { trigger: "organizations.organizations_initial_subscription_tiers", per_row: false },
      { trigger: "users.users_initial_subscription_tiers", per_row: false },
    ]);
    const called = await h.database.query<{ fn: string; language: string }>(`
      WITH RECURSIVE calls(oid) AS (
        SELECT t.tgfoid FROM pg_trigger t WHERE NOT t.tgisinternal
        UNION
        SELECT q.oid FROM calls c JOIN pg_proc p ON p.oid = c.oid
          JOIN pg_proc q ON p.prosrc LIKE '%private.' || q.proname || '(%'
          JOIN pg_namespace n ON n.oid = q.pronamespace AND n.nspname = 'private'
      )
      SELECT p.proname AS fn, l.lanname AS language FROM calls c
        JOIN pg_proc p ON p.oid = c.oid JOIN pg_language l ON l.oid = p.prolang ORDER BY 1`);
    expect(called).toEqual([
      { fn: "initial_subscription_tiers", language: "plpgsql" },
      { fn: "refresh_subscription_tiers", language: "plpgsql" },
      { fn: "subscription_tier", language: "plpgsql" },
    ]);
  });
});
