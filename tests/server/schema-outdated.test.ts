import { afterAll, beforeAll, describe, expect, test } from "vitest";
import journal from "../../migrations/meta/_journal.json" with { type: "json" };
import { clerkEvent, clerkUser, type SignedDelivery, signDelivery } from "../helpers/clerk.js";
import { clerkMembership, clerkOrganization } from "../helpers/clerk-organizations.js";
import {
  clerkOptions,
  createSessionSigner,
  type FakeClerkApi,
  type SessionSigner,
  startFakeClerkApi,
} from "../helpers/clerk-session.js";
import { drivers, migrationsBefore } from "../helpers/database.js";
import { expectError, expectRejected } from "../helpers/expect-error.js";
import { createHarness, describeResponse, type Harness } from "../helpers/harness.js";

/**
 * A database whose newer migrations were never applied (the deploy's migrate step failed or was skipped, an old backup
 * restored): every delivery and `/v1/me` is a 503, so that Svix keeps the delivery until the operator migrates, never
 * a 500; once migrated, the very same deliveries are applied. Cut before 0004 (tables missing: statements would fail)
 * and before the newest migration (the statements would still run: only the schema gate stops them).
 */
const NEWEST = journal.entries.at(-1)?.tag ?? "";

describe.each(
  drivers({ pooler: true }).flatMap((driver) => [
    { ...driver, cut: "0004_organizations" },
    { ...driver, cut: NEWEST },
  ]),
)("a database migrated up to before $cut, on $name", ({ open, cut }) => {
  let h: Harness;
  let api: FakeClerkApi;
  let signer: SessionSigner;
  beforeAll(async () => {
    signer = createSessionSigner();
    api = await startFakeClerkApi();
    const database = await open({ migrationsFolder: migrationsBefore(cut) });
    h = createHarness(database, { clerk: clerkOptions(signer, api) });
  });
  afterAll(async () => {
    await h?.close();
    await api?.close();
  });

  const user = clerkUser();
  const userId = user.id as string;
  const organization = clerkOrganization();
  const organizationId = organization.id as string;
  const deliveries: [string, SignedDelivery, string][] = [
    ["user.created", signDelivery(clerkEvent("user.created", user)), "provisioned"],
    ["user.updated", signDelivery(clerkEvent("user.updated", { ...user, first_name: "Grace" })), "stale"],
    ["organization.created", signDelivery(clerkEvent("organization.created", organization)), "provisioned"],
    [
      "organizationMembership.created",
      signDelivery(clerkEvent("organizationMembership.created", clerkMembership({ organizationId, userId }))),
      "provisioned",
    ],
    ["session.created", signDelivery(clerkEvent("session.created", { id: "sess_1" })), "ignored"],
    [
      "organization.deleted",
      signDelivery(clerkEvent("organization.deleted", { id: organizationId, deleted: true })),
      "deleted",
    ],
    ["user.deleted", signDelivery(clerkEvent("user.deleted", { id: userId, deleted: true })), "deleted"],
  ];

  test.each(deliveries)("%s: 503 schema_outdated, nothing written", async (_, delivery) => {
    const error = await expectRejected(h, () => h.post(delivery), 503, "schema_outdated");
    expect(error.message).toMatch(/not migrated/);
  });

  test("GET /v1/me: 503 schema_outdated", async () => {
    const signedUp = clerkUser();
    api.users.set(signedUp.id as string, signedUp);
    const res = await h.app.request("/v1/me", {
      headers: { authorization: `Bearer ${signer.token({ sub: signedUp.id as string })}` },
    });
    await expectError(res, 503, "schema_outdated");
  });

  test("the outdated schema is logged as an error for the operator, naming the missing migrations", () => {
    const logged = h.logs.filter((line) => line.msg === "unhandled error");
    expect(logged.length).toBeGreaterThan(0);
    for (const line of logged) {
      expect(line.err).toEqual({ name: "ServiceError", code: expect.stringMatching(/^missing /) });
      expect((line.err as { code: string }).code).toContain(cut);
    }
  });

  test("once migrated, Svix's next attempt of each delivery is applied", async () => {
    await h.database.migrate();
    for (const [type, delivery, outcome] of deliveries) {
      const res = await h.post(delivery);
      expect(res.status, `${type}: ${await describeResponse(res)}`).toBe(200);
      expect(await res.json(), type).toEqual({ received: true, outcome });
    }
  });
});
