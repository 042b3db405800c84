import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createLookupCache } from "../src/accounts/lookup-cache.js";
import { clerkEvent, clerkUser } from "./helpers/clerk.js";
import { clerkMembership, clerkOrganization, newOrganizationId } from "./helpers/clerk-organizations.js";
import {
  clerkOptions,
  createSessionSigner,
  type FakeClerkApi,
  type SessionSigner,
  startFakeClerkApi,
} from "./helpers/clerk-session.js";
import { drivers } from "./helpers/database.js";
import { expectError } from "./helpers/expect-error.js";
import { createHarness, describeResponse, type Harness } from "./helpers/harness.js";

interface MeBody {
  user: { id: string };
  organizations: { id: string; role: string }[];
}

/** The token's active organization (`o.id`, `org_id`): what it costs Clerk, and what is refused before Clerk is asked. */
describe.each(drivers())("/v1/me's active organization on $name", ({ open }) => {
  let h: Harness;
  let api: FakeClerkApi;
  let signer: SessionSigner;
  beforeAll(async () => {
    signer = createSessionSigner();
    api = await startFakeClerkApi();
    h = createHarness(await open(), { clerk: clerkOptions(signer, api) });
  });
  afterAll(async () => {
    await h?.close();
    await api?.close();
  });

  const request = (token: string) => h.app.request("/v1/me", { headers: { authorization: `Bearer ${token}` } });
  const me = async (token: string): Promise<MeBody> => {
    const res = await request(token);
    expect(res.status, await describeResponse(res)).toBe(200);
    return (await res.json()) as MeBody;
  };
  const deliver = async (type: string, data: Record<string, unknown>) => {
    const res = await h.deliver(clerkEvent(type, data));
    expect(res.status, await describeResponse(res)).toBe(200);
  };
  /** Clerk requests about `organizationId` (its lookup and its memberships' listing), once all are answered. */
  const clerkRequestsFor = async (organizationId: string) => {
    await expect.poll(() => api.inFlight).toBe(0);
    return api.requests.filter((r) => r.path.startsWith(`/v1/organizations/${organizationId}`)).length;
  };
  /** A user provisioned by its webhook, with one stored team (so that "its stored organizations" are not empty). */
  const signedUp = async () => {
    const user = clerkUser();
    const userId = user.id as string;
    api.users.set(userId, user);
    await deliver("user.created", user);
    const home = clerkOrganization({ name: "Home Team" });
    const homeId = home.id as string;
    await deliver("organization.created", home);
    await deliver(
      "organizationMembership.created",
      clerkMembership({ organizationId: homeId, userId, organization: home }),
    );
    return { userId, homeId };
  };
  /** `userId` joins `organization` in (fake) Clerk only: its webhooks have not come. */
  const joinInClerk = (organization: Record<string, unknown>, userId: string) => {
    const organizationId = organization.id as string;
    api.organizations.set(organizationId, organization);
    const membership = clerkMembership({ organizationId, userId, role: "org:admin", organization });
    api.memberships.set(membership.id as string, membership);
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
    const token = signer.token({ sub: userId, o: { id: madeUp } });
    for (let i = 0; i < 20; i++) {
      expect((await me(token)).organizations.map((o) => o.id)).toEqual([homeId]);
    }
    const answers = await Promise.all(Array.from({ length: 30 }, () => me(token)));
    for (const answer of answers) expect(answer.organizations.map((o) => o.id)).toEqual([homeId]);
    const asked = await clerkRequestsFor(madeUp);
    console.info(`Clerk requests for 20 sequential + 30 concurrent /v1/me naming a made-up organization: ${asked}`);
    expect(api.organizationLookups.filter((id) => id === madeUp)).toHaveLength(1);
    expect(asked).toBe(1);
    expect(await stored(madeUp)).toEqual({ organizations: 0, memberships: 0 });
  });

  test("100 concurrent /v1/me naming an organization the user is not a member of ask Clerk once", async () => {
    const { userId } = await signedUp();
    const organization = clerkOrganization();
    const organizationId = organization.id as string;
    api.organizations.set(organizationId, organization);
    const token = signer.token({ sub: userId, org_id: organizationId });
    await Promise.all(Array.from({ length: 100 }, () => me(token)));
    expect(await clerkRequestsFor(organizationId)).toBe(2);
  });

  test("'not found' is remembered until a webhook for that organization: then Clerk is asked again", async () => {
    const { userId, homeId } = await signedUp();
    const organization = clerkOrganization({ name: "Brand New" });
    const organizationId = organization.id as string;
    const token = signer.token({ sub: userId, o: { id: organizationId } });
    expect((await me(token)).organizations.map((o) => o.id)).toEqual([homeId]); // Clerk has no such organization yet

    joinInClerk(organization, userId); // created in Clerk, the user its admin; no webhook yet
    await me(token);
    expect(await clerkRequestsFor(organizationId)).toBe(1);
    await deliver("organization.created", clerkOrganization({ name: "Somebody Else's" })); // another organization
    await me(token);
    expect(await clerkRequestsFor(organizationId)).toBe(1);

    await deliver("organization.created", organization);
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
    api.organizations.set(organizationId, organization);
    const token = signer.token({ sub: userId, o: { id: organizationId } });
    expect((await me(token)).organizations.map((o) => o.id)).toEqual([homeId]);
    expect(await clerkRequestsFor(organizationId)).toBe(2);

    // Removed (that membership was never stored here) and invited again: Clerk has a new membership.
    const removed = clerkMembership({ organizationId, userId, organization });
    joinInClerk(organization, userId);
    await me(token);
    expect(await clerkRequestsFor(organizationId)).toBe(2);
    const other = await signedUp();
    await deliver("organizationMembership.deleted", clerkMembership({ organizationId, userId: other.userId }));
    await me(token);
    expect(await clerkRequestsFor(organizationId)).toBe(2);

    await deliver("organizationMembership.deleted", removed);
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
    api.intercept = (r) => (r.path.startsWith("/v1/organizations/") ? { status: 500 } : undefined);
    const token = signer.token({ sub: userId, o: { id: organizationId } });
    try {
      const body = await me(token);
      expect(body.user.id).toBe(userId);
      expect(body.organizations.map((o) => o.id)).toEqual([homeId]);
    } finally {
      api.intercept = undefined;
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
    api.intercept = (r) => {
      if (r.path === `/v1/organizations/${madeUp}`) return { status: 200, body: other };
      if (r.path === `/v1/organizations/${madeUp}/memberships`)
        return { status: 200, body: { data: [], total_count: 0 } };
      return undefined;
    };
    const token = signer.token({ sub: userId, o: { id: madeUp } });
    try {
      for (let i = 0; i < 3; i++) expect((await me(token)).organizations.map((o) => o.id)).toEqual([homeId]);
    } finally {
      api.intercept = undefined;
    }
    expect(await stored(other.id as string)).toEqual({ organizations: 0, memberships: 0 });
    expect(await clerkRequestsFor(madeUp)).toBe(1);
  });

  test("CLERK_LOOKUP_CACHE_SECONDS=0: a made-up organization is not remembered", async () => {
    const uncached = createHarness(h.database, { clerk: { ...clerkOptions(signer, api), lookupCacheSeconds: 0 } });
    const { userId } = await signedUp();
    const madeUp = newOrganizationId();
    const token = signer.token({ sub: userId, o: { id: madeUp } });
    for (let i = 0; i < 3; i++) {
      const res = await uncached.app.request("/v1/me", { headers: { authorization: `Bearer ${token}` } });
      expect(res.status, await describeResponse(res)).toBe(200);
    }
    expect(api.organizationLookups.filter((id) => id === madeUp)).toHaveLength(3);
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
    const user = clerkUser();
    api.users.set(user.id as string, user);
    const before = { requests: api.requests.length, counts: await h.counts() };
    const res = await request(signer.token({ sub: user.id as string, ...claims }));
    await expectError(res, 401, "unauthenticated");
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(api.requests.length).toBe(before.requests);
    expect(await h.counts()).toEqual(before.counts);
  });
});

