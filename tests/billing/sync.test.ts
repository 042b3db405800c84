import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { createClerkDirectory } from "../../src/clerk/backend-api.js";
import { type ReconcileOptions, reconcile } from "../../src/sync/sync.js";
import { TEST_CLERK_SECRET_KEY } from "../../support/fake-clerk-api.js";
import { clerkPayer, clerkSubscriptionItem, type ItemOptions } from "../helpers/clerk-billing.js";
import { drivers, type TestDatabase } from "../helpers/database.js";
import { type ClerkJson, openSyncHarness, type SyncHarness } from "../helpers/sync-harness.js";

/** `npm run sync`'s verb with the subscription items: the fake Backend API's instance-wide listing of them. */

const KINDS = ["users", "organizations", "memberships", "subscriptionItems"] as const;

describe.each(drivers())("sync of subscription items on $name", ({ open }) => {
  let h: SyncHarness<TestDatabase>;
  beforeEach(async () => {
    h = await openSyncHarness(await open());
  });
  afterEach(() => h?.close());

  const sync = (options: Partial<ReconcileOptions> = {}) =>
    reconcile(
      { db: h.database.db, directory: createClerkDirectory({ secretKey: TEST_CLERK_SECRET_KEY, apiUrl: h.api.url }) },
      {
        kinds: KINDS,
        dryRun: false,
        prune: false,
        restart: false,
        pageSize: 3,
        signal: new AbortController().signal,
        ...options,
      },
    );
  /** An item in (fake) Clerk's listing, as the Backend API answers it (its own payer; `organization_id` null). */
  const itemInClerk = (options: ItemOptions) => {
    const item = clerkSubscriptionItem(options) as ClerkJson;
    const payer = item.payer as Record<string, unknown>;
    if (payer.organization_id === "") payer.organization_id = null;
    item.object = "commerce_subscription_item";
    h.api.subscriptionItems.set(item.id, item);
    return item;
  };
  const tiers = () =>
    h.database.query<{ id: string; tier: string }>(
      "SELECT id, subscription_tier AS tier FROM users UNION ALL SELECT id, subscription_tier FROM organizations ORDER BY id",
    );

  test("back-fills every item, default plans included, and the tiers of users and organizations", async () => {
    const [ada, bob] = [h.userInClerk(), h.userInClerk()];
    const team = h.organizationInClerk();
    itemInClerk({ payer: { userId: ada.id }, plan: "free_user", status: "ended", updatedAt: 1_000 });
    itemInClerk({ payer: { userId: ada.id }, plan: "pro", updatedAt: 2_000 });
    const free = itemInClerk({ payer: { userId: bob.id }, plan: "free_user", periodEnd: null });
    (free.plan as Record<string, unknown>).amount = 0;
    itemInClerk({ payer: { organizationId: team.id }, plan: "team", updatedAt: 3_000 });
    itemInClerk({ payer: { organizationId: team.id }, plan: "business", status: "upcoming", updatedAt: 3_000 });
    const result = await sync();
    expect(result.status).toBe("completed");
    expect(result.kinds.subscriptionItems).toMatchObject({ listed: 5, total: 5, counts: { created: 5 } });
    const [rows] = await h.database.query<{ n: number }>("SELECT count(*)::int AS n FROM subscription_items");
    expect(rows?.n).toBe(5);
    expect(await tiers()).toEqual(
      [
        { id: ada.id, tier: "pro" },
        { id: bob.id, tier: "free_user" },
        { id: team.id, tier: "team" },
      ].sort((a, b) => (a.id < b.id ? -1 : 1)),
    );
    const listing = h.api.requests.find((request) => request.path === "/v1/billing/subscription_items");
    expect(listing?.query.get("include_free")).toBe("true");
    // A second run changes nothing.
    expect((await sync({ restart: true })).kinds.subscriptionItems).toMatchObject({ counts: { unchanged: 5 } });
  });

  test("a listing older than a webhook already applied changes nothing; items of a deleted payer stay out", async () => {
    const ada = h.userInClerk();
    const listed = itemInClerk({ payer: { userId: ada.id }, plan: "pro", updatedAt: 1_000 });
    const gone = `user_gone_${ada.id}`;
    itemInClerk({ payer: { userId: gone }, plan: "pro" });
    const newer = { ...clerkSubscriptionItem({ id: listed.id, plan: "pro", status: "ended", updatedAt: 2_000 }) };
    newer.payer = clerkPayer({ userId: ada.id });
    expect(
      await h.deliver(
        ["user.created", h.api.users.get(ada.id) as ClerkJson],
        ["subscriptionItem.ended", newer],
        ["user.deleted", { id: gone, object: "user", deleted: true }],
      ),
    ).toEqual(["provisioned", "provisioned", "deleted"]);
    const result = await sync();
    expect(result.kinds.subscriptionItems?.counts).toEqual({ "skipped:stored_newer": 1, "skipped:deleted": 1 });
    expect(await h.database.query("SELECT id, status, payer_id FROM subscription_items ORDER BY id")).toEqual([
      { id: listed.id, status: "ended", payer_id: ada.id },
    ]);
    expect(await tiers()).toEqual([{ id: ada.id, tier: "free" }]);
  });

  test("--dry-run tells what the items would come to and writes nothing", async () => {
    const ada = h.userInClerk();
    itemInClerk({ payer: { userId: ada.id }, plan: "pro" });
    const result = await sync({ dryRun: true });
    expect(result.kinds.subscriptionItems?.counts).toEqual({ created: 1 });
    expect(await h.database.query("SELECT id FROM subscription_items")).toEqual([]);
  });

  test("--prune never removes items (Clerk keeps ended ones listed)", async () => {
    const ada = h.userInClerk();
    itemInClerk({ payer: { userId: ada.id }, plan: "pro" });
    await sync();
    h.api.subscriptionItems.clear();
    const result = await sync({ prune: true, restart: true });
    expect(result.kinds.subscriptionItems?.prune).toBeUndefined();
    expect(await h.database.query("SELECT plan_slug FROM subscription_items")).toEqual([{ plan_slug: "pro" }]);
  });
});
