import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkEvent, clerkUser, newSvixId, newUserId } from "../helpers/clerk.js";
import {
  clerkMembership,
  clerkOrganization,
  type MembershipOptions,
  newMembershipId,
  newOrganizationId,
  organizationFixture,
} from "../helpers/clerk-organizations.js";
import { drivers } from "../helpers/database.js";
import { expectRejected } from "../helpers/expect-error.js";
import { createHarness, type Harness, outcomeOf, permutations } from "../helpers/harness.js";

interface OrganizationRow {
  id: string;
  name: string;
  slug: string | null;
  image_url: string | null;
  created_by: string | null;
}
interface MembershipRow {
  id: string;
  organization_id: string;
  user_id: string;
  role: string;
}

describe.each(drivers())("organizations on $name", ({ open }) => {
  let h: Harness;
  beforeAll(async () => {
    h = createHarness(await open());
  });
  afterAll(() => h.close());

  const send: Harness["send"] = (type, data, svixId) => h.send(type, data, svixId);
  const organization = async (id: string) =>
    (
      await h.database.query<OrganizationRow>(
        "SELECT id, name, slug, image_url, created_by FROM organizations WHERE id = $1",
        [id],
      )
    )[0];
  const membershipsOf = (organizationId: string) =>
    h.database.query<MembershipRow>(
      "SELECT id, organization_id, user_id, role FROM organization_memberships WHERE organization_id = $1 ORDER BY user_id",
      [organizationId],
    );
  const membershipsOfUser = (userId: string) =>
    h.database.query<MembershipRow>(
      "SELECT id, organization_id, user_id, role FROM organization_memberships WHERE user_id = $1 ORDER BY organization_id",
      [userId],
    );
  const member = (options: MembershipOptions) => clerkMembership(options);
  const deletedOrganization = (id: string) => ({ id, object: "organization", deleted: true });

  describe("Clerk's published payloads, verbatim", () => {
    test("OpenAPI: membership before its organization, then the organization's events, the role change and the delete", async () => {
      const orgId = "org_2g7np7Hrk0SN6kj5EDMLDaKNL0S";
      const userId = "user_2h8op3Isl1QR7tKu5FGNfaLKEoU";
      const deliver = async (name: string) => outcomeOf(await h.deliver(organizationFixture(`openapi.${name}`)));
      expect(await deliver("organizationMembership.created")).toBe("provisioned");
      expect(await organization(orgId)).toEqual({
        id: orgId,
        name: "Acme Corp",
        slug: "acme-corp",
        image_url: "https://img.clerk.com/xxxxxx",
        created_by: "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S",
      });
      expect(await membershipsOf(orgId)).toEqual([
        { id: "orgmem_2g7np7Hrk0SN6kj5EDMLDaKNL0S", organization_id: orgId, user_id: userId, role: "org:member" },
      ]);
      // The same updated_at as the snapshot already stored: nothing newer.
      expect(await deliver("organization.created")).toBe("stale");
      expect(await deliver("organization.updated")).toBe("provisioned");
      expect(await organization(orgId)).toMatchObject({ name: "Acme Corp Updated", slug: "acme-corp-updated" });
      expect(await deliver("organizationMembership.updated")).toBe("provisioned");
      expect((await membershipsOf(orgId))[0]?.role).toBe("org:admin");
      // Its updated_at is older than the update's: a delete is never judged stale by it.
      expect(await deliver("organizationMembership.deleted")).toBe("deleted");
      expect(await membershipsOf(orgId)).toEqual([]);
      expect(await organization(orgId)).toMatchObject({ name: "Acme Corp Updated" });
      expect(await deliver("organization.deleted")).toBe("deleted");
      expect(await organization(orgId)).toBeUndefined();
      expect(await deliver("organizationMembership.created")).toBe("stale");
      expect(await outcomeOf(await h.deliver(organizationFixture("openapi.organization.updated")))).toBe("stale");
    });

    test("Dashboard: the organization's events, two members with legacy roles, a member removed", async () => {
      const orgId = "org_29w9IfBrPmcpi0IeBVaKtA7R94W";
      const deliver = async (name: string) => outcomeOf(await h.deliver(organizationFixture(`dashboard.${name}`)));
      expect(await deliver("organization.created")).toBe("provisioned");
      expect(await organization(orgId)).toMatchObject({ name: "Acme Inc", slug: "acme-inc" });
      expect(await deliver("organization.updated")).toBe("provisioned");
      expect(await deliver("organizationMembership.created")).toBe("provisioned");
      expect(await deliver("organizationMembership.updated")).toBe("provisioned");
      expect((await membershipsOf(orgId)).map((m) => [m.user_id, m.role])).toEqual([
        ["user_29w83sxmDNGwOuEthce5gg56FcC", "admin"],
        ["user_29wACSk1DjeUCwsS6SbbgIgilMy", "basic_member"],
      ]);
      expect(await deliver("organizationMembership.deleted")).toBe("deleted");
      expect((await membershipsOf(orgId)).map((m) => m.user_id)).toEqual(["user_29w83sxmDNGwOuEthce5gg56FcC"]);
      expect(await deliver("organization.deleted")).toBe("deleted");
      expect(await organization(orgId)).toBeUndefined();
      expect(await membershipsOf(orgId)).toEqual([]);
    });

    test.each(["organizationDomain.created", "organizationDomain.updated", "organizationDomain.deleted"])(
      "OpenAPI %s is recorded and changes nothing",
      async (name) => {
        const count = async () =>
          (
            await h.database.query<{ n: string }>(
              "SELECT ((SELECT count(*) FROM organizations) + (SELECT count(*) FROM organization_memberships))::text AS n",
            )
          )[0]?.n;
        const before = await h.counts();
        const rowsBefore = await count();
        const svixId = newSvixId();
        expect(await outcomeOf(await h.deliver(organizationFixture(`openapi.${name}`), { svixId }))).toBe("ignored");
        expect(await h.counts()).toEqual({ ...before, deliveries: before.deliveries + 1 });
        expect(await count()).toBe(rowsBefore);
        const [recorded] = await h.database.query(
          "SELECT event_type, outcome FROM clerk_deliveries WHERE delivery_id = $1",
          [svixId],
        );
        expect(recorded).toEqual({ event_type: name, outcome: "ignored" });
      },
    );
  });

  describe("organization.created / .updated / .deleted", () => {
    test("upserted unless what is stored is as new or newer", async () => {
      const id = newOrganizationId();
      expect(await send("organization.created", clerkOrganization({ id, name: "One", updatedAt: 10 }))).toBe(
        "provisioned",
      );
      expect(await send("organization.updated", clerkOrganization({ id, name: "Older", updatedAt: 9 }))).toBe("stale");
      expect(await send("organization.updated", clerkOrganization({ id, name: "Same", updatedAt: 10 }))).toBe("stale");
      expect((await organization(id))?.name).toBe("One");
      expect(
        await send("organization.updated", clerkOrganization({ id, name: "Two", slug: null, updatedAt: 11 })),
      ).toBe("provisioned");
      expect(await organization(id)).toMatchObject({ name: "Two", slug: null });
    });

    test("deleted: the organization and all its memberships go; no later event brings either back", async () => {
      const id = newOrganizationId();
      const users = [newUserId(), newUserId()];
      await send("organization.created", clerkOrganization({ id, updatedAt: 10 }));
      const memberships = users.map((userId) => member({ organizationId: id, userId, updatedAt: 10 }));
      for (const m of memberships) expect(await send("organizationMembership.created", m)).toBe("provisioned");
      expect(await membershipsOf(id)).toHaveLength(2);
      expect(await send("organization.deleted", deletedOrganization(id))).toBe("deleted");
      expect(await organization(id)).toBeUndefined();
      expect(await membershipsOf(id)).toEqual([]);
      expect(await send("organization.updated", clerkOrganization({ id, updatedAt: 99 }))).toBe("stale");
      for (const m of memberships) {
        expect(await send("organizationMembership.updated", { ...m, role: "org:admin", updated_at: 99 })).toBe("stale");
      }
      expect(await send("organizationMembership.created", member({ organizationId: id, userId: newUserId() }))).toBe(
        "stale",
      );
      expect(await organization(id)).toBeUndefined();
      expect(await membershipsOf(id)).toEqual([]);
      expect(await send("organization.deleted", deletedOrganization(id))).toBe("stale");
    });

    test("deleted before it was ever seen leaves a tombstone", async () => {
      const id = newOrganizationId();
      expect(await send("organization.deleted", deletedOrganization(id))).toBe("deleted");
      expect(await send("organization.created", clerkOrganization({ id }))).toBe("stale");
      expect(await send("organizationMembership.created", member({ organizationId: id, userId: newUserId() }))).toBe(
        "stale",
      );
      expect(await organization(id)).toBeUndefined();
    });
  });

  describe("organizationMembership.created / .updated", () => {
    test("before its organization: the organization is inserted from the snapshot, never overwriting a stored one", async () => {
      const id = newOrganizationId();
      const userId = newUserId();
      const snapshot = clerkOrganization({ id, name: "From snapshot", updatedAt: 5 });
      expect(
        await send("organizationMembership.created", member({ organizationId: id, userId, organization: snapshot })),
      ).toBe("provisioned");
      expect((await organization(id))?.name).toBe("From snapshot");
      expect(await send("organization.created", clerkOrganization({ id, name: "Real", updatedAt: 6 }))).toBe(
        "provisioned",
      );
      const staleSnapshot = clerkOrganization({ id, name: "Old snapshot", updatedAt: 5 });
      const newer = member({ organizationId: id, userId: newUserId(), organization: staleSnapshot });
      expect(await send("organizationMembership.created", newer)).toBe("provisioned");
      expect((await organization(id))?.name).toBe("Real");
      expect(await membershipsOf(id)).toHaveLength(2);
    });

    test("before its user: stored; the user appears later and both are there", async () => {
      const organizationId = newOrganizationId();
      const userId = newUserId();
      expect(await send("organizationMembership.created", member({ organizationId, userId }))).toBe("provisioned");
      expect((await membershipsOfUser(userId)).map((m) => m.organization_id)).toEqual([organizationId]);
      expect(await send("user.created", clerkUser({ id: userId }))).toBe("provisioned");
      expect(await membershipsOfUser(userId)).toHaveLength(1);
      const [user] = await h.database.query("SELECT id FROM users WHERE id = $1", [userId]);
      expect(user).toEqual({ id: userId });
    });

    test("an update older than or as old as what is stored for that organization and user changes nothing", async () => {
      const organizationId = newOrganizationId();
      const userId = newUserId();
      const id = newMembershipId();
      const at = (updatedAt: number, role: string) => member({ id, organizationId, userId, role, updatedAt });
      expect(await send("organizationMembership.created", at(10, "org:member"))).toBe("provisioned");
      expect(await send("organizationMembership.updated", at(12, "org:admin"))).toBe("provisioned");
      expect(await send("organizationMembership.updated", at(11, "org:billing"))).toBe("stale");
      expect(await send("organizationMembership.updated", at(12, "org:billing"))).toBe("stale");
      expect((await membershipsOf(organizationId)).map((m) => m.role)).toEqual(["org:admin"]);
    });

    test("30 copies of one delivery at once: one applied, 29 duplicates, one membership", async () => {
      const organizationId = newOrganizationId();
      const userId = newUserId();
      const payload = clerkEvent("organizationMembership.created", member({ organizationId, userId }));
      const svixId = newSvixId();
      const outcomes = await Promise.all(
        Array.from({ length: 30 }, async () => outcomeOf(await h.deliver(payload, { svixId }))),
      );
      expect(outcomes.filter((o) => o === "provisioned")).toHaveLength(1);
      expect(outcomes.filter((o) => o === "duplicate")).toHaveLength(29);
      expect(await membershipsOf(organizationId)).toHaveLength(1);
      const [row] = await h.database.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM clerk_deliveries WHERE delivery_id = $1",
        [svixId],
      );
      expect(row?.n).toBe(1);
    });

    test("30 different deliveries for one membership at once leave the newest role", async () => {
      const organizationId = newOrganizationId();
      const userId = newUserId();
      const id = newMembershipId();
      await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          send(
            i === 0 ? "organizationMembership.created" : "organizationMembership.updated",
            member({ id, organizationId, userId, role: `org:role_${i}`, updatedAt: 1000 + i }),
          ),
        ),
      );
      expect((await membershipsOf(organizationId)).map((m) => m.role)).toEqual(["org:role_29"]);
    });
  });

  describe("organizationMembership.deleted", () => {
    /** The three events of one membership, each embedding the same snapshot of its organization. */
    const events = (organizationId: string, userId: string, id: string) => {
      const organization = clerkOrganization({ id: organizationId });
      const at = (updatedAt: number, role?: string) =>
        member({ id, organizationId, userId, organization, updatedAt, ...(role ? { role } : {}) });
      return {
        organization,
        created: ["organizationMembership.created", at(10)] as const,
        updated: ["organizationMembership.updated", at(20, "org:admin")] as const,
        // Older than the update, as in both of Clerk's example sets.
        deleted: ["organizationMembership.deleted", at(10)] as const,
      };
    };
    type EventName = "created" | "updated" | "deleted";

    test.each(permutations<EventName>(["created", "updated", "deleted"]))(
      "created, updated and deleted in the order %s %s %s: deleted, the organization kept from the snapshot",
      async (...order) => {
        const organizationId = newOrganizationId();
        const userId = newUserId();
        const all = events(organizationId, userId, newMembershipId());
        for (const name of order) await send(all[name][0], all[name][1]);
        expect(await membershipsOf(organizationId)).toEqual([]);
        expect(await organization(organizationId)).toEqual({
          id: organizationId,
          name: all.organization.name,
          slug: all.organization.slug,
          image_url: all.organization.image_url,
          created_by: null,
        });
      },
    );

    test.each(permutations<EventName>(["created", "updated"]))(
      "created and updated in the order %s %s: the newest role",
      async (...order) => {
        const organizationId = newOrganizationId();
        const all = events(organizationId, newUserId(), newMembershipId());
        for (const name of order) await send(all[name][0], all[name][1]);
        expect((await membershipsOf(organizationId)).map((m) => m.role)).toEqual(["org:admin"]);
      },
    );

    test("the three at once, many times: never a membership left", async () => {
      for (let round = 0; round < 10; round++) {
        const organizationId = newOrganizationId();
        const all = events(organizationId, newUserId(), newMembershipId());
        await Promise.all([send(...all.created), send(...all.updated), send(...all.deleted)]);
        expect(await membershipsOf(organizationId)).toEqual([]);
      }
    });

    test("a re-join (a new membership id) after a delete is a member again; the old id stays deleted", async () => {
      const organizationId = newOrganizationId();
      const userId = newUserId();
      const first = newMembershipId();
      const second = newMembershipId();
      await send("organizationMembership.created", member({ id: first, organizationId, userId, updatedAt: 10 }));
      expect(
        await send("organizationMembership.deleted", member({ id: first, organizationId, userId, updatedAt: 10 })),
      ).toBe("deleted");
      expect(
        await send("organizationMembership.created", member({ id: second, organizationId, userId, updatedAt: 30 })),
      ).toBe("provisioned");
      expect(
        await send("organizationMembership.updated", member({ id: first, organizationId, userId, updatedAt: 40 })),
      ).toBe("stale");
      expect((await membershipsOf(organizationId)).map((m) => m.id)).toEqual([second]);
    });

    test("the old membership id's delete, arriving after the re-join, does not remove the new membership", async () => {
      const organizationId = newOrganizationId();
      const userId = newUserId();
      const first = newMembershipId();
      const second = newMembershipId();
      // The re-join comes first; the old membership's created and deleted arrive late.
      await send("organizationMembership.created", member({ id: second, organizationId, userId, updatedAt: 30 }));
      expect(
        await send("organizationMembership.created", member({ id: first, organizationId, userId, updatedAt: 10 })),
      ).toBe("stale");
      expect(
        await send("organizationMembership.deleted", member({ id: first, organizationId, userId, updatedAt: 10 })),
      ).toBe("deleted");
      expect((await membershipsOf(organizationId)).map((m) => m.id)).toEqual([second]);
    });

    test("a newer membership id replaces the older one in place; the old id's delete then removes nothing", async () => {
      const organizationId = newOrganizationId();
      const userId = newUserId();
      const first = newMembershipId();
      const second = newMembershipId();
      await send("organizationMembership.created", member({ id: first, organizationId, userId, updatedAt: 10 }));
      await send("organizationMembership.created", member({ id: second, organizationId, userId, updatedAt: 30 }));
      await send("organizationMembership.deleted", member({ id: first, organizationId, userId, updatedAt: 10 }));
      expect((await membershipsOf(organizationId)).map((m) => m.id)).toEqual([second]);
    });
  });

  test("organization deleted while its memberships are updated at once: nothing left, nothing comes back", async () => {
    for (let round = 0; round < 5; round++) {
      const organizationId = newOrganizationId();
      await send("organization.created", clerkOrganization({ id: organizationId, updatedAt: 10 }));
      const memberships = Array.from({ length: 8 }, () => member({ organizationId, userId: newUserId() }));
      for (const m of memberships) await send("organizationMembership.created", m);
      await Promise.all([
        ...memberships.map((m, i) =>
          send("organizationMembership.updated", { ...m, role: "org:admin", updated_at: 2_000_000_000_000 + i }),
        ),
        send("organization.deleted", deletedOrganization(organizationId)),
        ...memberships.map((m) =>
          send(
            "organizationMembership.created",
            member({ organizationId, userId: (m.public_user_data as { user_id: string }).user_id }),
          ),
        ),
      ]);
      expect(await organization(organizationId)).toBeUndefined();
      expect(await membershipsOf(organizationId)).toEqual([]);
    }
  });

  test("user.deleted removes the user's memberships in three organizations; none comes back", async () => {
    const userId = newUserId();
    const other = newUserId();
    await send("user.created", clerkUser({ id: userId }));
    const organizationIds = [newOrganizationId(), newOrganizationId(), newOrganizationId()];
    const memberships = organizationIds.map((organizationId) => member({ organizationId, userId, updatedAt: 10 }));
    for (const m of memberships) await send("organizationMembership.created", m);
    await send(
      "organizationMembership.created",
      member({ organizationId: organizationIds[0] as string, userId: other }),
    );
    expect(await membershipsOfUser(userId)).toHaveLength(3);
    expect(await send("user.deleted", { id: userId, object: "user", deleted: true })).toBe("deleted");
    expect(await membershipsOfUser(userId)).toEqual([]);
    expect(await membershipsOfUser(other)).toHaveLength(1);
    for (const m of memberships) {
      expect(await send("organizationMembership.updated", { ...m, updated_at: 99 })).toBe("stale");
    }
    expect(await send("organizationMembership.created", member({ organizationId: newOrganizationId(), userId }))).toBe(
      "stale",
    );
    expect(await membershipsOfUser(userId)).toEqual([]);
    expect((await h.database.query("SELECT id FROM organizations WHERE id = ANY($1)", [organizationIds])).length).toBe(
      3,
    );
  });

  test("user.deleted while the user's memberships are written at once: none left", async () => {
    for (let round = 0; round < 5; round++) {
      const userId = newUserId();
      await send("user.created", clerkUser({ id: userId }));
      await Promise.all([
        ...Array.from({ length: 4 }, () =>
          send("organizationMembership.created", member({ organizationId: newOrganizationId(), userId })),
        ),
        send("user.deleted", { id: userId, object: "user", deleted: true }),
      ]);
      expect(await membershipsOfUser(userId)).toEqual([]);
    }
  });

  describe("invalid payloads: 422 naming the field, nothing written", () => {
    const organizationId = "org_invalid";
    const valid = () => member({ organizationId, userId: "user_invalid" });
    test.each([
      ["a numeric user id", { public_user_data: { user_id: 42 } }, "data.public_user_data.user_id"],
      ["no embedded organization", { organization: undefined }, "data.organization"],
      ["a role that is not text", { role: ["org:admin"] }, "data.role"],
      ["a membership id of a kilobyte", { id: `orgmem_${"x".repeat(1024)}` }, "data.id"],
      ["an updated_at that is text", { updated_at: "yesterday" }, "data.updated_at"],
    ])("membership with %s", async (_, change, field) => {
      const payload = clerkEvent("organizationMembership.created", { ...valid(), ...change });
      const error = await expectRejected(h, () => h.deliver(payload), 422, "invalid_payload");
      expect(error.message).toContain(field);
      expect(await organization(organizationId)).toBeUndefined();
    });

    test.each([
      ["organization.created", { ...clerkOrganization({ id: organizationId }), name: null }, "data.name"],
      ["organization.updated", { ...clerkOrganization(), id: "org_".padEnd(300, "y") }, "data.id"],
      ["organization.deleted", { object: "organization", deleted: true }, "data.id"],
    ])("%s with a bad field", async (type, data, field) => {
      const error = await expectRejected(h, () => h.deliver(clerkEvent(type, data)), 422, "invalid_payload");
      expect(error.message).toContain(field);
      expect(await organization(organizationId)).toBeUndefined();
    });
  });

  test("logs ids, type and outcome, and no names or e-mail addresses", async () => {
    const organizationId = newOrganizationId();
    const userId = newUserId();
    const svixId = newSvixId();
    const data = member({ organizationId, userId });
    await send("organizationMembership.created", data, svixId);
    const line = h.logs.find((l) => l.svixId === svixId);
    expect(line).toMatchObject({
      type: "organizationMembership.created",
      userId,
      organizationId,
      membershipId: data.id,
      outcome: "provisioned",
    });
    expect(JSON.stringify(line)).not.toMatch(/jane\.doe@acme\.com|Acme Corp|Jane/);
  });
});
