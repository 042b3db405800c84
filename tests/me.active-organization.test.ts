import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkUser } from "./helpers/clerk.js";
import {
  clerkOptions,
  createSessionSigner,
  type FakeClerkApi,
  type SessionSigner,
  startFakeClerkApi,
} from "./helpers/clerk-session.js";
import { drivers } from "./helpers/database.js";
import { expectError } from "./helpers/expect-error.js";
import { createHarness, type Harness } from "./helpers/harness.js";

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
