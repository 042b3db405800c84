import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createLookupCache } from "../../src/accounts/lookup-cache.js";
import { clerkMembership, clerkOrganization, newOrganizationId } from "../helpers/clerk-organizations.js";
import { clerkOptions } from "../helpers/clerk-session.js";
import { drivers } from "../helpers/database.js";
import { expectError } from "../helpers/expect-error.js";
import { createHarness, describeResponse } from "../helpers/harness.js";
import { bearer, type MeHarness, openMeHarness } from "../helpers/me-harness.js";

interface MeBody {
  user: { id: string };
  organizations: { id: string; role: string }[];
}

/** The token's active organization (`o.id`, `org_id`): what it costs Clerk, and what is refused before Clerk is asked. */
describe.each(drivers())("/v1/me's active organization on $name", ({ open }) => {
  let h: MeHarness;
  beforeAll(async () => {
    h = await openMeHarness(await open());
  });
  afterAll(() => h?.close());

  const me = (token: string) => h.meBody<MeBody>(token);
  /** Clerk requests about `organizationId` (its lookup and its memberships' listing), once all are answered. */
  const clerkRequestsFor = async (organizationId: string) => {
    await expect.poll(() => h.api.inFlight).toBe(0);
    return h.api.requests.filter((r) => r.path.startsWith(`/v1/organizations/${organizationId}`)).length;
  };
  /** A user provisioned by its webhook, with one stored team (so that "its stored organizations" are not empty). */
  const signedUp = async () => {
    const { id: userId, user } = h.signUp();
    await h.send("user.created", user);
    const home = clerkOrganization({ name: "Home Team" });
    const homeId = home.id as string;
    await h.send("organization.created", home);
    await h.send(
      "organizationMembership.created",
      clerkMembership({ organizationId: homeId, userId, organization: home }),
    );
    return { userId, homeId };
  };
  /** `userId` joins `organization` in (fake) Clerk only: its webhooks have not come. */
  const joinInClerk = (organization: Record<string, unknown>, userId: string) => {
    const organizationId = organization.id as string;
    h.api.organizations.set(organizationId, organization);
    const membership = clerkMembership({ organizationId, userId, role: "org:admin", organization });
    h.api.memberships.set(membership.id as string, membership);
    return membership;
  };
  const stored = async (organizationId: string) =>
    (
      await h.database.query<{ organizations: number; memberships: number }>(
        `SELECT (SELECT count(*)::int FROM organizations WHERE id = $1) AS organizations,
                (SELECT count(*)::int FROM organization_memberships WHERE organization_id = $1) AS memberships`,
        [organizationId],
      )
    )[0];

  test("a made-up active organization: 20 sequential and 30 concurrent /v1/me ask Clerk once, and answer the stored ones", async () => {
    const { userId, homeId } = await signedUp();
    const madeUp = newOrganizationId();
    const token = h.signer.token({ sub: userId, o: { id: madeUp } });
    for (let i = 0; i < 20; i++) {
      expect((await me(token)).organizations.map((o) => o.id)).toEqual([homeId]);
    }
    const answers = await Promise.all(Array.from({ length: 30 }, () => me(token)));
    for (const answer of answers) expect(answer.organizations.map((o) => o.id)).toEqual([homeId]);
    const asked = await clerkRequestsFor(madeUp);
    console.info(`Clerk requests for 20 sequential + 30 concurrent /v1/me naming a made-up organization: ${asked}`);
    expect(h.api.organizationLookups.filter((id) => id === madeUp)).toHaveLength(1);
    expect(asked).toBe(1);
    expect(await stored(madeUp)).toEqual({ organizations: 0, memberships: 0 });
  });

  test("100 concurrent /v1/me naming an organization the user is not a member of ask Clerk once", async () => {
    const { userId } = await signedUp();
    const organization = clerkOrganization();
    const organizationId = organization.id as string;
    h.api.organizations.set(organizationId, organization);
    const token = h.signer.token({ sub: userId, org_id: organizationId });
    await Promise.all(Array.from({ length: 100 }, () => me(token)));
    expect(await clerkRequestsFor(organizationId)).toBe(2);
  });

  test("'not found' is remembered until a webhook for that organization: then Clerk is asked again", async () => {
    const { userId, homeId } = await signedUp();
    const organization = clerkOrganization({ name: "Brand New" });
    const organizationId = organization.id as string;
    const token = h.signer.token({ sub: userId, o: { id: organizationId } });
    expect((await me(token)).organizations.map((o) => o.id)).toEqual([homeId]); // Clerk has no such organization yet

    joinInClerk(organization, userId); // created in Clerk, the user its admin; no webhook yet
    await me(token);
    expect(await clerkRequestsFor(organizationId)).toBe(1);
    await h.send("organization.created", clerkOrganization({ name: "Somebody Else's" })); // another organization
    await me(token);
    expect(await clerkRequestsFor(organizationId)).toBe(1);

    await h.send("organization.created", organization);
    const body = await me(token);
    expect(body.organizations.map((o) => [o.id, o.role])).toEqual([
      [organizationId, "org:admin"],
      [homeId, "org:member"],
    ]);
    expect(await clerkRequestsFor(organizationId)).toBe(3);
  });

  test("'not a member' is remembered until a webhook for that membership: then Clerk is asked again", async () => {
    const { userId, homeId } = await signedUp();
    const organization = clerkOrganization({ name: "A Team" });
    const organizationId = organization.id as string;
    h.api.organizations.set(organizationId, organization);
    const token = h.signer.token({ sub: userId, o: { id: organizationId } });
    expect((await me(token)).organizations.map((o) => o.id)).toEqual([homeId]);
    expect(await clerkRequestsFor(organizationId)).toBe(2);

    // Removed (that membership was never stored here) and invited again: Clerk has a new membership.
    const removed = clerkMembership({ organizationId, userId, organization });
    joinInClerk(organization, userId);
    await me(token);
    expect(await clerkRequestsFor(organizationId)).toBe(2);
    const other = await signedUp();
    await h.send("organizationMembership.deleted", clerkMembership({ organizationId, userId: other.userId }));
    await me(token);
    expect(await clerkRequestsFor(organizationId)).toBe(2);

    await h.send("organizationMembership.deleted", removed);
    const body = await me(token);
    expect(body.organizations.map((o) => [o.id, o.role])).toEqual([
      [organizationId, "org:admin"],
      [homeId, "org:member"],
    ]);
    expect(await clerkRequestsFor(organizationId)).toBe(4);
    expect(await stored(organizationId)).toEqual({ organizations: 1, memberships: 1 });
  });

  test("Clerk failing the active organization's lookup: 200 with the user and its stored organizations, nothing remembered", async () => {
    const { userId, homeId } = await signedUp();
    const organization = clerkOrganization();
    const organizationId = organization.id as string;
    joinInClerk(organization, userId);
    h.api.intercept = (r) => (r.path.startsWith("/v1/organizations/") ? { status: 500 } : undefined);
    const token = h.signer.token({ sub: userId, o: { id: organizationId } });
    try {
      const body = await me(token);
      expect(body.user.id).toBe(userId);
      expect(body.organizations.map((o) => o.id)).toEqual([homeId]);
    } finally {
      h.api.intercept = undefined;
    }
    expect(await stored(organizationId)).toEqual({ organizations: 0, memberships: 0 });
    expect(h.logs).toContainEqual(
      expect.objectContaining({ level: 40, userId, organizationId, msg: "Clerk organization lookup failed" }),
    );
    // Clerk answers again: the organization is confirmed and applied.
    expect((await me(token)).organizations.map((o) => o.id)).toEqual([organizationId, homeId]);
  });

  test("Clerk answering the lookup with another organization (found by its slug): not stored, remembered as none", async () => {
    const { userId, homeId } = await signedUp();
    const madeUp = newOrganizationId();
    const other = clerkOrganization({ slug: madeUp });
    h.api.intercept = (r) => {
      if (r.path === `/v1/organizations/${madeUp}`) return { status: 200, body: other };
      if (r.path === `/v1/organizations/${madeUp}/memberships`)
        return { status: 200, body: { data: [], total_count: 0 } };
      return undefined;
    };
    const token = h.signer.token({ sub: userId, o: { id: madeUp } });
    try {
      for (let i = 0; i < 3; i++) expect((await me(token)).organizations.map((o) => o.id)).toEqual([homeId]);
    } finally {
      h.api.intercept = undefined;
    }
    expect(await stored(other.id as string)).toEqual({ organizations: 0, memberships: 0 });
    expect(await clerkRequestsFor(madeUp)).toBe(1);
  });

  test("CLERK_LOOKUP_CACHE_SECONDS=0: a made-up organization is not remembered", async () => {
    const uncached = createHarness(h.database, { clerk: { ...clerkOptions(h.signer, h.api), lookupCacheSeconds: 0 } });
    const { userId } = await signedUp();
    const madeUp = newOrganizationId();
    const token = h.signer.token({ sub: userId, o: { id: madeUp } });
    for (let i = 0; i < 3; i++) {
      const res = await uncached.app.request("/v1/me", { headers: bearer(token) });
      expect(res.status, await describeResponse(res)).toBe(200);
    }
    expect(h.api.organizationLookups.filter((id) => id === madeUp)).toHaveLength(3);
  });

  const notOrganizationIds = [
    ".",
    "..",
    "org_x/../../users/user_abc",
    "org_x%2F..",
    "org_x?limit=500",
    "org_x#y",
    " org_abc",
    "org_",
    "",
    `org_${"a".repeat(100)}`,
    "user_abc",
    7,
  ];
  test.each(
    notOrganizationIds.flatMap((id) => [
      ["o.id", id, { v: 2, o: { id, rol: "admin" } }],
      ["org_id", id, { org_id: id }],
    ]),
  )("a signed token whose %s is %j: 401, Clerk is not asked, nothing written", async (_, __, claims) => {
    const { id } = h.signUp();
    const before = { requests: h.api.requests.length, counts: await h.counts() };
    const res = await h.me(h.signer.token({ sub: id, ...claims }));
    await expectError(res, 401, "unauthenticated");
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(h.api.requests.length).toBe(before.requests);
    expect(await h.counts()).toEqual(before.counts);
  });
});

