import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseClerkSubscriptionItem } from "../../src/clerk/billing-events.js";
import { KINDS } from "../../src/provisioning/kinds.js";
import { clerkEvent, clerkUser, newUserId } from "../helpers/clerk.js";
import {
  clerkSubscription,
  clerkSubscriptionItem,
  type ItemOptions,
  newSubscriptionItemId,
} from "../helpers/clerk-billing.js";
import { clerkOrganization, newOrganizationId } from "../helpers/clerk-organizations.js";
import { drivers } from "../helpers/database.js";
import { createHarness, type Harness, outcomeOf, permutations } from "../helpers/harness.js";

/**
 * Plan changes as Clerk delivers them: each change's item events in every order, each followed by redeliveries (the
 * same svix ids, and the same states under new ids), always ending in the tier Clerk's final state implies.
 */

const DAY = 86_400_000;

/** One item event: its type and the item's state (the payer is filled in per run). */
interface ItemEvent {
  type: string;
  item: Omit<ItemOptions, "payer">;
}

/** The items of one change, by role: the plan left, and the plan taken. */
function change() {
  const periodEnd = Date.now() + 20 * DAY;
  const [free, pro, basic] = [newSubscriptionItemId(), newSubscriptionItemId(), newSubscriptionItemId()];
  const on = (id: string, plan: string) => (type: string, status: string, updatedAt: number, end: number | null) => ({
    type: `subscriptionItem.${type}`,
    item: { id, plan, status, updatedAt, periodEnd: end },
  });
  return {
    free: on(free, "free_user"),
    pro: on(pro, "pro"),
    basic: on(basic, "basic"),
    periodEnd,
  };
}

/** The scenarios: events (the item ids are per run: `change()` makes fresh ones) and the tier they end in. */
const SCENARIOS: Record<string, { events: () => ItemEvent[]; tier: string }> = {
  "upgrade (free ended, pro active)": {
    events: () => {
      const c = change();
      return [
        c.free("active", "active", 1_000, null),
        c.free("ended", "ended", 2_000, null),
        c.pro("active", "active", 2_000, c.periodEnd),
      ];
    },
    tier: "pro",
  },
  "upgrade whose old item is abandoned": {
    events: () => {
      const c = change();
      return [
        c.free("active", "active", 1_000, null),
        c.free("abandoned", "abandoned", 2_000, null),
        c.pro("active", "active", 2_000, c.periodEnd),
      ];
    },
    tier: "pro",
  },
  "cancel (pro canceled with its period ahead, the free plan upcoming)": {
    events: () => {
      const c = change();
      return [
        c.pro("active", "active", 1_000, c.periodEnd),
        c.pro("canceled", "canceled", 2_000, c.periodEnd),
        c.free("upcoming", "upcoming", 2_000, null),
      ];
    },
    tier: "pro",
  },
  "cancel, then its period ends (pro ended, free active)": {
    events: () => {
      const c = change();
      return [
        c.pro("active", "active", 1_000, c.periodEnd),
        c.pro("canceled", "canceled", 2_000, c.periodEnd),
        c.free("upcoming", "upcoming", 2_000, null),
        c.pro("ended", "ended", 3_000, c.periodEnd),
        c.free("active", "active", 3_000, null),
      ];
    },
    tier: "free_user",
  },
  "downgrade at period end (pro canceled, basic upcoming, then pro ended and basic active)": {
    events: () => {
      const c = change();
      return [
        c.pro("active", "active", 1_000, c.periodEnd),
        c.pro("canceled", "canceled", 2_000, c.periodEnd),
        c.basic("upcoming", "upcoming", 2_000, c.periodEnd + 30 * DAY),
        c.pro("ended", "ended", 3_000, c.periodEnd),
        c.basic("active", "active", 3_000, c.periodEnd + 30 * DAY),
      ];
    },
    tier: "basic",
  },
};

