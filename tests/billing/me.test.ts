import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkSubscription, clerkSubscriptionItem } from "../helpers/clerk-billing.js";
import { clerkMembership, clerkOrganization } from "../helpers/clerk-organizations.js";
import { drivers } from "../helpers/database.js";
import { type MeHarness, openMeHarness } from "../helpers/me-harness.js";

interface MeBody {
  user: { id: string; subscriptionTier: string };
  organizations: { id: string; role: string; subscriptionTier: string }[];
}

describe.each(drivers())("/v1/me plans on $name", ({ open }) => {
  let h: MeHarness;
  beforeAll(async () => {
    h = await openMeHarness(await open());
  });
  afterAll(() => h?.close());

  test("user.subscriptionTier is the user's mirrored plan; each organization carries its own", async () => {
    const { id: userId, user } = h.signUp();
    const team = clerkOrganization({ name: "Team" });
    const teamId = team.id as string;
    // The plans arrive before the user and the organization: both right once they are stored.
    expect(await h.send("subscriptionItem.active", clerkSubscriptionItem({ plan: "pro", payer: { userId } }))).toBe(
      "provisioned",
    );
    expect(
      await h.send(
        "subscription.created",
        clerkSubscription({ organizationId: teamId }, [clerkSubscriptionItem({ plan: "business" })]),
      ),
    ).toBe("provisioned");
    expect(await h.send("user.created", user)).toBe("provisioned");
    expect(await h.send("organization.created", team)).toBe("provisioned");
    expect(
      await h.send(
        "organizationMembership.created",
        clerkMembership({ organizationId: teamId, userId, organization: team }),
      ),
    ).toBe("provisioned");
    const body = await h.meBody<MeBody>(h.signer.token({ sub: userId }));
    expect(body.user.subscriptionTier).toBe("pro");
    expect(body.organizations).toEqual([expect.objectContaining({ id: teamId, subscriptionTier: "business" })]);
  });

  test("a user provisioned just in time by /v1/me takes the plan that arrived before it", async () => {
    const { id: userId, token } = h.signUp();
    expect(await h.send("subscriptionItem.active", clerkSubscriptionItem({ plan: "gold", payer: { userId } }))).toBe(
      "provisioned",
    );
    const body = await h.meBody<MeBody>(token);
    expect(body.user).toEqual(expect.objectContaining({ id: userId, subscriptionTier: "gold" }));
  });
});