const notMember = async () => ({ kind: "not_member" }) as const;

test("the lookup cache remembers 'not a member' per user and organization", async () => {
  const cache = createLookupCache({ ttlMs: 60_000, now: () => 0 });
  await cache.sharedOrganization("org_a", "user_a", notMember);
  await cache.sharedOrganization("org_b", "user_a", async () => ({ kind: "applied" }) as const);
  expect(cache.isNotMember("org_a", "user_a")).toBe(true);
  expect(cache.isNotMember("org_b", "user_a")).toBe(false);
  expect(cache.isNotMember("user_a", "org_a")).toBe(false);
});

test("the lookup cache forgets 'not a member' on a membership webhook (that user) or an organization webhook (all)", async () => {
  const cache = createLookupCache({ ttlMs: 60_000, now: () => 0 });
  await cache.sharedOrganization("org_a", "user_a", notMember);
  await cache.sharedOrganization("org_a", "user_b", notMember);
  cache.forgetOrganization("org_a", "user_a"); // a membership webhook
  expect(cache.isNotMember("org_a", "user_a")).toBe(false);
  expect(cache.isNotMember("org_a", "user_b")).toBe(true);
  cache.forgetOrganization("org_a"); // an organization webhook
  expect(cache.isNotMember("org_a", "user_b")).toBe(false);
});