describe.each(drivers())("plan changes in every order on $name", ({ open }) => {
  let h: Harness;
  beforeAll(async () => {
    h = createHarness(await open());
  });
  afterAll(() => h.close());

  const send = async (payload: Record<string, unknown>, svixId: string) =>
    outcomeOf(await h.deliver(payload, { svixId }));
  const tierOf = async (userId: string) =>
    (await h.database.query<{ tier: string }>("SELECT subscription_tier AS tier FROM users WHERE id = $1", [userId]))[0]
      ?.tier;

  /** Delivers `events` in `order` for a new user, then every one again (same svix ids, then new ones). */
  async function run(events: ItemEvent[], order: number[]) {
    const userId = newUserId();
    await send(clerkEvent("user.created", clerkUser({ id: userId })), `msg_${userId}`);
    const payloads = events.map((event) =>
      clerkEvent(event.type, clerkSubscriptionItem({ ...event.item, payer: { userId } })),
    );
    const outcomes: string[] = [];
    for (const i of order) outcomes.push(await send(payloads[i] as Record<string, unknown>, `msg_${userId}_${i}`));
    for (const i of order)
      expect(await send(payloads[i] as Record<string, unknown>, `msg_${userId}_${i}`)).toBe("duplicate");
    for (const i of [...order].reverse())
      expect(await send(payloads[i] as Record<string, unknown>, `msg_${userId}_${i}_again`)).toBe("stale");
    return { userId, outcomes, tier: await tierOf(userId) };
  }

  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    test(`${name}: every order ends in ${scenario.tier}`, async () => {
      const indexes = scenario.events().map((_, i) => i);
      const orders = permutations(indexes);
      const results = [];
      // A few orders at a time, each for a user of its own.
      for (let at = 0; at < orders.length; at += 8) {
        results.push(...(await Promise.all(orders.slice(at, at + 8).map((order) => run(scenario.events(), order)))));
      }
      expect(results).toHaveLength(orders.length);
      const wrong = results.filter((result) => result.tier !== scenario.tier);
      expect(wrong, JSON.stringify(wrong.slice(0, 3))).toEqual([]);
      // The events given in Clerk's own order: each one is applied.
      expect(results[0]?.outcomes.every((outcome) => outcome === "provisioned")).toBe(true);
    });
  }

  test("an upgrade as subscription.updated snapshots in either order, with redeliveries", async () => {
    for (const reversed of [false, true]) {
      const organizationId = newOrganizationId();
      await send(
        clerkEvent("organization.created", clerkOrganization({ id: organizationId })),
        `msg_${organizationId}`,
      );
      const [free, team] = [newSubscriptionItemId(), newSubscriptionItemId()];
      const before = clerkSubscription({ organizationId }, [
        clerkSubscriptionItem({ id: free, plan: "free_org", updatedAt: 1_000 }),
      ]);
      const after = clerkSubscription({ organizationId }, [
        clerkSubscriptionItem({ id: free, plan: "free_org", status: "ended", updatedAt: 2_000 }),
        clerkSubscriptionItem({ id: team, plan: "team", updatedAt: 2_000, periodEnd: Date.now() + DAY }),
      ]);
      const snapshots = reversed ? [after, before] : [before, after];
      for (const [i, snapshot] of snapshots.entries()) {
        await send(clerkEvent("subscription.updated", snapshot), `msg_${organizationId}_${i}`);
        expect(await send(clerkEvent("subscription.updated", snapshot), `msg_${organizationId}_${i}`)).toBe(
          "duplicate",
        );
      }
      const [row] = await h.database.query<{ tier: string }>(
        "SELECT subscription_tier AS tier FROM organizations WHERE id = $1",
        [organizationId],
      );
      expect(row?.tier).toBe("team");
    }
  });

  test("30 concurrent deliveries of one payer's items end in the tier of Clerk's final state", async () => {
    for (const payerFirst of [true, false]) {
      const userId = newUserId();
      if (payerFirst) await send(clerkEvent("user.created", clerkUser({ id: userId })), `msg_${userId}`);
      // 15 items, each delivered as two states: active, then ended, except the newest item, whose last state is active.
      const ids = Array.from({ length: 15 }, (_, i) => `csub_item_${String(i).padStart(2, "0")}_${userId}`);
      const payloads = ids.flatMap((id, i) => [
        clerkEvent(
          "subscriptionItem.active",
          clerkSubscriptionItem({ id, plan: `plan_${i}`, updatedAt: 1_000 + i, payer: { userId } }),
        ),
        i === ids.length - 1
          ? clerkEvent(
              "subscriptionItem.updated",
              clerkSubscriptionItem({ id, plan: `plan_${i}`, updatedAt: 2_000 + i, payer: { userId } }),
            )
          : clerkEvent(
              "subscriptionItem.ended",
              clerkSubscriptionItem({
                id,
                plan: `plan_${i}`,
                status: "ended",
                updatedAt: 2_000 + i,
                payer: { userId },
              }),
            ),
      ]);
      const shuffled = payloads
        .map((payload, i) => ({ payload, key: (i * 7919) % payloads.length }))
        .sort((a, b) => a.key - b.key);
      const outcomes = await Promise.all(shuffled.map(({ payload }, i) => send(payload, `msg_${userId}_${i}`)));
      expect(outcomes.filter((outcome) => outcome === "provisioned").length).toBeGreaterThanOrEqual(15);
      if (!payerFirst) await send(clerkEvent("user.created", clerkUser({ id: userId })), `msg_${userId}`);
      expect(await tierOf(userId)).toBe("plan_14");
      const [{ n } = { n: 0 }] = await h.database.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM subscription_items WHERE payer_id = $1 AND status = 'ended'",
        [userId],
      );
      expect(n).toBe(14);
    }
  });

  test("a delivery racing an uncommitted write of the same payer's items waits for it and counts its item", async () => {
    const userId = newUserId();
    await send(clerkEvent("user.created", clerkUser({ id: userId })), `msg_${userId}`);
    const newer = parseClerkSubscriptionItem(
      clerkSubscriptionItem({ plan: "newer", updatedAt: 4_000, payer: { userId } }),
    );
    const older = clerkEvent(
      "subscriptionItem.active",
      clerkSubscriptionItem({ plan: "older", updatedAt: 3_000, payer: { userId } }),
    );
    let delivery: Promise<string> | undefined;
    await h.database.transaction(async (query) => {
      const { text, params } = KINDS.subscriptionItems.writeStatement([newer]);
      await query(text, params);
      // Another writer of this payer, while the newer item is written but not committed.
      delivery = send(older, `msg_${userId}_older`);
      await new Promise((resolve) => setTimeout(resolve, 300));
    });
    expect(await delivery).toBe("provisioned");
    expect(await tierOf(userId)).toBe("newer");
  });
});