test("the lookup cache remembers 'not a member' per user and organization, until its time or a webhook", async () => {
  let clock = 0;
  const cache = createLookupCache({ ttlMs: 60_000, now: () => clock });
  const notMember = async () => ({ kind: "not_member" }) as const;
  await cache.sharedOrganization("org_a", "user_a", notMember);
  await cache.sharedOrganization("org_a", "user_b", notMember);
  await cache.sharedOrganization("org_b", "user_a", async () => ({ kind: "applied" }) as const);
  expect(cache.isNotMember("org_a", "user_a")).toBe(true);
  expect(cache.isNotMember("org_b", "user_a")).toBe(false);
  expect(cache.isNotMember("user_a", "org_a")).toBe(false);

  cache.forgetOrganization("org_a", "user_a"); // a membership webhook
  expect(cache.isNotMember("org_a", "user_a")).toBe(false);
  expect(cache.isNotMember("org_a", "user_b")).toBe(true);
  cache.forgetOrganization("org_a"); // an organization webhook
  expect(cache.isNotMember("org_a", "user_b")).toBe(false);

  await cache.sharedOrganization("org_c", "user_a", notMember);
  clock = 59_999;
  expect(cache.isNotMember("org_c", "user_a")).toBe(true);
  clock = 60_000;
  expect(cache.isNotMember("org_c", "user_a")).toBe(false);

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