test("the lookup cache forgets 'not a member' after its time", async () => {
  let clock = 0;
  const cache = createLookupCache({ ttlMs: 60_000, now: () => clock });
  await cache.sharedOrganization("org_c", "user_a", notMember);
  clock = 59_999;
  expect(cache.isNotMember("org_c", "user_a")).toBe(true);
  clock = 60_000;
  expect(cache.isNotMember("org_c", "user_a")).toBe(false);
});

test("the lookup cache never remembers an organization lookup a webhook outdated while it ran", async () => {
  const cache = createLookupCache({ ttlMs: 60_000, now: () => 0 });
  let finish: (value: { kind: "not_member" }) => void = () => {};
  const running = cache.sharedOrganization(
    "org_d",
    "user_a",
    () => new Promise<{ kind: "not_member" }>((resolve) => (finish = resolve)),
  );
  const joined = cache.sharedOrganization("org_d", "user_a", async () => ({ kind: "applied" }) as const);
  cache.forgetOrganization("org_d"); // the webhook arrived while Clerk was being asked
  finish({ kind: "not_member" });
  expect(await running).toEqual({ kind: "not_member" });
  expect(await joined).toEqual({ kind: "not_member" });
  expect(cache.isNotMember("org_d", "user_a")).toBe(false);
});

test("a caller that asks after a lookup ended gets its remembered 'not a member', not a new lookup (found under load)", async () => {
  const cache = createLookupCache({ ttlMs: 60_000, now: () => 0 });
  let lookups = 0;
  const lookup = async () => {
    lookups++;
    return { kind: "not_member" } as const;
  };
  // /v1/me checks isNotMember, reads the database, then asks: the first lookup can end in between.
  expect(cache.isNotMember("org_e", "user_a")).toBe(false);
  await cache.sharedOrganization("org_e", "user_a", lookup);
  expect(await cache.sharedOrganization("org_e", "user_a", lookup)).toEqual({ kind: "not_member" });
  expect(lookups).toBe(1);
});
