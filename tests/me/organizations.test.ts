import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkMembership, clerkOrganization, newOrganizationId } from "../helpers/clerk-organizations.js";
import { drivers } from "../helpers/database.js";
import { type MeHarness, openMeHarness } from "../helpers/me-harness.js";

interface MeBody {
  user: { id: string };
  organizations: { id: string; name: string; slug: string | null; imageUrl: string | null; role: string }[];
}

describe.each(drivers())("/v1/me organizations on $name", ({ open }) => {
  let h: MeHarness;
  beforeAll(async () => {
    h = await openMeHarness(await open());
  });
  afterAll(() => h?.close());

  const me = (token: string) => h.meBody<MeBody>(token);
  /** A user provisioned by its webhook, known to (fake) Clerk. */
  const signedUp = async () => {
    const { id, user } = h.signUp();
    expect(await h.send("user.created", user)).toBe("provisioned");
    return id;
  };
  /** An organization with the user as a member, in (fake) Clerk only. */
  const inClerk = (userId: string, role = "org:admin", name = "New Team") => {
    const organization = clerkOrganization({ name, updatedAt: 1_700_000_000_500 });
    const membership = clerkMembership({ organizationId: organization.id as string, userId, role, organization });
    h.api.organizations.set(organization.id as string, organization);
    h.api.memberships.set(membership.id as string, membership);
    return { organization, membership, id: organization.id as string };
  };
  const stored = async (organizationId: string) =>
    (
      await h.database.query<{ organizations: number; memberships: number }>(
        `SELECT (SELECT count(*)::int FROM organizations WHERE id = $1) AS organizations,
                (SELECT count(*)::int FROM organization_memberships WHERE organization_id = $1) AS memberships`,
        [organizationId],
      )
    )[0];

  test("a serialization failure and a deadlock while applying the active organization just in time are retried", async () => {
    const userId = await signedUp();
    const team = inClerk(userId, "org:admin", "Retried Team");
    // The membership's write fails twice, as PostgreSQL fails a transaction it asks to be retried (40001, 40P01).
    // A sequence counts the attempts: nextval is not rolled back with them.
    await h.database.query("CREATE SEQUENCE jit_attempts");
    await h.database.query(`CREATE FUNCTION fail_twice() RETURNS trigger LANGUAGE plpgsql AS $fn$
      DECLARE attempt bigint := nextval('jit_attempts');
      BEGIN
        IF attempt = 1 THEN RAISE EXCEPTION 'forced serialization failure' USING ERRCODE = '40001'; END IF;
        IF attempt = 2 THEN RAISE EXCEPTION 'forced deadlock' USING ERRCODE = '40P01'; END IF;
        RETURN NEW;
      END $fn$`);
    await h.database.query(
      `CREATE TRIGGER fail_twice BEFORE INSERT ON organization_memberships FOR EACH ROW
       WHEN (NEW.organization_id = '${team.id}') EXECUTE FUNCTION fail_twice()`,
    );
    try {
      const body = await me(h.signer.token({ sub: userId, o: { id: team.id } }));
      expect(body.organizations.map((o) => [o.id, o.role])).toEqual([[team.id, "org:admin"]]);
      expect(await h.database.query("SELECT last_value::int AS n FROM jit_attempts")).toEqual([{ n: 3 }]);
      expect(await stored(team.id)).toEqual({ organizations: 1, memberships: 1 });
    } finally {
      await h.database.query("DROP TRIGGER fail_twice ON organization_memberships");
      await h.database.query("DROP FUNCTION fail_twice()");
      await h.database.query("DROP SEQUENCE jit_attempts");
    }
  });

  test("lists the user's memberships with their roles, without asking Clerk when no organization is active", async () => {
    const userId = await signedUp();
    const a = inClerk(userId, "org:admin", "Alpha");
    const b = inClerk(userId, "org:member", "Beta");
    for (const team of [a, b]) {
      await h.send("organization.created", team.organization);
      await h.send("organizationMembership.created", team.membership);
    }
    const body = await me(h.signer.token({ sub: userId }));
    expect(body.organizations).toEqual([
      {
        id: a.id,
        name: "Alpha",
        slug: a.organization.slug,
        imageUrl: "https://img.clerk.com/xxxxxx",
        role: "org:admin",
        subscriptionTier: "free",
      },
      {
        id: b.id,
        name: "Beta",
        slug: b.organization.slug,
        imageUrl: "https://img.clerk.com/xxxxxx",
        role: "org:member",
        subscriptionTier: "free",
      },
    ]);
    expect(h.api.organizationLookups).not.toContain(a.id);
  });

  test("a user with no organization gets an empty list", async () => {
    const userId = await signedUp();
    expect((await me(h.signer.token({ sub: userId }))).organizations).toEqual([]);
  });

  test.each([
    ["v2 (o.id)", (id: string) => ({ v: 2, o: { id, rol: "admin", slg: "new-team" } })],
    ["v1 (org_id)", (id: string) => ({ org_id: id, org_role: "org:admin" })],
  ])(
    "an active organization not stored yet, named by a %s token, is fetched from Clerk; its late webhooks are stale",
    async (_, claims) => {
      const userId = await signedUp();
      const team = inClerk(userId);
      const body = await me(h.signer.token({ sub: userId, ...claims(team.id) }));
      expect(body.organizations).toEqual([
        expect.objectContaining({ id: team.id, name: "New Team", role: "org:admin" }),
      ]);
      expect(h.api.organizationLookups.filter((id) => id === team.id)).toHaveLength(1);
      expect(await h.send("organization.created", team.organization)).toBe("stale");
      expect(await h.send("organizationMembership.created", team.membership)).toBe("stale");
      const deliveries = await h.database.query<{ delivery_id: string }>(
        "SELECT delivery_id FROM clerk_deliveries WHERE delivery_id LIKE $1 ORDER BY delivery_id",
        [`jit:%${team.id.slice(4)}%`],
      );
      expect(deliveries.map((d) => d.delivery_id)).toEqual([`jit:${team.id}:1700000000500`]);
      // Stored now: asked once only.
      await me(h.signer.token({ sub: userId, ...claims(team.id) }));
      expect(h.api.organizationLookups.filter((id) => id === team.id)).toHaveLength(1);
    },
  );

  test("an active organization Clerk no longer has is not stored", async () => {
    const userId = await signedUp();
    const gone = newOrganizationId();
    expect((await me(h.signer.token({ sub: userId, o: { id: gone } }))).organizations).toEqual([]);
    expect(await stored(gone)).toEqual({ organizations: 0, memberships: 0 });
  });

  test("an active organization deleted here is not fetched from Clerk again", async () => {
    const userId = await signedUp();
    const team = inClerk(userId);
    await h.send("organization.deleted", { id: team.id, object: "organization", deleted: true });
    expect((await me(h.signer.token({ sub: userId, o: { id: team.id } }))).organizations).toEqual([]);
    expect(h.api.organizationLookups).not.toContain(team.id);
  });

  test("the race: webhooks and /v1/me for a brand-new organization at once, many rounds: one organization, one membership", async () => {
    const jitter = (ms: number) => sleep(Math.floor(Math.random() * ms));
    const webhooks: Promise<unknown>[] = [];
    const sendWebhooks = (team: ReturnType<typeof inClerk>) =>
      jitter(3).then(() =>
        Promise.all([
          h.send("organizationMembership.created", team.membership),
          h.send("organization.created", team.organization),
        ]),
      );
    const teams = new Map<string, ReturnType<typeof inClerk>>();
    // Half the rounds start the webhooks when Clerk is asked, so that they and the just-in-time writes meet.
    h.api.onOrganizationLookup = async (organizationId) => {
      const team = teams.get(organizationId);
      if (team) webhooks.push(sendWebhooks(team));
    };
    try {
      for (let round = 0; round < 20; round++) {
        const userId = await signedUp();
        const team = inClerk(userId);
        if (round % 2 === 1) teams.set(team.id, team);
        else webhooks.push(sendWebhooks(team));
        const token = h.signer.token({ sub: userId, o: { id: team.id } });
        const answers = await Promise.all(Array.from({ length: 3 }, () => jitter(4).then(() => me(token))));
        for (const answer of answers) {
          expect(answer.organizations.map((o) => o.id)).toEqual([team.id]);
        }
        await Promise.all(webhooks.splice(0));
        expect(await stored(team.id)).toEqual({ organizations: 1, memberships: 1 });
      }
    } finally {
      h.api.onOrganizationLookup = undefined;
    }
  });
});
